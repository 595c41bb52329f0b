"""The files a finished split folder carries for other tools (SHARD_FORMAT.md §1.2, interhand/preprocess/publish.py):
SHA256SUMS checked by the real `sha256sum` and by `interhand verify`, the dataset card read by Hugging Face
`datasets`, croissant.json read by `mlcroissant`, shardindex.json opened by `wids`, and the shard-count rule."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import PreprocessConfig
from interhand.manifests.schema import MANIFEST_SCHEMA
from interhand.preprocess.publish import (
    CITATIONS,
    LICENSES,
    MIN_SHARDS_FOR_READERS,
    SPEC_FILE,
    folder_files,
    shard_count_warning,
    spec_text,
)
from interhand.preprocess.verify import verify_shard_dir
from interhand.shard_format.ann_codec import ANN_DTYPE, ANN_FLOATS, ANN_LAYOUT
from interhand.shard_format.dataset_json import read_dataset_json
from interhand.shard_format.records import RECORD_FIELDS

ROOT = Path(__file__).resolve().parents[2]
# The real InterHand2.6M v1.0 (5 fps) split sizes, in samples (SHARD_FORMAT.md §2).
REAL_SPLIT_SAMPLES = {"train": 1_361_062, "val": 380_125, "test": 849_160}


def _copy(shard_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / shard_dir.parent.parent.name / shard_dir.parent.name / shard_dir.name
    shutil.copytree(shard_dir, copy)
    return copy


def _card(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


# --- SHA256SUMS --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shards", ["ih26m_val_shards", "stb_test_shards", "real_test_shards"])
def test_sha256sum_checks_every_file_of_the_folder(shards, request):
    shard_dir = request.getfixturevalue(shards)
    sha256sum = shutil.which("sha256sum")
    assert sha256sum, "the coreutils sha256sum binary is needed here"
    checked = subprocess.run([sha256sum, "--check", "--strict", "SHA256SUMS"], cwd=shard_dir, capture_output=True,
                             text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    listed = sorted(line.split("  ", 1)[1] for line in (shard_dir / "SHA256SUMS").read_text().splitlines())
    assert listed == sorted(path.name for path in shard_dir.iterdir() if path.name != "SHA256SUMS")
    assert listed == folder_files(read_dataset_json(shard_dir))
    assert not (shard_dir / ".work").exists()


@pytest.mark.parametrize("name", ["README.md", "croissant.json", "shardindex.json", "val-000000.idx", "dataset.json"])
def test_verify_names_a_file_edited_after_the_run(name, ih26m_val_shards, tmp_path):
    folder = _copy(ih26m_val_shards, tmp_path)
    path = folder / name
    data = path.read_bytes()
    # Same size, still valid JSON where it was: only a digest can tell (dataset.json: its command_line's "shards").
    if name == "dataset.json":
        edited = data.replace(b'\n  "shards",\n', b'\n  "sharDs",\n')
    else:
        edited = data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]
    assert edited != data
    path.write_bytes(edited)
    problems = verify_shard_dir(folder)
    assert f"{name}: SHA-256 differs from SHA256SUMS (edited, replaced or corrupt)" in problems
    checked = subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=folder, capture_output=True,
                             text=True)
    assert checked.returncode != 0 and name in checked.stdout


def test_verify_names_a_missing_checksums_file_a_bad_line_and_a_leftover(ih26m_val_shards, tmp_path):
    folder = _copy(ih26m_val_shards, tmp_path)
    (folder / ".work").mkdir()
    (folder / "notes.txt").write_text("mine")
    problems = verify_shard_dir(folder)
    assert ".work: not a file of this folder (a stale or foreign folder; remove it)" in problems
    assert "notes.txt: not a file of this folder (a stale or foreign file; remove it)" in problems
    sums = folder / "SHA256SUMS"
    lines = sums.read_text().splitlines()
    sums.write_text("\n".join(lines[1:] + ["not a checksum line"]) + "\n")
    problems = verify_shard_dir(folder)
    assert any(problem.startswith(f"SHA256SUMS: {sums}:{len(lines)}: not a `sha256sum` line") for problem in problems)
    sums.write_text("\n".join(lines[1:]) + "\n")
    assert f"SHA256SUMS does not list {lines[0].split('  ')[1]}" in verify_shard_dir(folder)
    sums.unlink()
    result = CliRunner().invoke(main, ["verify", str(folder)])
    assert result.exit_code != 0
    assert f"{sums} not found: the run that wrote {folder / 'dataset.json'} stopped before its end" in result.output


# --- shard counts ------------------------------------------------------------------------------------------------
def test_the_default_shard_size_gives_a_real_split_enough_shards(real_test_shards):
    """Bytes per sample of the real frames (images re-encoded as stored, records, tar headers) times the real split
    sizes: every InterHand2.6M split cut at the default --shard-size has at least MIN_SHARDS_FOR_READERS shards."""
    dataset = read_dataset_json(real_test_shards)
    bytes_per_sample = sum(shard.bytes for shard in dataset.shards) / dataset.counts.samples
    limit = PreprocessConfig().shard_size_bytes
    for split, samples in REAL_SPLIT_SAMPLES.items():
        assert samples * bytes_per_sample / limit >= MIN_SHARDS_FOR_READERS, (split, bytes_per_sample)
    assert samples * bytes_per_sample / limit < 10 * MIN_SHARDS_FOR_READERS  # and shards of tens of MB, not tiny


def test_shards_warns_in_one_line_when_a_split_has_too_few_shards(tmp_path, real_ih26m_root):
    result = CliRunner().invoke(main, ["shards", "--data", str(real_ih26m_root), "--split", "test", "--shards",
                                       str(tmp_path)])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "1 shards, fewer than 64" in warnings[0] and "No samples found" in warnings[0]
    assert "it has only 4 samples: read it with at most 1 workers in all" in warnings[0]
    assert shard_count_warning("x", 64 * 5000, MIN_SHARDS_FOR_READERS) is None
    assert "--shard-samples 4999 " in shard_count_warning("x", 64 * 4999 + 3, 12)
    # a demo-size split is told to use fewer workers, not to cut shards of a few samples
    assert "it has only 144 samples: read it with at most 3 workers in all" in shard_count_warning("x", 144, 3)


# --- the dataset card and Hugging Face datasets --------------------------------------------------------------------
@pytest.mark.parametrize("shards, dataset", [("ih26m_val_shards", "interhand26m"), ("stb_test_shards", "stb")])
def test_the_card_states_license_citation_and_configs(shards, dataset, request):
    shard_dir = request.getfixturevalue(shards)
    card = _card(shard_dir)
    split = shard_dir.name
    name = f"{dataset}-all-{split}"
    samples = read_dataset_json(shard_dir).counts.samples
    assert card["license"] == LICENSES[dataset][0]
    assert card["configs"] == [{"config_name": name, "data_files": [{"split": split, "path": f"{split}-*.tar"}]}]
    assert [(info["config_name"], info["splits"]) for info in card["dataset_info"]] == \
        [(name, [{"name": split, "num_bytes": 0, "num_examples": samples}])]
    text = (shard_dir / "README.md").read_text()
    assert CITATIONS[dataset] in text and LICENSES[dataset][1] in text
    subset = _card(shard_dir.parent)
    subset_files = [{"split": split, "path": f"{split}/{split}-*.tar"}]
    assert {"config_name": name, "data_files": subset_files} in subset["configs"]
    assert card["dataset_info"][0] in subset["dataset_info"]


def test_every_dataset_has_license_terms_and_the_real_ones_a_citation():
    assert LICENSES["interhand26m"][0] == "cc-by-nc-4.0" and LICENSES["coco"][0] == "unknown"
    assert all(CITATIONS[name].startswith("@") for name in ("interhand26m", "stb", "rhd"))


def _keys(shard_dir: Path) -> list[str]:
    return pq.read_table(shard_dir / "manifest.parquet", columns=["key"]).column(0).to_pylist()


def _load(datasets, folder: Path, **options):
    return datasets.load_dataset(str(folder), **options)


@pytest.mark.parametrize("streaming", [False, True])
def test_hf_datasets_loads_an_interhand_split_folder(streaming, ih26m_val_shards, hf_datasets):
    loaded = _load(hf_datasets, ih26m_val_shards, split="val", streaming=streaming)
    assert [example["__key__"] for example in loaded] == _keys(ih26m_val_shards)


@pytest.mark.parametrize("streaming", [False, True])
def test_hf_datasets_loads_a_png_split_folder(streaming, stb_test_shards, hf_datasets):
    loaded = _load(hf_datasets, stb_test_shards, split="test", streaming=streaming)
    examples = list(loaded)
    assert [example["__key__"] for example in examples] == _keys(stb_test_shards)
    offset = ANN_LAYOUT["image_size_px"][0]
    for example in examples[:3]:  # the `.ann` member comes back whole as bytes, the image decoded
        ann = np.frombuffer(example["ann"], ANN_DTYPE)
        assert ann.size == ANN_FLOATS and example["png"].size == tuple(int(v) for v in ann[offset:offset + 2])


@pytest.mark.parametrize("streaming", [False, True])
def test_hf_datasets_loads_each_split_of_the_subset_folder_by_its_config(streaming, synth_ih26m_root, tmp_path,
                                                                         hf_datasets):
    """One config per split, named as the split folder's card names it; without a name `datasets` lists them."""
    from helpers import make_shards

    folders = {split: make_shards(tmp_path / "shards", synth_ih26m_root, split=split, shard_samples=40)
               for split in ("train", "val")}
    subset_dir = folders["val"].parent
    with pytest.raises(ValueError, match="interhand26m-all-train', 'interhand26m-all-val'"):
        _load(hf_datasets, subset_dir, streaming=streaming)
    for split, folder in folders.items():
        loaded = _load(hf_datasets, subset_dir, name=f"interhand26m-all-{split}", streaming=streaming)
        assert list(loaded) == [split]
        assert sorted(example["__key__"] for example in loaded[split]) == sorted(_keys(folder))


def test_hf_datasets_gives_the_json_record_the_manifest_types_and_shapes(ih26m_val_shards, hf_datasets):
    """The card's typed features: map-style, the `.json` record's columns have the manifest's Arrow types (fixed-size
    lists: 42×3 joints come out (42, 3) float32 under with_format("numpy")), `ann` stays the exact bytes, the
    image is decoded; streaming declares the same features."""
    loaded = _load(hf_datasets, ih26m_val_shards, split="val")
    record = loaded.data.schema.field("json").type
    assert sorted(record.names) == sorted(["key", "format_version", *(name for name, _, _ in RECORD_FIELDS)])
    for name in record.names:
        if name != "format_version":  # the manifest keeps it in its schema's metadata
            assert record.field(name).type == MANIFEST_SCHEMA.field(name).type, name
    assert loaded.data.schema.field("ann").type == pa.binary()
    first = loaded.with_format("numpy")[0]
    assert first["json"]["joints_img"].shape == (42, 3) and first["json"]["joints_img"].dtype == np.float32
    example = loaded[0]
    assert len(example["ann"]) == ANN_FLOATS * ANN_DTYPE.itemsize and example["jpg"].size[0] > 0
    assert _load(hf_datasets, ih26m_val_shards, split="val", streaming=True).features == loaded.features


def test_hf_datasets_loads_a_folder_of_jpeg_and_png_samples(real_ih26m_root, tmp_path, hf_datasets):
    """A COCO-keypoints input of JPEG and PNG images, the PNG one after the fifth sample: the card declares both
    image members, so `datasets` does not infer the columns from the first five samples (which drops the PNG)."""
    from PIL import Image

    from helpers import make_shards

    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    frame = next((real_ih26m_root / "images").rglob("*.jpg"))
    names = [f"hand{index}.jpg" for index in range(6)] + ["hand6.png"]
    for name in names[:-1]:
        (root / "images" / name).write_bytes(frame.read_bytes())
    with Image.open(frame) as image:
        image.save(root / "images" / names[-1])
        width, height = image.size
    keypoints = [v for j in range(21) for v in (30.0 + j, 40.0 + j, 2)]
    (root / "annotations" / "val.json").write_text(json.dumps({
        "images": [{"id": index, "file_name": name, "width": width, "height": height}
                   for index, name in enumerate(names, 1)],
        "annotations": [{"id": index, "image_id": index, "bbox": [10, 20, 60, 80], "keypoints": keypoints,
                         "hand_type": "right"} for index in range(1, len(names) + 1)]}))
    folder = make_shards(tmp_path / "shards", root, dataset="coco", split="val")
    for streaming in (False, True):
        examples = list(_load(hf_datasets, folder, split="val", streaming=streaming))
        assert [(example["jpg"] is None, example["png"] is None) for example in examples] == \
            [(False, True)] * 6 + [(True, False)], streaming


def _config_of(folder: Path, split: str) -> str:
    """The name of the card's config that holds `split`: what a reader passes to load_dataset."""
    return next(config["config_name"] for config in _card(folder)["configs"]
                if any(files["split"] == split for files in config["data_files"]))


def _rows(datasets, folder: Path, split: str, cache_dir: Path, streaming: bool) -> tuple[list[str], set[str]]:
    """(keys, member columns) of `split` loaded through `folder`'s card, caching under `cache_dir`."""
    loaded = datasets.load_dataset(str(folder), _config_of(folder, split), split=split, streaming=streaming,
                                   cache_dir=str(cache_dir))
    examples = list(loaded)
    return [example["__key__"] for example in examples], {name for name in examples[0] if examples[0][name] is not None}


def test_hf_datasets_keeps_folders_of_one_split_name_apart_in_one_cache(synth_ih26m_root, synth_stb_root, tmp_path,
                                                                      hf_datasets):
    """Three `train` folders (InterHand2.6M `all`, STB, InterHand2.6M `machine_annot`) and two subset folders named
    `all`, loaded map-style and streaming through their cards into one cache: each returns its own rows and members,
    whatever was loaded before it (`datasets` keys its cache by the folder's base name and the card, not the path)."""
    from helpers import make_shards

    out = tmp_path / "shards"
    trains = [make_shards(out, synth_ih26m_root, split="train", shard_samples=16),
              make_shards(out, synth_stb_root, dataset="stb", split="train", shard_samples=4),
              make_shards(out, synth_ih26m_root, split="train", annot_subset="machine_annot", shard_samples=16)]
    folders = [(folder, folder) for folder in trains] + [(trains[0].parent, trains[0]), (trains[1].parent, trains[1])]
    cache = tmp_path / "one-hf-cache"
    for streaming in (False, True):
        for folder, split_dir in folders:
            found = _rows(hf_datasets, folder, "train", cache, streaming)
            members = {"__key__", "__url__", "ann", "json", *read_dataset_json(split_dir).image_members}
            expected = (_keys(split_dir), members)
            assert found == expected, (f"{folder.relative_to(out)} (streaming={streaming}): {len(found[0])} rows from "
                                       f"{found[0][0]} with {sorted(found[1])}, not {len(expected[0])} from "
                                       f"{expected[0][0]} with {sorted(expected[1])}")


# --- Croissant and wids ------------------------------------------------------------------------------------------
def test_mlcroissant_validates_and_reads_the_manifest_record_set(real_test_shards):
    mlcroissant = pytest.importorskip("mlcroissant")
    dataset = mlcroissant.Dataset(jsonld=str(real_test_shards / "croissant.json"))
    assert LICENSES["interhand26m"][2] in str(dataset.metadata.license) and "Moon" in dataset.metadata.cite_as
    records = list(dataset.records(record_set="manifest"))
    assert [record["manifest/key"].decode() for record in records] == _keys(real_test_shards)
    assert set(records[0]) == {f"manifest/{name}" for name in MANIFEST_SCHEMA.names}
    document = json.loads((real_test_shards / "croissant.json").read_text())
    tars = {item["name"]: item["sha256"] for item in document["distribution"] if item["name"].endswith(".tar")}
    assert tars == {shard.name: shard.sha256 for shard in read_dataset_json(real_test_shards).shards}


_CROISSANT_MEMBERS = """
import io, json, sys
import mlcroissant as mlc
from PIL import Image
dataset = mlc.Dataset(jsonld=sys.argv[1] + "/croissant.json")
images = {r["images/key"].decode(): r["images/image"] for r in dataset.records(record_set="images")}
records = {r["records/key"].decode(): json.loads(r["records/record"]) for r in dataset.records(record_set="records")}
for key, image in images.items():
    image.convert("RGB").save(f"{sys.argv[2]}/{key}.png")
json.dump(records, open(f"{sys.argv[2]}/records.json", "w"))
"""


@pytest.mark.parametrize("shards", ["real_test_shards", "stb_test_shards"])
def test_mlcroissant_reads_the_pixels_and_records_of_the_tar_members(shards, request, tmp_path):
    """The `images` and `records` record sets over the tars' members: every sample's decoded pixels (JPEG and PNG)
    equal to its image member's, its `.json` member whole. Run as a user would, in a fresh interpreter with its own
    CROISSANT_CACHE (mlcroissant extracts a tar under a hash of its name alone, SHARD_FORMAT.md §7)."""
    pytest.importorskip("mlcroissant")
    shard_dir = request.getfixturevalue(shards)
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", _CROISSANT_MEMBERS, str(shard_dir), str(out)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "CROISSANT_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-3000:]
    rows = pq.read_table(shard_dir / "manifest.parquet").to_pylist()
    records = json.loads((out / "records.json").read_text())
    assert sorted(records) == sorted(row["key"] for row in rows)
    for row in rows:
        with open(shard_dir / row["shard"], "rb") as tar:
            tar.seek(row["image_offset"])
            member = tar.read(row["image_size"])
            tar.seek(row["json_offset"])
            assert records[row["key"]] == json.loads(tar.read(row["json_size"]))
        expected = cv2.cvtColor(cv2.imdecode(np.frombuffer(member, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        found = cv2.cvtColor(cv2.imread(str(out / f"{row['key']}.png"), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert found.shape == (row["height"], row["width"], 3)
        np.testing.assert_array_equal(found, expected, err_msg=row["key"])


def test_croissant_describes_every_field_from_the_spec_and_states_the_rai_fields(real_test_shards, stb_test_shards):
    mlcroissant = pytest.importorskip("mlcroissant")
    dataset = mlcroissant.Dataset(jsonld=str(real_test_shards / "croissant.json"))
    fields = {field.name: field.description for field in dataset.metadata.record_sets[0].fields}
    assert set(fields) == set(MANIFEST_SCHEMA.names) and all(fields.values())
    assert "unit, frame: camera frame, mm" in fields["joints_cam_mm"] and "metres" in fields["mano_right_trans_m"]
    document = json.loads((real_test_shards / "croissant.json").read_text())
    assert document["datePublished"] == "2021-03-22"
    for name in ("rai:dataCollection", "rai:dataAnnotationProtocol", "rai:personalSensitiveInformation",
                 "rai:dataUseCases", "rai:dataPreprocessingProtocol"):
        assert document[name], name
    assert "2.6M labeled single and interacting hand frames" in document["rai:dataCollection"]
    stb = json.loads((stb_test_shards / "croissant.json").read_text())
    assert stb["rai:dataCollection"] != document["rai:dataCollection"] and stb["datePublished"] == "2016"
    assert [item["includes"] for item in stb["distribution"] if item["@id"] == "image-members"] == [["*.png"]]


# --- the format document -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("shards", ["ih26m_val_shards", "stb_test_shards"])
def test_the_folder_carries_the_format_document_named_by_card_and_croissant(shards, request):
    shard_dir = request.getfixturevalue(shards)
    root_spec = (ROOT / "SHARD_FORMAT.md").read_bytes()
    assert spec_text().encode() == root_spec  # the package's copy is the repository's document
    assert (shard_dir / SPEC_FILE).read_bytes() == root_spec
    assert SPEC_FILE in (shard_dir / "SHA256SUMS").read_text().split()
    dataset = read_dataset_json(shard_dir)
    card = (shard_dir / "README.md").read_text()
    assert (f"shard format version {dataset.format_version}, written by interhand {dataset.package['version']}"
            in card.replace("\n", " "))
    assert f"`{SPEC_FILE}` in this folder" in card and "one hand annotation" not in card
    assert f"`{SPEC_FILE}` in this folder" in json.loads((shard_dir / "croissant.json").read_text())["description"]
    assert SPEC_FILE in (shard_dir.parent / "README.md").read_text()


def test_wids_opens_the_shard_index_for_random_access(ih26m_val_shards):
    wids = pytest.importorskip("wids")
    dataset = wids.ShardListDataset(str(ih26m_val_shards / "shardindex.json"), localname=lambda url: url,
                                    transformations=[])
    keys = _keys(ih26m_val_shards)
    assert len(dataset) == len(keys)
    for index in (0, len(keys) // 2, len(keys) - 1):
        sample = dataset[index]
        assert sample["__key__"] == keys[index]
        assert json.loads(sample[".json"].read())["key"] == keys[index]
