"""The shard job end to end: layout, order, byte-identical reruns, resume, parts, verify."""

from __future__ import annotations

import json
import shutil
import tarfile
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import PreprocessConfig, config_to_dict
from interhand.preprocess.run import run
from interhand.preprocess.verify import verify_shard_dir

from helpers import make_shards, run_unfinished


def _tar_bytes(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.tar")) + sorted(directory.glob("*.idx"))}


def test_a_split_becomes_shards_indexes_manifest_errors_and_dataset_json(ih26m_train_shards):
    names = sorted(path.name for path in ih26m_train_shards.iterdir())
    assert {"manifest.parquet", "errors.parquet", "dataset.json", "train-000000.tar", "train-000000.idx"} <= set(names)
    assert not [name for name in names if name.endswith(".tmp")]
    dataset = json.loads((ih26m_train_shards / "dataset.json").read_text())
    manifest = pq.read_table(ih26m_train_shards / "manifest.parquet")
    assert dataset["counts"]["samples"] == manifest.num_rows == sum(s["samples"] for s in dataset["shards"])
    assert dataset["counts"]["shards"] >= 3 and len(dataset["joint_names"]) == 42
    with tarfile.open(ih26m_train_shards / "train-000000.tar") as archive:
        members = archive.getnames()
    assert members[:3] == [f"{manifest['key'][0]}.{ext}" for ext in ("ann", "jpg", "json")]


def test_train_shards_mix_captures_while_eval_keeps_single_hand_first(ih26m_train_shards, ih26m_val_shards):
    train = pq.read_table(ih26m_train_shards / "manifest.parquet").to_pylist()
    first_shard = [row for row in train if row["shard_index"] == 0]
    assert len({row["capture"] for row in first_shard}) == 2 and len({row["seq_name"] for row in first_shard}) > 2
    test = pq.read_table(ih26m_val_shards / "manifest.parquet").to_pylist()
    kinds = [row["hand_type"] == "interacting" for row in test]
    assert kinds == sorted(kinds) and any(kinds) and not all(kinds)
    ids = [row["annotation_id"] for row in test if row["hand_type"] == "interacting"]
    assert ids == sorted(ids)


def _folder_bytes(shard_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(shard_dir.iterdir())}


def test_reruns_are_byte_identical_and_resume_keeps_verified_shards(tmp_path, synth_ih26m_root, ih26m_train_shards,
                                                                    monkeypatch):
    rerun = make_shards(tmp_path / "a", synth_ih26m_root, split="train", shard_samples=16)
    assert _tar_bytes(rerun) == _tar_bytes(ih26m_train_shards)
    finished = _folder_bytes(rerun)
    assert not (rerun / ".work").exists()  # only an unfinished run keeps its resume state
    assert _folder_bytes(make_shards(tmp_path / "a", synth_ih26m_root, split="train", shard_samples=16)) == finished
    # Simulate a kill before the end: one shard never renamed (only its .tmp exists), another one corrupted.
    config = PreprocessConfig(data=str(synth_ih26m_root), shards=str(tmp_path / "a"), split="train", shard_samples=16,
                              progress=False)
    run_unfinished(config, monkeypatch)
    (rerun / "train-000001.tar").rename(rerun / "train-000001.tar.tmp")
    corrupted = rerun / "train-000002.tar"
    corrupted.write_bytes(corrupted.read_bytes()[:-10] + b"x" * 10)
    summary = run(config)
    assert summary.resumed_shards == summary.shards - 2 and not (rerun / ".work").exists()
    assert _folder_bytes(rerun) == finished


def test_parts_then_finalize_equal_a_single_job_shard_for_shard(tmp_path, synth_ih26m_root, ih26m_train_shards):
    for part in ("1/2", "0/2"):
        make_shards(tmp_path, synth_ih26m_root, split="train", shard_samples=16, part=part)
    out = tmp_path / "interhand26m" / "all" / "train"
    assert not (out / "manifest.parquet").exists() and (out / ".work").is_dir()
    # part 0 as a version before the config fields' renaming recorded it: root, subset, out
    part = out / ".work" / "part-0-of-2.json"
    record = json.loads(part.read_text())
    renamed = {"data": "root", "annot_subset": "subset", "shards": "out"}
    record["config"] = {renamed.get(name, name): value for name, value in record["config"].items()}
    part.write_text(json.dumps(record, indent=1))
    result = CliRunner().invoke(main, ["shards", "--root", str(synth_ih26m_root), "--split", "train", "--out",
                                       str(tmp_path), "--shard-samples", "16", "--part", "0/2", "--finalize"])
    assert result.exit_code == 0, result.output
    assert not (out / ".work").exists() and verify_shard_dir(out) == []
    recorded = json.loads((out / "dataset.json").read_text())["config"]
    # today's names, in the fields' order; the folders by their names alone (SHARD_FORMAT.md §5)
    expected = config_to_dict(PreprocessConfig(data=synth_ih26m_root.name, shards=tmp_path.name, split="train",
                                               shard_samples=16, part="0/2", progress=False))
    assert recorded == expected and list(recorded) == list(expected)
    assert _tar_bytes(out) == _tar_bytes(ih26m_train_shards)
    assert pq.read_table(out / "manifest.parquet").equals(pq.read_table(ih26m_train_shards / "manifest.parquet"))


def test_finalize_names_a_missing_part(tmp_path, synth_ih26m_root):
    make_shards(tmp_path, synth_ih26m_root, split="train", shard_samples=16, part="0/2")
    result = CliRunner().invoke(main, ["shards", "--root", str(synth_ih26m_root), "--out", str(tmp_path),
                                       "--shard-samples", "16", "--part", "0/2", "--finalize"])
    assert result.exit_code != 0 and "part 1 of 2 is missing" in result.output


def test_verify_passes_clean_shards_and_reports_a_flipped_byte(tmp_path, ih26m_val_shards):
    copy = tmp_path / "copy"
    shutil.copytree(ih26m_val_shards, copy)
    assert verify_shard_dir(copy) == []
    assert CliRunner().invoke(main, ["verify", str(tmp_path)]).exit_code == 0  # finds the split below
    manifest = pq.read_table(copy / "manifest.parquet").to_pylist()
    row = manifest[3]
    shard = copy / row["shard"]
    data = bytearray(shard.read_bytes())
    data[row["image_offset"] + 100] ^= 0xFF
    shard.write_bytes(bytes(data))
    problems = verify_shard_dir(copy)
    assert any("CRC-32" in problem and row["key"] in problem for problem in problems)
    result = CliRunner().invoke(main, ["verify", str(copy)])
    assert result.exit_code != 0 and "SHA-256" in result.output


def test_png_datasets_and_eval_joins_reach_the_manifest(tmp_path, synth_rhd_root, stb_test_shards,
                                                        ih26m_val_shards):
    rhd = make_shards(tmp_path, synth_rhd_root, dataset="rhd", split="train")
    for directory in (rhd, stb_test_shards):
        assert verify_shard_dir(directory) == []
        manifest = pq.read_table(directory / "manifest.parquet").to_pylist()
        assert {row["image_member"] for row in manifest} == {"png"} and manifest[0]["key"][:4] in ("rhd-", "stb-")
    assert all(row["rootnet_abs_depth_mm"] is not None for row in pq.read_table(
        stb_test_shards / "manifest.parquet").to_pylist())
    val = pq.read_table(ih26m_val_shards / "manifest.parquet").to_pylist()
    assert all(row["rootnet_bbox"] is not None for row in val)
    assert any(row["mano_right_pose"] is not None for row in val)


def test_human_subset_shards_hold_exactly_the_listed_ids(tmp_path, synth_ih26m_root):
    out = make_shards(tmp_path, synth_ih26m_root, split="train", annot_subset="human_annot")
    ids = {int(line) for line in (synth_ih26m_root / "aid_human_annot_train.txt").read_text().split()}
    assert set(pq.read_table(out / "manifest.parquet")["annotation_id"].to_pylist()) == ids
    assert out.parts[-3:] == ("interhand26m", "human_annot", "train")


def test_config_parses_sizes_and_parts_once_and_rejects_bad_ones_naming_the_field():
    import pytest

    from interhand.config import PreprocessConfig, parse_size

    assert parse_size("1GB") == 10**9 and parse_size("64MiB") == 64 * 2**20
    config = PreprocessConfig(shard_size="64MiB", part="2/5")
    assert (config.shard_size_bytes, config.part_index, config.part_count) == (64 * 2**20, 2, 5)
    assert "_part" not in config_to_dict(config) and config_to_dict(config)["part"] == "2/5"  # the file face: text
    assert replace(config, part="0/1").part_count == 1
    for field, value in (("shard_size", "lots"), ("part", "2/2"), ("split", "training"), ("workers", 0)):
        with pytest.raises(ValueError, match=field):
            PreprocessConfig(**{field: value})


def _strings(value) -> list[str]:
    """Every string in a JSON value or a Parquet table's rows."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (key, *_strings(item))]
    if isinstance(value, (list, tuple)):
        return [text for item in value for text in _strings(item)]
    return []


def _plant_errors(root: Path) -> set[int]:
    """A joint_valid of 7 (an annotation rejected while read), a missing image (rejected when its file is looked up)
    and a truncated one (rejected by the shard writer): errors.parquet gets rows of each stage, with paths."""
    data_path = root / "annotations" / "test" / "InterHand2.6M_test_data.json"
    data = json.loads(data_path.read_text())
    files = {image["id"]: image["file_name"] for image in data["images"]}
    annotations = data["annotations"]
    annotations[0]["joint_valid"][3][0] = 7
    missing, truncated = (root / "images" / "test" / files[annotations[i]["image_id"]] for i in (5, 9))
    data_path.write_text(json.dumps(data))
    missing.unlink()
    truncated.write_bytes(truncated.read_bytes()[:200])
    return {annotation["id"] for annotation in annotations if annotation["image_id"] in
            {annotations[0]["image_id"], annotations[5]["image_id"], annotations[9]["image_id"]}}


def test_published_files_hold_no_path_of_the_writers_machine(tmp_path, synth_ih26m_root, monkeypatch):
    """Written from a working folder with relative --data/--shards, and again with absolute ones elsewhere: the
    folders are byte for byte the same, and no file holds the working folder, the dataset folder's path or any
    absolute path (SHARD_FORMAT.md §5: names and dataset-relative paths only)."""
    where = tmp_path / "where-the-writer-ran"
    root = where / "datasets" / "InterHand2.6M"
    shutil.copytree(synth_ih26m_root, root)
    affected = _plant_errors(root)
    monkeypatch.chdir(where)
    options = ["--split", "test", "--max-errors", "1", "--no-progress", "--shard-samples", "16"]
    relative = CliRunner().invoke(main, ["shards", "--data", "datasets/InterHand2.6M", "--shards", "out", *options])
    assert relative.exit_code == 0, relative.output
    monkeypatch.chdir(tmp_path)
    absolute = CliRunner().invoke(main, ["shards", "--data", str(root), "--shards", str(tmp_path / "out"), *options])
    assert absolute.exit_code == 0, absolute.output
    folders = [shard_root / "interhand26m" / "all" / "test" for shard_root in (where / "out", tmp_path / "out")]
    assert _folder_bytes(folders[0]) == _folder_bytes(folders[1])
    folder = folders[0]
    errors = pq.read_table(folder / "errors.parquet").to_pylist()
    assert {row["annotation_id"] for row in errors} == affected and {row["stage"] for row in errors} == \
        {"annotation", "image"}
    assert all((root / row["source_file"]).parent.is_dir() for row in errors)  # relative to the dataset folder
    dataset = json.loads((folder / "dataset.json").read_text())
    assert dataset["command_line"][:2] == ["interhand", "shards"] and "--max-errors" in dataset["command_line"]
    assert (dataset["config"]["data"], dataset["config"]["shards"]) == ("InterHand2.6M", "out")
    assert all((root / source["path"]).is_file() for source in dataset["sources"])
    found = _strings(dataset) + _strings(errors) + _strings(pq.read_table(folder / "manifest.parquet").to_pylist())
    leaks = [text for text in found if str(tmp_path) in text or "where-the-writer-ran" in text or
             "datasets/" in text or text.startswith("/")]
    assert not leaks, leaks[:5]
    for path in folder.iterdir():  # the tars, indexes, cards, croissant.json, shardindex.json, SHA256SUMS
        data = path.read_bytes()
        assert str(tmp_path).encode() not in data and b"where-the-writer-ran" not in data, path.name
