"""SHARD_FORMAT.md's tables are the specification: read from the document, checked both ways against the module
(`interhand/shard_format/`, `interhand/manifests/schema.py`) and against real shard folders made from synthetic
InterHand2.6M (train, val, test), STB, RHD and COCO data and from the real samples: nothing in the files that the
tables do not describe, nothing in the tables that the files lack, and every type, shape, allowed value and null
rule holding on every sample, manifest row, error row and dataset.json key."""

from __future__ import annotations

import dataclasses
import json
import re
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interhand.config import PreprocessConfig
from interhand.manifests.schema import ARROW_TYPES, ERRORS_SCHEMA, MANIFEST_SCHEMA
from interhand.preprocess.croissant import spec_table
from interhand.shard_format.ann_codec import ANN_BYTES, ANN_DTYPE, ANN_LAYOUT, decode_ann
from interhand.shard_format.names import IMAGE_MEMBERS, RECORDED_FILES
from interhand.shard_format.records import IMAGE_ENCODINGS, RECORD_FIELDS
from interhand.shard_format.version import FORMAT_VERSION
from interhand.skeleton import HAND_TYPE_VECTORS

from helpers import make_shards

SPEC = (Path(__file__).resolve().parents[2] / "SHARD_FORMAT.md").read_text()


def _table(first_header: str) -> dict[str, dict[str, str]]:
    """The SHARD_FORMAT.md table whose header row starts with `first_header`: name (backticks dropped) ->
    {header: cell}; the parser Croissant's descriptions use, which refuses ragged rows and repeated names."""
    return spec_table(SPEC, first_header)


ANN_TABLE = _table(".ann field")
FIELDS = _table("field")
LOCATIONS = _table("location column")
ERRORS = _table("errors column")
DATASET_JSON = _table("dataset.json key")


def _shape(cell: str) -> tuple[int, ...]:
    return () if cell == "scalar" else tuple(int(n) for n in cell.split("×"))


def _arrow_type(element: str, shape: tuple[int, ...]) -> pa.DataType:
    kind = ARROW_TYPES.get(element) or getattr(pa, element)()
    for size in reversed(shape):
        kind = pa.list_(kind, size)
    return kind


def _rule(cell: str):
    """The machine-checkable part of a "values" cell, as a predicate on one element, or None (prose only):
    `0/1`, `one of `a`, `b``, `A to B`, `≥ A`, or a bare number."""
    if cell.startswith("0/1"):
        return lambda value: value in (0, 1)
    if cell.startswith("one of "):
        allowed = re.findall(r"`([^`]+)`", cell.split("(")[0].split(":")[0].split(";")[0])
        return lambda value: value in allowed
    found = re.match(r"(-?\d+) to (-?\d+)\b", cell)
    if found:
        low, high = int(found[1]), int(found[2])
        return lambda value: low <= value <= high
    found = re.match(r"≥ (-?\d+)\b", cell)
    if found:
        return lambda value: value >= int(found[1])
    if re.fullmatch(r"\d+(\.\d+)?", cell):
        return lambda value: value == float(cell)
    return None


def _elements(value) -> list:
    return [item for part in value for item in _elements(part)] if isinstance(value, (list, tuple)) else [value]


def _check_values(cell: str, value, where: str) -> None:
    rule = _rule(cell)
    if rule is not None:
        bad = [item for item in _elements(value) if not rule(item)]
        assert not bad, f"{where}: {bad[:3]} break the spec's rule {cell!r}"


# --- the tables against the module ---------------------------------------------------------------------------------

def test_every_table_says_never_null():
    """Nothing is null or absent in format 3: a table that allowed it would need its rule checked below."""
    for table in (FIELDS, LOCATIONS, ERRORS, DATASET_JSON):
        assert {row["null"] for row in table.values()} == {"never"}


def test_ann_table_is_the_module_layout():
    assert {name: (int(row["float offset"]), int(row["byte offset"]), _shape(row["shape"]), row["dtype"])
            for name, row in ANN_TABLE.items()} == \
        {name: (offset, offset * ANN_DTYPE.itemsize, shape, f"`{ANN_DTYPE.str}`")
         for name, (offset, shape) in ANN_LAYOUT.items()}
    assert f"raw little-endian, {ANN_BYTES} bytes" in SPEC and f"# Shard format, version {FORMAT_VERSION}" in SPEC
    assert ANN_TABLE["format_version"]["values"] == f"{FORMAT_VERSION:.1f}"
    for name, row in ANN_TABLE.items():
        for field in re.findall(r"`(\w+)`", row["record field"].split(":")[0]):
            assert field in FIELDS, f".ann field {name} names record field {field}, which §4.2 lacks"


def test_field_table_is_record_fields_and_the_manifest_content_columns():
    expected = {"key": ("string", "string", ()), "format_version": ("—", "integer", ())}
    json_types = {"string": "string", "float32": "number", **{f"int{n}": "integer" for n in (8, 16, 32, 64)}}
    expected.update({name: (kind, json_types[kind], shape) for name, kind, shape in RECORD_FIELDS})
    documented = {name: (row["Arrow type"], row["JSON type"], _shape(row["shape"])) for name, row in FIELDS.items()}
    assert documented == expected


def test_manifest_and_errors_schemas_are_the_tables():
    documented = {name: _arrow_type(row["Arrow type"], _shape(row["shape"]))
                  for name, row in FIELDS.items() if row["Arrow type"] != "—"}
    documented.update({name: _arrow_type(row["Arrow type"], ()) for name, row in LOCATIONS.items()})
    assert {field.name: field.type for field in MANIFEST_SCHEMA} == documented
    assert {field.name: field.type for field in ERRORS_SCHEMA} == \
        {name: _arrow_type(row["Arrow type"], ()) for name, row in ERRORS.items()}


# --- the tables against shard folders ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def coco_shards(tmp_path_factory, real_ih26m_root) -> Path:
    """A COCO-keypoints split (§8) with both hands, a single left and right hand, camera parameters and joint_cam,
    and two rejected annotations (a missing image, an id listed twice), so errors.parquet has rows."""
    root = tmp_path_factory.mktemp("coco") / "coco"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    (root / "images" / "hand.jpg").write_bytes(next((real_ih26m_root / "images").rglob("*.jpg")).read_bytes())
    both = [v for j in range(42) for v in (10.0 + j, 20.0 + j, 2 if j % 5 else 0)]
    one = [v for j in range(21) for v in (30.0 + j, 40.0 + j, 2)]
    camera = (np.arange(126).reshape(42, 3) + [0, 0, 800]).tolist()
    box = [10, 20, 60, 80]
    (root / "annotations" / "train.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "hand.jpg", "width": 334, "height": 512,
                    "cam_param": {"focal": [1200.5, 1199.5], "princpt": [167.0, 256.0]}},
                   {"id": 2, "file_name": "missing.jpg", "width": 334, "height": 512}],
        "annotations": [
            {"id": 5, "image_id": 1, "bbox": box, "keypoints": both, "hand_type": "interacting", "joint_cam": camera},
            {"id": 6, "image_id": 1, "bbox": box, "keypoints": one, "hand_type": "left", "hand_type_valid": 0},
            {"id": 7, "image_id": 1, "bbox": box, "keypoints": one, "hand_type": "right"},
            {"id": 8, "image_id": 2, "bbox": box, "keypoints": one, "hand_type": "right"},
            {"id": 5, "image_id": 1, "bbox": box, "keypoints": one, "hand_type": "left"}]}))
    return make_shards(tmp_path_factory.mktemp("shards"), root, dataset="coco", split="train", max_errors=0.5)


@pytest.fixture(scope="session")
def spec_folders(synth_ih26m_shards, synth_stb_shards, synth_rhd_shards, real_test_shards, coco_shards) -> list[Path]:
    return [synth_ih26m_shards / split for split in ("train", "val", "test")] + \
        [synth_stb_shards / "test", synth_rhd_shards / "train", real_test_shards, coco_shards]


def _json_type_holds(kind: str, value) -> bool:
    scalar = {"string": lambda v: isinstance(v, str),
              "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
              "number": lambda v: isinstance(v, float), "boolean": lambda v: isinstance(v, bool),
              "object": lambda v: isinstance(v, dict)}
    if kind.startswith("array of "):
        return isinstance(value, list) and all(scalar[kind[len("array of "):]](item) for item in _elements(value))
    return scalar[kind](value)


def _nested_shape(value) -> tuple[int, ...]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        assert all(isinstance(item, list) == isinstance(value[0], list) for item in value)
        value = value[0] if value else None
    return tuple(shape)


def _read_samples(folder: Path) -> dict[str, dict[str, bytes]]:
    samples: dict[str, dict[str, bytes]] = {}
    for tar in sorted(folder.glob("*.tar")):
        with tarfile.open(tar) as archive:
            for member in archive.getmembers():
                key, ext = member.name.split(".", 1)
                samples.setdefault(key, {})[ext] = archive.extractfile(member).read()
    return samples


def _same_value(record_value, manifest_value, kind: str) -> bool:
    if kind != "float32":
        return record_value == manifest_value
    rounded = np.asarray(manifest_value, np.float32).astype(np.float64).round(4)
    return np.array_equal(np.asarray(record_value, np.float64), rounded)


def test_every_sample_of_every_folder_is_what_the_tables_say(spec_folders):
    kinds = {name: kind for name, kind, _ in RECORD_FIELDS}
    seen_values: dict[str, set] = {name: set() for name, row in FIELDS.items() if _rule(row["values"])}
    for folder in spec_folders:
        manifest = pq.read_table(folder / "manifest.parquet")
        assert manifest.schema.metadata[b"format_version"] == str(FORMAT_VERSION).encode()
        for column in manifest.column_names:
            assert manifest.column(column).null_count == 0, f"{folder}: manifest column {column} has nulls"
        rows = {row["key"]: row for row in manifest.to_pylist()}
        samples = _read_samples(folder)
        assert sorted(samples) == sorted(rows), folder
        for key, members in samples.items():
            where, row = f"{folder.name}/{key}", rows[key]
            assert row["image_member"] in IMAGE_MEMBERS
            assert sorted(members) == sorted(["json", "ann", row["image_member"]]), where
            record = json.loads(members["json"])
            assert sorted(record) == sorted(FIELDS), f"{where}: .json keys differ from §4.2's fields"
            for name, spec_row in FIELDS.items():
                value = record[name]
                assert _json_type_holds(spec_row["JSON type"] if not _shape(spec_row["shape"]) else
                                        f"array of {spec_row['JSON type']}", value), f"{where}.json {name}: {value!r}"
                assert _nested_shape(value) == _shape(spec_row["shape"]), f"{where}.json {name}"
                _check_values(spec_row["values"], value, f"{where}.json {name}")
                if name in seen_values and not isinstance(value, list):
                    seen_values[name].add(value)
                if name in row:
                    assert _same_value(value, row[name], kinds.get(name, "string")), f"{where}: {name} json != manifest"
            for name, spec_row in LOCATIONS.items():
                _check_values(spec_row["values"], row[name], f"{where} manifest {name}")
            assert record["key"] == key and record["format_version"] == FORMAT_VERSION
            _check_ann(members["ann"], record, where)
        _check_errors(folder)
    assert seen_values["subset"] == {"all"}
    assert seen_values["hand_type"] == {"right", "left", "interacting"}
    assert seen_values["dataset"] == {"interhand26m", "stb", "rhd", "coco"}
    assert {0, 1} <= seen_values["rootnet_valid"] and {0, 1} <= seen_values["mano_left_valid"]


def _check_ann(data: bytes, record: dict, where: str) -> None:
    assert len(data) == ANN_BYTES
    ann = decode_ann(data, where)
    for name, spec_row in ANN_TABLE.items():
        _check_values(spec_row["values"], ann[name].tolist(), f"{where}.ann {name}")
        fields = re.findall(r"`(\w+)`", spec_row["record field"].split(":")[0])
        parts = ann[name].reshape(len(fields), -1) if len(fields) > 1 else [ann[name]]
        for field, part in zip(fields, parts):
            value = record[field]
            if field == "hand_type":
                value = HAND_TYPE_VECTORS[value]
            expected = np.asarray(value, np.float64).ravel()
            assert np.allclose(np.asarray(part, np.float64).ravel().round(4), expected, rtol=0, atol=1e-9), \
                f"{where}: .ann {name} differs from the record's {field}"


def _check_errors(folder: Path) -> None:
    errors = pq.read_table(folder / "errors.parquet")
    assert {field.name: field.type for field in errors.schema} == \
        {name: _arrow_type(row["Arrow type"], ()) for name, row in ERRORS.items()}
    for column in errors.column_names:
        assert errors.column(column).null_count == 0
    for row in errors.to_pylist():
        for name, spec_row in ERRORS.items():
            _check_values(spec_row["values"], row[name], f"{folder} errors {name}")


def _paths(value, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    """dataset.json flattened the table's way, as key tuples: ("a", "b") for `a.b`, ("a[]", "b") for `a[].b`;
    arrays of scalars and `config` are leaves."""
    if isinstance(value, dict) and prefix != ("config",):
        return {path: leaf for key, item in value.items() for path, leaf in _paths(item, (*prefix, key)).items()}
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        found: dict[tuple[str, ...], object] = {}
        for item in value:
            found.update(_paths(item, (*prefix[:-1], prefix[-1] + "[]")))
        return found
    return {prefix: value}


def _match(name: str, path: tuple[str, ...]) -> dict[str, str] | None:
    """The placeholders of table key `name` (`files.<file>.bytes`) that `path` fills, or None if it does not match."""
    parts = name.split(".")
    if len(parts) != len(path) or any(part != key for part, key in zip(parts, path) if not part.startswith("<")):
        return None
    return {part[1:-1]: key for part, key in zip(parts, path) if part.startswith("<")}


def test_dataset_json_holds_exactly_the_table_keys(spec_folders):
    matched: set[str] = set()
    variable: dict[str, set[str]] = {}
    for folder in spec_folders:
        dataset = json.loads((folder / "dataset.json").read_text())
        assert set(dataset["config"]) == {field.name for field in dataclasses.fields(PreprocessConfig)}
        for path, value in _paths(dataset).items():
            names = [name for name in DATASET_JSON if _match(name, path) is not None]
            where = f"{folder}/dataset.json: {'.'.join(path)}"
            assert len(names) == 1, f"{where} is described by {names or 'no row'} of §5"
            row = DATASET_JSON[names[0]]
            assert value is not None and _json_type_holds(row["JSON type"], value), where
            _check_values(row["values"], value, where)
            matched.add(names[0])
            for placeholder, text in _match(names[0], path).items():
                variable.setdefault(placeholder, set()).add(text)
    assert matched == set(DATASET_JSON), f"§5 rows no dataset.json holds: {sorted(set(DATASET_JSON) - matched)}"
    assert variable == {"encoding": set(IMAGE_ENCODINGS), "field": set(ANN_LAYOUT), "file": set(RECORDED_FILES)}
