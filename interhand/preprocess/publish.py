"""What a finished split folder carries for other tools (SHARD_FORMAT.md §1.2): a dataset card, Croissant
metadata, a wids shard index, and SHA256SUMS over every file, written in that order after dataset.json.

- `README.md`: the Hugging Face dataset card. YAML front matter with `license`, `configs` (one config per split,
  named `<dataset>-<subset>-<split>`, holding the split's tars, so that `datasets.load_dataset(SPLIT_DIR)` reads
  them with the webdataset builder), `dataset_info` (the members' typed features, the split's sample count and
  the tars' size), a description and the citation. The Hub reads the card at the root of a dataset repository, so
  the subset folder gets one too (`write_subset_card`), with the config of every finished split below it: either
  folder can be published as is.
- `croissant.json`: Croissant 1.0 JSON-LD (mlcommons.org/croissant): the files with their SHA-256, and a record
  set whose fields are generated from the manifest's Arrow schema (`MANIFEST_SCHEMA`).
- `shardindex.json`: the wids (webdataset random access) shard index, `wids-shard-index-v1`, relative URLs.
- `SHA256SUMS`: `sha256sum` format (`<hex>  <name>`, sorted by name) over every other file of the folder, so
  that `cd SPLIT_DIR && sha256sum -c SHA256SUMS` checks it with standard tools; `interhand verify` reads it with
  `read_checksums`.

Every text here is a function of dataset.json and the manifest (no dates, no paths of this machine), so a
re-run writes the same bytes. License and citation text live here and nowhere else.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow as pa
import yaml

from interhand.manifests.schema import MANIFEST_SCHEMA
from interhand.outputs import atomic_file
from interhand.shard_format.dataset_json import DatasetJson, file_sha256, load_dataset_json
from interhand.shard_format.names import (
    ANN_MEMBER,
    CARD_FILE,
    CHECKSUMS_FILE,
    CROISSANT_FILE,
    DATASET_FILE,
    JSON_MEMBER,
    MANIFEST_FILE,
    PUBLISHED_FILES,
    RECORDED_FILES,
    WIDS_INDEX_FILE,
)
from interhand.shard_format.records import RECORD_FIELDS

__all__ = ["LICENSES", "CITATIONS", "folder_name", "write_published_files", "write_subset_card", "write_checksums",
           "read_checksums", "folder_files", "published_texts", "MIN_SHARDS_FOR_READERS", "shard_count_warning"]

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


def folder_name(dataset: DatasetJson) -> str:
    """`<dataset>-<subset>-<split>`: the name of a split folder, unique below a shards root, as the card's config,
    the wids index and the Croissant metadata give it."""
    return f"{dataset.dataset}-{dataset.subset}-{dataset.split}"


def folder_files(dataset: DatasetJson) -> list[str]:
    """Every file a finished split folder holds besides SHA256SUMS, sorted: what SHA256SUMS lists."""
    shards = [name for shard in dataset.shards for name in (shard.name, shard.index)]
    return sorted({*shards, *RECORDED_FILES, DATASET_FILE, *PUBLISHED_FILES})


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


def _split_body(dataset: DatasetJson) -> str:
    counts = dataset.counts
    return (f"{_NAMES[dataset.dataset]}, annotation subset `{dataset.subset}`, split `{dataset.split}`: "
            f"{counts.samples} samples in {counts.shards} webdataset shards, written by `interhand shards` "
            f"(format version {dataset.format_version}; the layout of every member and column is in the "
            "project's SHARD_FORMAT.md and in this folder's `dataset.json`). Each sample is one hand annotation: "
            f"the image (`{'`, `'.join(dataset.image_members) or 'jpg'}`), the `.json` record and the `.ann` "
            "record (little-endian float32; with `datasets`, read it as `np.frombuffer(example['ann'], '<f4')`). "
            "`manifest.parquet` has one row per sample, `errors.parquet` one per rejected annotation, "
            "`croissant.json` the Croissant metadata, `shardindex.json` the wids index, `SHA256SUMS` the "
            "checksums (`sha256sum -c SHA256SUMS`).")


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
              "folder holds its own card, `dataset.json`, manifests, Croissant metadata, wids index and SHA256SUMS; "
              "the layout is in the project's SHARD_FORMAT.md.")
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
# The context every Croissant 1.0 file carries (mlcommons.org/croissant/1.0), so that no reader fetches one.
_CROISSANT_CONTEXT = {
    "@language": "en", "@vocab": "https://schema.org/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/", "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty", "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField",
    "path": "cr:path", "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
    "repeated": "cr:repeated", "replace": "cr:replace", "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/", "separator": "cr:separator", "source": "cr:source", "subField": "cr:subField",
    "transform": "cr:transform",
}


def _croissant_type(arrow_type: pa.DataType) -> tuple[str, bool]:
    """(Croissant dataType, repeated) of a manifest column's Arrow type; a list of lists (42×3) is repeated too."""
    repeated = False
    while pa.types.is_list(arrow_type) or pa.types.is_fixed_size_list(arrow_type):
        arrow_type, repeated = arrow_type.value_type, True
    if pa.types.is_floating(arrow_type):
        return "sc:Float", repeated
    if pa.types.is_integer(arrow_type):
        return "sc:Integer", repeated
    if pa.types.is_boolean(arrow_type):
        return "sc:Boolean", repeated
    return "sc:Text", repeated


def _croissant(dataset: DatasetJson) -> str:
    name = dataset.dataset
    license_id, terms, link = LICENSES[name]
    manifest = {"@type": "cr:FileObject", "@id": MANIFEST_FILE, "name": MANIFEST_FILE,
                "contentUrl": MANIFEST_FILE, "encodingFormat": "application/x-parquet",
                "sha256": dataset.files[MANIFEST_FILE].sha256}
    tars = [{"@type": "cr:FileObject", "@id": shard.name, "name": shard.name, "contentUrl": shard.name,
             "encodingFormat": "application/x-tar", "sha256": shard.sha256} for shard in dataset.shards]
    fields = []
    for column in MANIFEST_SCHEMA:
        data_type, repeated = _croissant_type(column.type)
        field = {"@type": "cr:Field", "@id": f"manifest/{column.name}", "name": column.name, "dataType": data_type,
                 "source": {"fileObject": {"@id": MANIFEST_FILE}, "extract": {"column": column.name}}}
        if repeated:
            field["repeated"] = True
        fields.append(field)
    document = {
        "@context": _CROISSANT_CONTEXT, "@type": "sc:Dataset", "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": folder_name(dataset),
        "description": _split_body(dataset), "license": link or terms, "citeAs": CITATIONS[name] or terms,
        "url": "https://mks0601.github.io/InterHand2.6M/" if name == "interhand26m" else (link or "about:blank"),
        "version": f"{dataset.format_version}.0.0",
        "distribution": [manifest, *tars,
                         {"@type": "cr:FileSet", "@id": "json-records", "name": "json-records",
                          "description": "the `.json` record of every sample (SHARD_FORMAT.md §4.2), a tar member",
                          "containedIn": [{"@id": tar["@id"]} for tar in tars], "encodingFormat": "application/json",
                          "includes": "*.json"}],
        "recordSet": [{"@type": "cr:RecordSet", "@id": "manifest", "name": "manifest", "key": {"@id": "manifest/key"},
                       "description": "one row per sample; fields generated from the manifest's Arrow schema",
                       "field": fields}],
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


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
            WIDS_INDEX_FILE: _wids_index(dataset)}


def write_published_files(out_dir: Path, dataset: DatasetJson) -> None:
    """The card, croissant.json and shardindex.json of a split folder, then SHA256SUMS, then the subset's card."""
    out_dir = Path(out_dir)
    _write_text(out_dir / CARD_FILE, _split_card(dataset))
    _write_text(out_dir / CROISSANT_FILE, _croissant(dataset))
    _write_text(out_dir / WIDS_INDEX_FILE, _wids_index(dataset))
    write_checksums(out_dir, dataset)
    write_subset_card(out_dir.parent)
