"""The reuse recipes of SHARD_FORMAT.md §7 (docs/shards.md links them) run as written, on synthetic and real-sample
shards."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from interhand.shard_format.ann_codec import ANN_BYTES

ROOT = Path(__file__).resolve().parents[2]
# Where each document keeps its recipes: the section that follows this heading.
DOCUMENTS = {"SHARD_FORMAT.md": "## 7. Recipes"}


def _recipe(title: str, document: str) -> str:
    section = (ROOT / document).read_text().split(DOCUMENTS[document], 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^(\S[^\n]*):\n```python\n(.*?)```", section, flags=re.MULTILINE | re.DOTALL)
    return next(code for heading, code in blocks if heading.startswith(title))


def _run(title: str, shard_dir: Path, document: str = "SHARD_FORMAT.md") -> dict:
    namespace = {"SHARD_DIR": str(shard_dir)}
    exec(compile(_recipe(title, document), f"{document}: {title}", "exec"), namespace)  # noqa: S102
    return namespace


def _run_fresh(title: str, shard_dir: Path, result: str) -> object:
    """Run a recipe in a new interpreter, as a user's script would (no threads of earlier tests to fork),
    and return the JSON value of the expression `result` evaluated after it."""
    code = (f"SHARD_DIR = {str(shard_dir)!r}\n{_recipe(title, 'SHARD_FORMAT.md')}\n"
            f"import json\nprint(json.dumps({result}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("shards", ["ih26m_val_shards", "real_test_shards", "stb_test_shards"])
def test_plain_webdataset_recipe_reads_every_sample(shards, request):
    shard_dir = request.getfixturevalue(shards)
    namespace = _run("Plain webdataset", shard_dir)
    assert namespace["record"]["key"].split("-")[0] in ("ih26m", "stb")
    np.testing.assert_allclose(namespace["joints_img"], namespace["record"]["joints_img"], atol=1e-3)
    assert namespace["image_bytes"][:2] in (b"\xff\xd8", b"\x89P")


@pytest.mark.parametrize("shards", ["ih26m_val_shards", "real_test_shards", "stb_test_shards", "synth_rhd_shards"])
def test_pyarrow_recipe_selects_and_reads_an_image_by_offset(shards, request):
    """On every dataset: STB and RHD have no interacting sample and no camera, which the recipe must survive."""
    shard_dir = request.getfixturevalue(shards)
    shard_dir = shard_dir / "test" if shards == "synth_rhd_shards" else shard_dir
    namespace = _run("pyarrow", shard_dir)
    interacting = shards in ("ih26m_val_shards", "real_test_shards")
    assert namespace["chosen"].num_rows >= 1 and (namespace["row"]["hand_type"] == "interacting") == interacting
    cameras = set(namespace["manifest"]["camera"].to_pylist())  # the real samples have camera 400026
    assert set(namespace["one_camera"]["camera"].to_pylist()) == {"400026"} & cameras
    assert namespace["one_camera"].num_rows or shards != "real_test_shards"
    with open(shard_dir / namespace["row"]["shard"], "rb") as shard:
        shard.seek(namespace["row"]["image_offset"])
        assert namespace["image_bytes"] == shard.read(namespace["row"]["image_size"])
    assert namespace["image_bytes"][:2] in (b"\xff\xd8", b"\x89P")  # JPEG, or STB's and RHD's PNG


def test_duckdb_recipe_groups_the_manifest(real_test_shards):
    counts = _run("duckdb", real_test_shards)["counts"]
    assert sum(n for _, _, n in counts) >= 3


@pytest.mark.parametrize("shards", ["ih26m_val_shards", "stb_test_shards", "real_test_shards"])
def test_dali_recipe_reads_jpg_and_png_images_and_joints_on_cpu(shards, request):
    pytest.importorskip("nvidia.dali")
    shard_dir = request.getfixturevalue(shards)
    namespace = _run("DALI", shard_dir)
    images, joints_img = namespace["images"], namespace["joints_img"]
    first = pq.read_table(shard_dir / "manifest.parquet").slice(0, 1).to_pylist()[0]
    assert images.at(0).shape == (first["height"], first["width"], 3)
    np.testing.assert_array_equal(np.asarray(joints_img.at(0)), np.asarray(first["joints_img"], np.float32))


def _keys(shard_dir: Path) -> list[str]:
    return pq.read_table(shard_dir / "manifest.parquet", columns=["key"]).column(0).to_pylist()


@pytest.mark.parametrize("shards", ["ih26m_val_shards", "stb_test_shards", "real_test_shards"])
def test_dataloader_recipe_reads_every_sample_once_with_two_workers(shards, request):
    shard_dir = request.getfixturevalue(shards)
    # a forked DataLoader worker of a process that has run the other recipes (DALI, datasets) can crash:
    # run it the way a user's training script would, in a fresh interpreter
    found = _run_fresh("A torch DataLoader over webdataset", shard_dir,
                       '{"workers": loader.num_workers, "tars": len(tars), "keys": keys}')
    assert found["workers"] == min(2, found["tars"])
    assert sorted(found["keys"]) == sorted(_keys(shard_dir))


@pytest.mark.parametrize("shards", ["ih26m_val_shards", "stb_test_shards", "real_test_shards"])
def test_wids_recipe_reads_a_sample_by_its_index(shards, request):
    shard_dir = request.getfixturevalue(shards)
    namespace = _run("wids", shard_dir)
    keys = _keys(shard_dir)
    assert len(namespace["dataset"]) == len(keys)
    assert namespace["record"]["key"] == namespace["sample"]["__key__"] == keys[len(keys) // 2]


@pytest.mark.parametrize("shards", ["ih26m_val_shards", "stb_test_shards", "real_test_shards"])
def test_croissant_recipe_reads_the_manifest_records(shards, request):
    shard_dir = request.getfixturevalue(shards)
    namespace = _run("Croissant", shard_dir)
    assert namespace["first"]["manifest/key"].decode() == _keys(shard_dir)[0]
    first = pq.read_table(shard_dir / "manifest.parquet").slice(0, 1).to_pylist()[0]
    np.testing.assert_array_equal(np.asarray(namespace["first"]["manifest/joints_img"], np.float32),
                                  np.asarray(first["joints_img"], np.float32))


@pytest.mark.parametrize("shards", ["real_test_shards", "stb_test_shards"])
def test_croissant_pixels_recipe_decodes_the_first_image(shards, request):
    """In a fresh interpreter, as the recipe needs (CROISSANT_CACHE is read when mlcroissant is imported): JPEG and
    PNG folders with the same tar name, each gets its own first image."""
    shard_dir = request.getfixturevalue(shards)
    found = _run_fresh("Croissant, pixels", shard_dir,
                       '[first["images/key"].decode(), list(first["images/image"].size)]')
    first = min(pq.read_table(shard_dir / "manifest.parquet").to_pylist(), key=lambda row: row["key"])
    assert found == [first["key"], [first["width"], first["height"]]]


@pytest.mark.parametrize("shards", ["ih26m_val_shards", "stb_test_shards", "real_test_shards"])
def test_hf_streaming_recipe_reads_the_card(shards, request, hf_datasets):
    shard_dir = request.getfixturevalue(shards)
    namespace = _run("Hugging Face datasets, streaming", shard_dir)
    first = pq.read_table(shard_dir / "manifest.parquet").slice(0, 1).to_pylist()[0]
    assert namespace["example"]["__key__"] == first["key"]
    np.testing.assert_array_equal(namespace["joints_img"], np.asarray(first["joints_img"], np.float32))


@pytest.mark.parametrize("shards", ["ih26m_val_shards", "stb_test_shards"])
def test_hf_map_style_recipe_reads_the_card(shards, request, hf_datasets):
    shard_dir = request.getfixturevalue(shards)
    namespace = _run("Hugging Face datasets, map-style", shard_dir)
    assert namespace["dataset"].num_rows == len(_keys(shard_dir)) and namespace["image"].size[0] > 0


def _hf_json_features(datasets) -> dict:
    """The types `datasets` must infer for the `.json` member from SHARD_FORMAT.md §4.2, with no Features given."""
    from interhand.shard_format.records import RECORD_FIELDS

    element = {"string": "string", "float32": "float64", **{f"int{n}": "int64" for n in (8, 16, 32, 64)}}
    features = {"key": datasets.Value("string"), "format_version": datasets.Value("int64")}
    for name, kind, shape in RECORD_FIELDS:
        feature = datasets.Value(element[kind])
        for _ in shape:
            feature = datasets.List(feature)
        features[name] = feature
    return features


def _tar_members(shard_dir: Path, rows: list[dict], member: str) -> list[bytes]:
    members = []
    for row in rows:
        with open(shard_dir / row["shard"], "rb") as shard:
            shard.seek(row[f"{member}_offset"])
            members.append(shard.read(row[f"{member}_size"]))
    return members


@pytest.mark.parametrize("shards", ["ih26m_train_shards", "ih26m_val_shards", "stb_test_shards", "real_test_shards"])
def test_hugging_face_map_style_recipe_loads_every_sample_typed(shards, request, hf_datasets):
    """Train has no RootNet output, val/test no left-hand MANO fit in their first samples, STB no MANO at all: the
    types still never depend on which sample comes first, and the padded `.ann` is the tar's."""
    import json

    shard_dir = request.getfixturevalue(shards)
    namespace = _run("Hugging Face `datasets`, map-style", shard_dir)
    samples, manifest = namespace["samples"], pq.read_table(shard_dir / "manifest.parquet")
    assert len(samples) == manifest.num_rows and namespace["joints_img"].shape == (42, 3)
    assert dict(samples.features["json"]) == _hf_json_features(hf_datasets)
    rows = {row["key"]: row for row in manifest.to_pylist()}
    by_key = dict(zip(samples["__key__"], samples["json"]))
    tar_records = dict(zip(rows, _tar_members(shard_dir, list(rows.values()), "json")))
    assert by_key == {key: json.loads(text) for key, text in tar_records.items()}
    as_numpy = namespace["as_numpy"]
    shortened = 0
    tar_anns = dict(zip(rows, _tar_members(shard_dir, list(rows.values()), "ann")))
    for index, key in enumerate(samples["__key__"]):
        raw = bytes(as_numpy[index]["ann"])
        shortened += len(raw) < ANN_BYTES
        assert raw.ljust(ANN_BYTES, b"\0") == tar_anns[key]
    assert shortened, "no record lost trailing zeros: the padding the recipe documents was never exercised"


@pytest.mark.parametrize("shards", ["ih26m_train_shards", "stb_test_shards"])
def test_hugging_face_streaming_recipe_reads_every_sample(shards, request, hf_datasets):
    shard_dir = request.getfixturevalue(shards)
    namespace = _run("Hugging Face `datasets`, streaming", shard_dir)
    rows = pq.read_table(shard_dir / "manifest.parquet").to_pylist()
    anns = dict(zip((row["key"] for row in rows), _tar_members(shard_dir, rows, "ann")))
    seen = {}
    for sample in namespace["stream"]:
        record = sample["json"]
        assert isinstance(record["rootnet_valid"], int) and isinstance(record["joints_img"][0][0], float)
        seen[sample["__key__"]] = bytes(sample["ann"])
    assert seen == anns
    np.testing.assert_array_equal(namespace["ann"], np.frombuffer(anns[namespace["record"]["key"]], "<f4"))
