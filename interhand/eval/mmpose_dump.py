"""mmpose's `tools/test.py --dump` pickle read as an `image_relative` prediction file (docs/scoring.md, #30).

The dump is mmengine's `DumpResults`: `pickle.dump(results, protocol=2)` of a list with one dict per test sample,
`PoseDataSample.to_dict()` (open-mmlab/mmpose 759b39c, open-mmlab/mmengine 2543429):

- the meta keys of the InterNet config's `PackPoseInputs`: `id` (the annotation id), `img_path`
  (`.../images/<split>/Capture.../image....jpg`), `hand_type`, `abs_depth`, `focal`, `principal_pt`, ...;
- `pred_instances`: `keypoints` (1, 42, 3): u, v in original-image px (the estimator maps the patch back), z the
  depth relative to the hand's own wrist in mm (`Hand3DHeatmap.decode`); `rel_root_depth` (1,): left minus right
  wrist depth, mm; `hand_type` (1, 2): labels [right, left], logits > 0 (not probabilities); scores, boxes;
- `gt_instances`, `gt_instance_labels`: the ground truth (not read).

A pickle can run any code while it is read, so it is read with an allow-list: find_class hands out numpy's array,
dtype and scalar reconstruction (wrapped: no object dtype, no array allocated from a declared shape) and builtin
containers, and refuses every other global in one line before anything runs. The file's size is capped before
reading (`max_pickle_bytes`).
"""

from __future__ import annotations

import argparse
import builtins
import errno
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np

from interhand.eval.predictions import MAX_SAMPLES, PredictionFileError
from interhand.outputs import OutputError, save_with

__all__ = ["read_mmpose_dump", "load_allowed_pickle", "convert_mmpose_dump", "MAX_PICKLE_BYTES",
           "PICKLE_BYTES_PER_SAMPLE"]

# A protocol-2 dump holds ~3.5 KB a sample (arrays as latin-1 text, the meta keys, the ground truth) and reading it
# peaks at ~4.6x its size (measured, tests' dump structure); a crafted pickle of empty dicts peaks at ~90x its size
# (one opcode byte, one dict), which only a cap on the file bounds: 1 GiB at most (~300,000 samples), else 8 KiB per
# sample the split may hold + 1 MiB. Bigger dumps go through `python -m interhand.eval.mmpose_dump` (no cap: run
# on purpose, on a trusted file's size) to NPZ.
MAX_PICKLE_BYTES = 2**30
PICKLE_BYTES_PER_SAMPLE = 8 * 2**10
_ARRAY_KINDS = "biufcSU"  # no object, void (structured) or datetime dtypes


def _dtype(*args) -> np.dtype:
    dtype = np.dtype(*args)
    if dtype.hasobject or dtype.kind not in _ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise pickle.UnpicklingError(f"dtype {dtype} is not a plain number or string dtype (refused)")
    return dtype


def _reconstruct(subtype, shape, typecode):
    """numpy's own pickles call _reconstruct(ndarray, (0,), b'b') and fill the array from its state (whose size
    numpy checks against the bytes given); any other call could allocate what a file merely declares."""
    if subtype is not np.ndarray or tuple(shape) != (0,) or typecode not in (b"b", "b"):
        raise pickle.UnpicklingError(f"array reconstruction with {getattr(subtype, '__name__', subtype)!r}, shape "
                                     f"{shape!r}, type code {typecode!r} is not numpy's own (refused)")
    return np.ndarray.__new__(np.ndarray, (0,), np.dtype("b"))


def _scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar of a dtype that is not a plain number (refused)")
    return np.frombuffer(data, dtype)[0]


def _latin1(text, encoding="latin1"):
    """Protocol 2 writes bytes as _codecs.encode(text, 'latin1'); no other codec is handed out."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} (refused: only latin1 bytes)")
    return text.encode("latin1")


_NUMPY = {"_reconstruct": _reconstruct, "scalar": _scalar}
_ALLOWED = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): _dtype, ("_codecs", "encode"): _latin1}
_ALLOWED.update({(module, name): function for module in ("numpy.core.multiarray", "numpy._core.multiarray")
                 for name, function in _NUMPY.items()})
# protocol 2 names builtins `__builtin__` (find_class sees the name as written)
_ALLOWED.update({(module, name): getattr(builtins, name) for module in ("builtins", "__builtin__")
                 for name in ("list", "dict", "tuple", "set", "frozenset")})


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        found = _ALLOWED.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which is not a numpy array, dtype or builtin "
                                         "container (refused before anything ran)")
        return found

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("it holds a persistent id (refused)")


_LOAD_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
                OverflowError, MemoryError, struct.error, UnicodeDecodeError, RecursionError)


def load_allowed_pickle(path: Path, max_bytes: int):
    """The object a pickle holds, read with the allow-list; PredictionFileError (one line, naming the file) for a
    file over max_bytes (before reading), a refused global or a corrupt stream."""
    size = path.stat().st_size
    if size > max_bytes:
        raise PredictionFileError(f"{path}: {size} bytes of pickle, over the limit of {max_bytes} bytes for this split "
                                  "(refused before reading; docs/scoring.md, Limits)")
    try:
        with path.open("rb") as handle:
            return _AllowListUnpickler(io.BufferedReader(handle)).load()
    except RecursionError:
        raise PredictionFileError(f"{path}: cannot be read as a pickle: nested too deeply") from None
    except _LOAD_ERRORS as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise PredictionFileError(f"{path}: cannot be read as an mmpose dump pickle: {reason}") from None


def read_mmpose_dump(path: Path, max_samples: int, max_bytes: int | None = None) -> tuple[dict, dict, str]:
    """(columns, metadata, how an error names sample i) of an mmpose `--dump` pickle, in the image_relative form; a
    file over `max_bytes` (default: the cap above for max_samples) is refused before reading."""
    limit = min(MAX_PICKLE_BYTES, max_samples * PICKLE_BYTES_PER_SAMPLE + 2**20) if max_bytes is None else max_bytes
    results = load_allowed_pickle(path, limit)
    if not isinstance(results, list) or not results or not all(isinstance(result, dict) for result in results):
        raise PredictionFileError(f"{path}: expected mmpose's dump, a non-empty list of one dict per sample "
                                  f"(found {type(results).__name__})")
    if len(results) > max_samples:
        raise PredictionFileError(f"{path}: {len(results)} samples; a file for this split holds at most "
                                  f"{max_samples} samples (docs/scoring.md, Limits)")
    optional = [name for name in ("rel_root_depth", "hand_type") if name in _predicted(path, results, 0)]
    columns = {"annotation_id": [], "joints_img_px": [], "joints_rel_depth_mm": [],
               **{_COLUMN[name]: [] for name in optional}}
    splits = set()
    for index, result in enumerate(results):
        predicted = _predicted(path, results, index)
        keypoints = _array(path, index, predicted, "keypoints", ((1, 42, 3), (42, 3))).reshape(42, 3)
        columns["annotation_id"].append(_annotation_id(path, index, result.get("id")))
        columns["joints_img_px"].append(keypoints[:, :2])
        columns["joints_rel_depth_mm"].append(keypoints[:, 2])
        if "rel_root_depth" in optional:
            columns["rel_root_depth_mm"].append(_array(path, index, predicted, "rel_root_depth", ((1,), ())).item())
        if "hand_type" in optional:
            columns["hand_type_prob"].append(_array(path, index, predicted, "hand_type", ((1, 2), (2,))).reshape(2))
        splits.add(_split(path, index, result.get("img_path")))
    if len(splits) != 1:
        raise PredictionFileError(f"{path}: samples of several splits {sorted(splits)} (img_path); score one split")
    metadata = {"dataset": "interhand26m", "split": splits.pop(), "root_source": "gt",
                "source": "mmpose tools/test.py --dump"}
    return {name: np.asarray(values) for name, values in columns.items()}, metadata, "results[{}]"


_COLUMN = {"rel_root_depth": "rel_root_depth_mm", "hand_type": "hand_type_prob"}


def _predicted(path: Path, results: list, index: int) -> dict:
    predicted = results[index].get("pred_instances")
    if not isinstance(predicted, dict):
        raise PredictionFileError(f"{path}: results[{index}] has no pred_instances dict (not mmpose's dump of a "
                                  "top-down model)")
    return predicted


def _array(path: Path, index: int, predicted: dict, name: str, shapes: tuple) -> np.ndarray:
    value = predicted.get(name)
    if not isinstance(value, np.ndarray) or value.shape not in shapes or value.dtype.kind not in "iuf":
        found = f"{value.shape} {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise PredictionFileError(f"{path}: results[{index}]: pred_instances.{name} is {found}, expected a numeric "
                                  f"array of shape {shapes[0]} (InterHand2.6M's 42 joints; every sample alike)")
    return value.astype(np.float64)


def _annotation_id(path: Path, index: int, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise PredictionFileError(f"{path}: results[{index}]: id is {type(value).__name__}, not the annotation id")
    return int(value)


def _split(path: Path, index: int, img_path) -> str:
    parts = Path(img_path).parts if isinstance(img_path, str) else ()
    found = [parts[i + 1] for i in range(len(parts) - 1) if parts[i] == "images" and parts[i + 1] in
             ("train", "val", "test")]
    if not found:
        raise PredictionFileError(f"{path}: results[{index}]: img_path {str(img_path)[:80]!r} does not name the "
                                  "split (.../images/<train|val|test>/...)")
    return found[-1]


def convert_mmpose_dump(dump: Path, out_npz: Path) -> Path:
    """An mmpose dump of any size (the allow-list still applies; memory ~5x the file) → an image_relative NPZ that
    `interhand score` reads with its own bounds."""
    columns, metadata, _ = read_mmpose_dump(Path(dump), MAX_SAMPLES, max_bytes=Path(dump).stat().st_size)
    if os.path.lexists(out_npz):  # never over an existing file (or a link)
        raise FileExistsError(errno.EEXIST, "exists already", str(out_npz))
    return save_with(out_npz, lambda handle: np.savez(handle, **columns,
                                                      **{name: np.array(value) for name, value in metadata.items()}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="mmpose tools/test.py --dump pickle -> image_relative NPZ")
    parser.add_argument("dump", type=Path)
    parser.add_argument("out_npz", type=Path)
    arguments = parser.parse_args()
    try:
        print(convert_mmpose_dump(arguments.dump, arguments.out_npz))
    except (PredictionFileError, OutputError, OSError) as error:
        raise SystemExit(str(error).splitlines()[0]) from None
