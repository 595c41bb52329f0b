"""What a finished split folder carries for other tools (SHARD_FORMAT.md §1.2): a dataset card, Croissant
metadata, a wids shard index, the format document, and SHA256SUMS over every file, written in that order after
dataset.json.

- `README.md`: the Hugging Face dataset card. YAML front matter with `license`, `configs` (one config per split,
  named `<dataset>-<subset>-<split>`, holding the split's tars, so that `datasets.load_dataset(SPLIT_DIR)` reads
  them with the webdataset builder), `dataset_info` (the members' typed features, the split's sample count and
  the tars' size), a description and the citation. The Hub reads the card at the root of a dataset repository, so
  the subset folder gets one too (`write_subset_card`), with the config of every finished split below it: either
  folder can be published as is.
- `croissant.json`: Croissant 1.0 JSON-LD with the Responsible-AI fields (interhand/preprocess/croissant.py).
- `shardindex.json`: the wids (webdataset random access) shard index, `wids-shard-index-v1`, relative URLs.
- `SHARD_FORMAT.md` (SPEC_FILE): the format document this package implements, as shipped with it (`spec_text`),
  so that whoever holds only the folder has its units, frames and conventions. Readers do not need it.
- `SHA256SUMS`: `sha256sum` format (`<hex>  <name>`, sorted by name) over every other file of the folder, so
  that `cd SPLIT_DIR && sha256sum -c SHA256SUMS` checks it with standard tools; `interhand verify` reads it with
  `read_checksums`.

Every text here is a function of dataset.json and the package's format document (no dates of this run, no paths of
this machine), so a re-run writes the same bytes. License and citation text live here and nowhere else.
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import yaml

from interhand.outputs import atomic_file
from interhand.preprocess.croissant import croissant_text
from interhand.shard_format.dataset_json import DatasetJson, file_sha256, load_dataset_json
from interhand.shard_format.names import (
    ANN_MEMBER,
    CARD_FILE,
    CHECKSUMS_FILE,
    CROISSANT_FILE,
    DATASET_FILE,
    JSON_MEMBER,
    PUBLISHED_FILES,
    RECORDED_FILES,
    WIDS_INDEX_FILE,
)
from interhand.shard_format.records import RECORD_FIELDS

# The format document (SHARD_FORMAT.md, shipped with the package), copied into every split folder under this name.
SPEC_FILE = "SHARD_FORMAT.md"

__all__ = ["LICENSES", "CITATIONS", "folder_name", "write_published_files", "write_subset_card", "write_checksums",
           "read_checksums", "folder_files", "published_texts", "MIN_SHARDS_FOR_READERS", "shard_count_warning",
           "SPEC_FILE", "spec_text"]

# Readers want at least one shard per DataLoader worker of every process: 8 GPUs x 8 workers (SHARD_FORMAT.md §2).
MIN_SHARDS_FOR_READERS = 64
# Below this many samples per shard, re-sharding for 64 readers is not worth it: the warning says to use fewer workers.
MIN_SAMPLES_PER_SHARD = 16


def shard_count_warning(out_dir: str, samples: int, shards: int) -> str | None:
    """One line when a finished split has fewer shards than MIN_SHARDS_FOR_READERS, saying what to do; else None."""
    if shards >= MIN_SHARDS_FOR_READERS:
        return None
    remedy = (f"re-run with --shard-samples {samples // MIN_SHARDS_FOR_READERS}"
              if samples >= MIN_SHARDS_FOR_READERS * MIN_SAMPLES_PER_SHARD else f"it has only {samples} samples: "
              f"read it with at most {shards} workers in all")
    return (f"warning: {out_dir} has {shards} shards, fewer than {MIN_SHARDS_FOR_READERS} (8 GPUs x 8 DataLoader "
            f"workers): plain webdataset gives a worker without a shard no samples (\"No samples found\"); "
            f"{remedy} (SHARD_FORMAT.md §2)")


# (Hub license id, the terms in words, a link) per dataset. Hub ids: huggingface.co/docs/hub/repositories-licenses.
LICENSES = {
    "interhand26m": ("cc-by-nc-4.0", "InterHand2.6M is released under CC BY-NC 4.0: non-commercial use, with "
                     "attribution", "https://creativecommons.org/licenses/by-nc/4.0/"),
    "stb": ("other", "STB (Stereo Hand Pose Tracking Benchmark) carries the terms its authors give with the "
            "download; no standard license is named for it here",
            "https://github.com/zhjwustc/icip17_stereo_hand_pose_dataset"),
    "rhd": ("other", "RHD (Rendered Hand Pose Dataset) carries the terms on its authors' download page; no "
            "standard license is named for it here",
            "https://lmb.informatik.uni-freiburg.de/resources/datasets/RenderedHandposeDataset.en.html"),
    "coco": ("unknown", "a generic COCO-keypoints input: its license is unknown here and must be set by the user",
             ""),
}

CITATIONS = {
    "interhand26m": """@InProceedings{Moon_2020_ECCV_InterHand2.6M,
  author = {Moon, Gyeongsik and Yu, Shoou-I and Wen, He and Shiratori, Takaaki and Lee, Kyoung Mu},
  title = {InterHand2.6M: A Dataset and Baseline for 3D Interacting Hand Pose Estimation from a Single RGB Image},
  booktitle = {European Conference on Computer Vision (ECCV)},
  year = {2020}
}""",
    "stb": """@article{zhang2016stb,
  author = {Zhang, Jiawei and Jiao, Jianbo and Chen, Mingliang and Qu, Liangqiong and Xu, Xiaobin and Yang, Qingxiong},
  title = {3D Hand Pose Tracking and Estimation Using Stereo Matching},
  journal = {arXiv preprint arXiv:1610.07214},
  year = {2016}
}""",
    "rhd": """@InProceedings{zb2017hand,
  author = {Zimmermann, Christian and Brox, Thomas},
  title = {Learning to Estimate 3D Hand Pose from Single RGB Images},
  booktitle = {IEEE International Conference on Computer Vision (ICCV)},
  year = {2017}
}""",
    "coco": "",
}

_NAMES = {"interhand26m": "InterHand2.6M", "stb": "STB", "rhd": "RHD", "coco": "COCO-keypoints input"}
_CHECKSUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def _write_text(path: Path, text: str) -> None:
    """Replace `path` atomically (a reader never sees half a file)."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two splits' runs may both write the subset card
    with atomic_file(path, binary=False, temporary=temporary) as handle:  # never through a planted link
        handle.write(text)


def spec_text() -> str:
    """The format document this package writes and reads (SHARD_FORMAT.md at the repository's root, package data of
    `interhand.shard_format`): the text every split folder carries as SPEC_FILE."""
    return resources.files("interhand.shard_format").joinpath(SPEC_FILE).read_text(encoding="utf-8")


def folder_name(dataset: DatasetJson) -> str:
    """`<dataset>-<subset>-<split>`: the name of a split folder, unique below a shards root, as the card's config,
    the wids index and the Croissant metadata give it."""
    return f"{dataset.dataset}-{dataset.subset}-{dataset.split}"


def folder_files(dataset: DatasetJson) -> list[str]:
    """Every file a finished split folder holds besides SHA256SUMS, sorted: what SHA256SUMS lists."""
    shards = [name for shard in dataset.shards for name in (shard.name, shard.index)]
    return sorted({*shards, *RECORDED_FILES, DATASET_FILE, *PUBLISHED_FILES, SPEC_FILE})


# --- the dataset card ----------------------------------------------------------------------------------------------
# `datasets` (5.2.0) caches a folder loaded through its card under <cache>/<the folder's base name>/<config name>/
# <version>/<hash of the card's configs and dataset_info>, never under the folder's path: with one `default` config
# and the pattern `<split>-*.tar` in every card, every `train` folder had one cache entry, and a load returned the
# rows of whichever `train` folder was loaded first. A config per split named by folder_name gives every folder of a
# shards root its own entry; the sample count and tar bytes in `dataset_info` (hashed too) give a folder rewritten
# with another count or size a new one.
_SCALAR_FEATURES = {"key": "string", "format_version": "int64"}  # the `.json` record's fields besides RECORD_FIELDS


def _feature(kind: str, shape: tuple[int, ...]) -> dict:
    """A `datasets` feature in the card's YAML form: a value type, or fixed-length lists of it (42×3: 42 of 3)."""
    if not shape:
        return {"dtype": kind}
    feature: object = kind
    for length in reversed(shape):
        feature = {"list": feature, "length": length}
    return feature


def _features(dataset: DatasetJson) -> list[dict]:
    """The typed columns a sample has when `datasets`' webdataset builder reads it: the `.ann` record as bytes (the
    builder has no decoder for it, and a float list cannot be made from bytes), each image member present in the
    folder as an image (a sample without it gets None), and the `.json` record as a struct of the §4.2 fields
    with their Arrow types and fixed shapes, in the record's (sorted) key order; then the builder's `__key__` and
    `__url__`. Declared, they are not inferred from the first samples, so a folder of JPEG and PNG samples loads."""
    fields = {**{name: (kind, ()) for name, kind in _SCALAR_FEATURES.items()},
              **{name: (kind, shape) for name, kind, shape in RECORD_FIELDS}}
    record = [{"name": name, **_feature(*fields[name])} for name in sorted(fields)]
    return [{"name": ANN_MEMBER, "dtype": "binary"},
            *[{"name": member, "dtype": "image"} for member in dataset.image_members],
            {"name": JSON_MEMBER, "struct": record},
            {"name": "__key__", "dtype": "string"}, {"name": "__url__", "dtype": "string"}]


def _config(dataset: DatasetJson, folder: str) -> tuple[dict, dict]:
    """(the card's config, its dataset_info) for one split, whose tars are `<folder><split>-*.tar`. `datasets`
    checks the split's `num_examples` after converting it (NonMatchingSplitsSizesError when a tar is missing);
    `num_bytes` is the size of that conversion, unknown before it: 0, as `datasets` leaves it unmeasured, because
    without the key it ignores the whole `splits` entry."""
    name = folder_name(dataset)
    config = {"config_name": name, "data_files": [{"split": dataset.split, "path": f"{folder}{dataset.split}-*.tar"}]}
    info = {"config_name": name, "features": _features(dataset),
            "splits": [{"name": dataset.split, "num_bytes": 0, "num_examples": dataset.counts.samples}],
            "download_size": sum(shard.bytes for shard in dataset.shards)}
    return config, info


def _card(dataset_name: str, title: str, configs: list[tuple[dict, dict]], body: str) -> str:
    """The card's text: YAML front matter (license, name, tags, `configs`, `dataset_info`), then the body, the
    license in words and the citation."""
    license_id, terms, link = LICENSES[dataset_name]
    front = {"license": license_id}
    if license_id == "other":
        front.update(license_name=f"{dataset_name}-terms", license_link=link)
    front.update(pretty_name=title, tags=["webdataset", "hand-pose-estimation"],
                 configs=[config for config, _ in configs], dataset_info=[info for _, info in configs])
    lines = ["---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=120).rstrip("\n"), "---", "",
             f"# {title}", "", body, "", "## License", "",
             f"{terms}{f', {link}' if link else ''}. These shards are a derived copy and carry the same terms.", ""]
    citation = CITATIONS[dataset_name]
    if citation:
        lines += ["## Citation", "", "```bibtex", citation, "```", ""]
    return "\n".join(lines)


def _writer(dataset: DatasetJson) -> str:
    """`interhand 0.1.0`: the package and version dataset.json says wrote the folder."""
    package = dataset.package if isinstance(dataset.package, dict) else {}
    return f"{package.get('name', 'interhand')} {package.get('version', 'unknown')}"


def _split_body(dataset: DatasetJson) -> str:
    counts = dataset.counts
    return (f"{_NAMES[dataset.dataset]}, annotation subset `{dataset.subset}`, split `{dataset.split}`: "
            f"{counts.samples} samples in {counts.shards} webdataset shards, shard format version "
            f"{dataset.format_version}, written by {_writer(dataset)} (`interhand shards`). The format (every member, "
            f"field, unit, frame and column) is `{SPEC_FILE}` in this folder, the document of that version; "
            "`dataset.json` holds the joint names, the `.ann` offsets and the counts. Each sample is one annotation "
            "of one image, the joints of both hands (42) with `hand_type` saying which are there: `right`, `left`, "
            f"or both for `interacting`; it has the image (`{'`, `'.join(dataset.image_members) or 'jpg'}`), the "
            "`.json` record and the `.ann` record (little-endian float32; with `datasets`, read it as "
            "`np.frombuffer(example['ann'], '<f4')`). `manifest.parquet` has one row per sample, `errors.parquet` "
            "one per rejected annotation, `croissant.json` the Croissant metadata, `shardindex.json` the wids "
            "index, `SHA256SUMS` the checksums (`sha256sum -c SHA256SUMS`).")


def _split_card(dataset: DatasetJson) -> str:
    title = f"{_NAMES[dataset.dataset]} {dataset.subset} {dataset.split} (webdataset shards)"
    return _card(dataset.dataset, title, [_config(dataset, "")], _split_body(dataset))


def write_subset_card(subset_dir: Path) -> None:
    """README.md of the subset folder: a config for every finished split below it (a folder whose SHA256SUMS exists),
    named as the split's own card names it. One config per split, not one for all: a map-style load converts every
    split of its config to Arrow, and a reader of `val` should not wait for `train`."""
    splits = []
    for path in sorted(Path(subset_dir).iterdir()):
        if (path / CHECKSUMS_FILE).is_file() and (path / DATASET_FILE).is_file():
            try:
                splits.append(load_dataset_json(path / DATASET_FILE))
            except (ValueError, OSError):
                continue  # a damaged neighbour is not listed; `interhand verify` names it
    if not splits:
        return
    first = splits[0]
    title = f"{_NAMES[first.dataset]} {first.subset} (webdataset shards)"
    body = (f"{_NAMES[first.dataset]}, annotation subset `{first.subset}`: "
            + ", ".join(f"`{split.split}` {split.counts.samples} samples in {split.counts.shards} "
                        "shards" for split in splits)
            + ". Each split is its own config (`" + "`, `".join(folder_name(split) for split in splits)
            + f"`: `load_dataset(FOLDER, \"{folder_name(first)}\", split=\"{first.split}\")`), and each split "
              "folder holds its own card, `dataset.json`, manifests, Croissant metadata, wids index, format "
              f"document (`{SPEC_FILE}`, format version {first.format_version}) and SHA256SUMS.")
    configs = [_config(split, f"{split.split}/") for split in splits]
    _write_text(Path(subset_dir) / CARD_FILE, _card(first.dataset, title, configs, body))


# --- the wids index ------------------------------------------------------------------------------------------------
def _wids_index(dataset: DatasetJson) -> str:
    shardlist = [{"url": shard.name, "nsamples": shard.samples, "filesize": shard.bytes}
                 for shard in dataset.shards]
    index = {"__kind__": "wids-shard-index-v1", "wids_version": 1,
             "name": folder_name(dataset), "shardlist": shardlist}
    return json.dumps(index, indent=1) + "\n"


# --- Croissant -----------------------------------------------------------------------------------------------------
def _croissant(dataset: DatasetJson) -> str:
    name = dataset.dataset
    _, terms, link = LICENSES[name]
    return croissant_text(dataset, name=folder_name(dataset), description=_split_body(dataset),
                          license_text=link or terms, cite_as=CITATIONS[name] or terms,
                          url="https://mks0601.github.io/InterHand2.6M/" if name == "interhand26m" else (
                              link or "about:blank"), spec=spec_text())


# --- checksums -----------------------------------------------------------------------------------------------------
def write_checksums(out_dir: Path, dataset: DatasetJson) -> None:
    """SHA256SUMS over folder_files(dataset), written last. The shards' and parquet files' digests are those
    dataset.json records (computed when they were written); the rest are hashed here."""
    known = {shard.name: shard.sha256 for shard in dataset.shards}
    known.update({name: dataset.files[name].sha256 for name in RECORDED_FILES})
    lines = [f"{known.get(name) or file_sha256(out_dir / name)}  {name}\n" for name in folder_files(dataset)]
    _write_text(out_dir / CHECKSUMS_FILE, "".join(lines))


def read_checksums(out_dir: Path) -> dict[str, str]:
    """name -> SHA-256 hex from SHA256SUMS; ValueError naming the file and line where it is not that format."""
    path = Path(out_dir) / CHECKSUMS_FILE
    checksums: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = _CHECKSUM_LINE.match(line)
        if not match:
            raise ValueError(f"{path}:{number}: not a `sha256sum` line (`<64 hex digits>  <name>`): {line[:80]!r}")
        checksums[match.group(2)] = match.group(1)
    return checksums


def published_texts(dataset: DatasetJson) -> dict[str, str]:
    """PUBLISHED_FILES name -> the text `write_published_files` writes for a split folder: a function of dataset.json
    alone, so that `interhand verify` regenerates each and compares it with the file."""
    return {CARD_FILE: _split_card(dataset), CROISSANT_FILE: _croissant(dataset),
            WIDS_INDEX_FILE: _wids_index(dataset), SPEC_FILE: spec_text()}


def write_published_files(out_dir: Path, dataset: DatasetJson) -> None:
    """The card, croissant.json, shardindex.json and the format document of a split folder, then SHA256SUMS, then
    the subset's card."""
    out_dir = Path(out_dir)
    for name, text in published_texts(dataset).items():
        _write_text(out_dir / name, text)
    write_checksums(out_dir, dataset)
    write_subset_card(out_dir.parent)
