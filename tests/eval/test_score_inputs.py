"""`interhand score`'s readers against hostile files (#28): each case is one line naming the file, exit code 1, no
traceback; the bombs are refused before what they declare is allocated (tracemalloc peak, never a timing)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from interhand.cli import main
from interhand.eval.predictions import PredictionFileError, read_predictions

from helpers import score_refused

META = {"dataset": "interhand26m", "split": "val"}



def _json(path: Path, entries, **top) -> Path:
    path.write_text(json.dumps({**META, **top, "predictions": entries}))
    return path


def _entries(rows: dict, **fields) -> list[dict]:
    return [{"key": key, "joints_cam_mm": joints.tolist(), **{name: value[i] for name, value in fields.items()}}
            for i, (key, joints) in enumerate(zip(rows["key"], rows["joints_cam_mm"]))]


def _npz(path: Path, rows: dict, **arrays) -> Path:
    np.savez_compressed(path, key=np.array(list(rows["key"])), **META,
                        **{"joints_cam_mm": rows["joints_cam_mm"], **arrays})
    return path


def _transposed(rows, folder):
    path = folder / "p.npz"
    np.savez(path, key=np.array(list(rows["key"])), **META,
             joints_img_px=np.swapaxes(rows["joints_cam_mm"][..., :2], 1, 2).copy(),
             joints_depth_mm=rows["joints_cam_mm"][..., 2])
    return path


def _duplicate_key(rows, folder):
    entries = [json.dumps(entry) for entry in _entries(rows)]
    entries[2] = entries[2].replace('{"key": ', f'{{"key": "{rows["key"][0]}", "key": ', 1)
    path = folder / "p.json"
    path.write_text(f'{{"dataset": "interhand26m", "split": "val", "predictions": [{", ".join(entries)}]}}')
    return path


def _nan_probabilities(rows, folder):
    probabilities = np.full((len(rows["key"]), 2), 0.5)
    probabilities[4] = np.nan
    return _npz(folder / "p.npz", rows, hand_type_prob=probabilities)


def _out_of_range_probabilities(rows, folder):
    probabilities = [[0.5, 0.5]] * len(rows["key"])
    probabilities[1] = [7.5, -3.0]
    return _json(folder / "p.json", _entries(rows, hand_type_prob=probabilities))


def _true_coordinate(rows, folder):
    entries = _entries(rows)
    entries[3]["joints_cam_mm"][5][0] = True
    return _json(folder / "p.json", entries)


def _string_key(rows, folder):
    entries = _entries(rows)
    entries[2]["key"] = 12
    return _json(folder / "p.json", entries)


def _strings_in_parquet(rows, folder):
    values = [[str(value) for value in joints.ravel()] for joints in rows["joints_cam_mm"]]
    path = folder / "p.parquet"
    pq.write_table(pa.table({"key": list(rows["key"]), "joints_cam_mm": values}).replace_schema_metadata(META), path)
    return path


def _integer_key_column(rows, folder):
    path = folder / "p.parquet"
    table = pa.table({"key": np.arange(len(rows["key"])),
                      "joints_cam_mm": rows["joints_cam_mm"].reshape(-1, 126).tolist()})
    pq.write_table(table.replace_schema_metadata(META), path)
    return path


def _member_not_npy(rows, folder):
    path = _npz(folder / "p.npz", rows)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("name", b"not an array")
    return path


def _truncated_npz(rows, folder):
    path = _npz(folder / "p.npz", rows)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _empty_npz(rows, folder):
    path = folder / "p.npz"
    path.write_bytes(b"")
    return path


def _huge_integer(rows, folder):
    entries = [json.dumps(entry) for entry in _entries(rows)]
    entries[1] = entries[1].replace("[[", "[[" + "9" * 401 + ", ", 1)
    path = folder / "p.json"
    path.write_text(f'{{"dataset": "interhand26m", "split": "val", "predictions": [{", ".join(entries)}]}}')
    return path


def _deep_nesting(rows, folder):
    path = folder / "p.json"
    path.write_text('{"dataset": "interhand26m", "split": "val", "predictions": ' + "[" * 200_000 + "]" * 200_000 + "}")
    return path


def _not_json(rows, folder):
    path = folder / "p.json"
    path.write_bytes(b"\xff\xfe not json")
    return path


CASES = {
    "transposed (N, 2, 42)": (_transposed, "expected (N, 42, 2)"),
    "JSON key twice": (_duplicate_key, "predictions[2]"),
    "NaN hand-type probabilities": (_nan_probabilities, "row 4"),
    "probabilities [7.5, -3.0]": (_out_of_range_probabilities, "[7.5, -3.0] is not two probabilities in [0, 1]"),
    "true as a joint coordinate": (_true_coordinate, "predictions[3]"),
    "a number as a key": (_string_key, "predictions[2]: key 12 is not a sample key"),
    "strings in a numeric Parquet column": (_strings_in_parquet, "strings are refused, not parsed"),
    "integers as Parquet keys": (_integer_key_column, "column key is int64, not strings"),
    "NPZ member not .npy": (_member_not_npy, "member 'name' is not a .npy array"),
    "truncated NPZ": (_truncated_npz, "truncated or corrupt"),
    "0-byte NPZ": (_empty_npz, "empty file (0 bytes)"),
    "401-digit integer": (_huge_integer, "an integer of 401 digits"),
    "200,000 nested lists": (_deep_nesting, "nested too deeply"),
    "not UTF-8, not JSON": (_not_json, "cannot be read as json"),
}


def _refused(path: Path, shards_root: Path, tmp_path: Path) -> str:
    return score_refused(path, shards_root, tmp_path / "out")[0]


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_prediction_file_is_one_line_naming_the_file_the_sample_and_the_field(case, shards_root, val_rows,
                                                                                       tmp_path):
    write, message = CASES[case]
    output = _refused(write(val_rows, tmp_path), shards_root, tmp_path)
    assert message in output, output
    assert not (tmp_path / "out").exists()


def test_the_refusals_name_the_field_and_the_sample(shards_root, val_rows, tmp_path):
    assert "joints_cam_mm holds bool true" in _refused(_true_coordinate(val_rows, tmp_path), shards_root, tmp_path)
    assert f"(key {val_rows['key'][4]!r}): hand_type_prob" in _refused(_nan_probabilities(val_rows, tmp_path),
                                                                        shards_root, tmp_path)
    assert "member 'key' given twice" in _refused(_duplicate_key(val_rows, tmp_path), shards_root, tmp_path)


def test_a_flat_row_of_126_values_is_still_read_and_a_good_json_file_scores(shards_root, val_rows, tmp_path):
    """The documented flat layout stays accepted: the checks refuse a transposition, not a flattening."""
    path = tmp_path / "flat.npz"
    np.savez(path, key=np.array(list(val_rows["key"])), **META,
             joints_cam_mm=val_rows["joints_cam_mm"].reshape(-1, 126))
    assert read_predictions(path).arrays["joints_cam_mm"].shape == (len(val_rows["key"]), 42, 3)
    good = _json(tmp_path / "good.json", _entries(val_rows, hand_type_prob=[[1.0, 0.0]] * len(val_rows["key"])))
    result = CliRunner().invoke(main, ["score", str(good), "--shards", str(shards_root), "--out-dir",
                                       str(tmp_path / "out")])
    assert result.exit_code == 0, result.output


# --- bombs: what a file declares is checked before it is allocated ---

def _npz_bomb(rows, folder):
    """1.3 MB on disk declaring a (2e6, 42, 2) float64 array: 1.3 GB once inflated."""
    path = folder / "bomb.npz"
    header = {"descr": "<f8", "fortran_order": False, "shape": (2_000_000, 42, 2)}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("key.npy", _npy_bytes(np.array(list(rows["key"]))))
        archive.writestr("dataset.npy", _npy_bytes(np.array("interhand26m")))
        archive.writestr("split.npy", _npy_bytes(np.array("val")))
        with archive.open("joints_img_px.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            zeros, left = bytes(2**24), 2_000_000 * 42 * 2 * 8
            while left:
                member.write(zeros[:left])
                left -= min(left, len(zeros))
        archive.writestr("joints_depth_mm.npy", _npy_bytes(np.zeros((len(rows["key"]), 42))))
    return path


def _npy_bytes(array: np.ndarray) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _sparse_json(rows, folder):
    """2 GiB of holes named .json: read whole, it would take 4 GB."""
    path = folder / "sparse.json"
    with path.open("wb") as handle:
        handle.truncate(2 * 2**30)
    return path


def _parquet_list_bomb(rows, folder):
    """A few rows whose list column holds a million values a row: the footer's value counts give it away."""
    path = folder / "bomb.parquet"
    values = pa.ListArray.from_arrays(pa.array([0, 1_000_000, 2_000_000], pa.int32()),
                                      pa.array(np.zeros(2_000_000)))
    table = pa.table({"key": list(rows["key"][:2]), "joints_cam_mm": values}).replace_schema_metadata(META)
    pq.write_table(table, path)
    return path


BOMBS = {"NPZ declaring (2e6, 42, 2)": (_npz_bomb, "declares 2000000 samples"),
         "2 GiB sparse JSON": (_sparse_json, "over the limit"),
         "Parquet list of a million values a row": (_parquet_list_bomb, "more than 126 a row")}


@pytest.mark.parametrize("case", list(BOMBS))
def test_a_bomb_is_refused_before_what_it_declares_is_allocated(case, shards_root, val_rows, tmp_path):
    write, message = BOMBS[case]
    path = write(val_rows, tmp_path)
    output, peak = score_refused(path, shards_root, tmp_path / "out")
    assert message in output
    assert peak < 64 * 2**20, f"{case}: {peak / 2**20:.0f} MiB allocated before the refusal"


def test_without_the_split_the_global_cap_still_bounds_a_file(val_rows, tmp_path):
    with pytest.raises(PredictionFileError, match="at most 1000"):
        read_predictions(_npz_bomb(val_rows, tmp_path), max_samples=1000)
