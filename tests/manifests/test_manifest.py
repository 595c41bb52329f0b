"""Manifests: one typed schema, version-checked reading, queries without opening a tar."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interhand.config import PreprocessConfig
from interhand.manifests.query import select_samples, shard_urls
from interhand.manifests.read import read_errors, read_manifest, stream_batches
from interhand.manifests.schema import MANIFEST_SCHEMA
from interhand.preprocess.run import run, shard_dir
from interhand.shard_format.dataset_json import read_dataset_json
from interhand.shard_format.version import FORMAT_VERSION, FormatVersionError


@pytest.fixture(scope="module")
def real_shards(tmp_path_factory, real_ih26m_root) -> Path:
    config = PreprocessConfig(data=str(real_ih26m_root), split="test", shards=str(tmp_path_factory.mktemp("m")),
                              progress=False)
    run(config)
    return shard_dir(config)


def test_manifest_columns_are_typed_arrays_not_blobs(real_shards):
    manifest = read_manifest(real_shards)
    assert manifest.schema.equals(MANIFEST_SCHEMA, check_metadata=False)
    assert manifest.schema.field("joints_img").type == pa.list_(pa.list_(pa.float32(), 3), 42)
    assert manifest.num_rows == 4 and read_errors(real_shards).num_rows == 0
    assert read_dataset_json(real_shards).counts.input_annotations == 4


def test_select_samples_filters_by_hand_type_camera_and_valid_joints(real_shards):
    interacting = select_samples(real_shards, hand_type="interacting", columns=["key", "camera"])
    assert interacting.num_rows == 2 and interacting.column_names == ["key", "camera"]
    right = select_samples(real_shards, hand_type="right", min_valid_joints=1)
    assert right.num_rows == 1 and right["num_valid_left"][0].as_py() == 0
    assert shard_urls(real_shards, right) == [str(real_shards / "test-000000.tar")]


def test_duckdb_reads_the_manifest_arrays(real_shards):
    depth = duckdb.sql(f"SELECT joints_cam_mm[21][3] FROM '{real_shards}/manifest.parquet' "
                       "WHERE hand_type = 'right'").fetchall()[0][0]
    row = select_samples(real_shards, hand_type="right").to_pylist()[0]
    assert depth == pytest.approx(row["abs_depth_gt_mm"][0])


def test_readers_reject_a_manifest_or_dataset_json_of_another_version(real_shards, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(real_shards, copy)
    table = pq.read_table(copy / "manifest.parquet")
    pq.write_table(table.replace_schema_metadata({b"format_version": b"7"}), copy / "manifest.parquet")
    with pytest.raises(FormatVersionError, match="7 found"):
        read_manifest(copy)
    dataset = json.loads((copy / "dataset.json").read_text())
    (copy / "dataset.json").write_text(json.dumps(dict(dataset, format_version=0)))
    with pytest.raises(FormatVersionError, match=f"0 found, this code reads {FORMAT_VERSION}"):
        read_dataset_json(copy)


def test_manifest_arrays_equal_the_ann_records_in_the_shards(real_shards):
    from interhand.shard_format.ann_codec import decode_ann

    for row in read_manifest(real_shards).to_pylist():
        with open(real_shards / row["shard"], "rb") as shard:
            shard.seek(row["ann_offset"])
            ann = decode_ann(shard.read(row["ann_size"]))
        np.testing.assert_array_equal(np.asarray(row["joints_img"], np.float32), ann["joints_img"])
        np.testing.assert_array_equal(np.asarray(row["camrot"], np.float32), ann["camrot"])
        assert row["root_joint_index"] == [20, 41] and row["rootnet_valid"] == 0 and row["rootnet_bbox"] == [0.0] * 4
        assert row["mano_left_valid"] == 0 and row["mano_left_pose"] == [0.0] * 48


def test_queries_read_only_the_columns_they_need_and_list_each_shard_once(synth_ih26m_shards, monkeypatch):
    # Columns, not objects (#31): a full-size manifest's joint arrays are GBs, a query names what it reads.
    from interhand.manifests import query

    split = synth_ih26m_shards / "train"
    read = []
    monkeypatch.setattr(query, "read_manifest", lambda folder, columns=None: read.append(columns)
                        or read_manifest(folder, columns=columns))
    picked = select_samples(split, camera="400002", min_valid_joints=3, columns=["key", "shard", "shard_index"])
    assert read == [["key", "shard", "shard_index", "num_valid_right", "num_valid_left", "camera"]]
    everything = read_manifest(split)
    valid = pa.compute.add(everything["num_valid_right"], everything["num_valid_left"]).to_numpy() >= 3
    expected = everything.filter(pa.array(valid & (everything["camera"].to_numpy(zero_copy_only=False) == "400002")))
    assert 0 < picked.num_rows < everything.num_rows and picked["key"].equals(expected["key"])
    names = sorted(set(zip(everything["shard_index"].to_pylist(), everything["shard"].to_pylist())))
    assert shard_urls(split) == [str(split / name) for _, name in names] and len(names) == 5
    assert shard_urls(split, picked) == [str(split / name) for _, name in sorted(set(
        zip(picked["shard_index"].to_pylist(), picked["shard"].to_pylist())))]


def test_every_column_of_both_files_is_required_and_a_null_is_refused(real_shards, tmp_path):
    from interhand.manifests.schema import ERRORS_SCHEMA
    from interhand.manifests.write import write_errors

    for name, schema in (("manifest.parquet", MANIFEST_SCHEMA), ("errors.parquet", ERRORS_SCHEMA)):
        stored = pq.ParquetFile(real_shards / name)
        assert [field.nullable for field in stored.schema_arrow] == [False] * len(schema), name
        assert stored.schema_arrow.equals(schema, check_metadata=False)
    row = {"source_file": "a.json", "annotation_id": 1, "key": "", "capture": -1, "camera": None, "hand_type": "",
           "stage": "annotation", "reason": "r"}
    with pytest.raises(ValueError, match="column camera has 1 null value"):
        write_errors([row], tmp_path / "errors.parquet")
    assert not (tmp_path / "errors.parquet").exists()


def _as_written_before(folder: Path, data_folder: Path) -> None:
    """`folder` as #29 found it: both Parquet files with nullable columns (errors.parquet without capture, camera,
    hand_type), dataset.json's config.data the path as given; its digests and published files made again."""
    from interhand.preprocess.publish import write_published_files
    from interhand.shard_format.dataset_json import file_sha256, load_dataset_json

    manifest = pq.read_table(folder / "manifest.parquet")
    nullable = pa.schema([field.with_nullable(True) for field in manifest.schema], metadata=manifest.schema.metadata)
    pq.write_table(manifest.cast(nullable), folder / "manifest.parquet", compression="zstd")
    errors = pq.read_table(folder / "errors.parquet").select(["source_file", "annotation_id", "key", "stage", "reason"])
    old = pa.schema([field.with_nullable(True) for field in errors.schema], metadata=errors.schema.metadata)
    pq.write_table(errors.cast(old), folder / "errors.parquet", compression="zstd")
    dataset = json.loads((folder / "dataset.json").read_text())
    dataset["config"]["data"], dataset["command_line"] = str(data_folder), ["/usr/bin/interhand", "shards"]
    for name in ("manifest.parquet", "errors.parquet"):
        dataset["files"][name] = {"bytes": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)}
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=1) + "\n")
    write_published_files(folder, load_dataset_json(folder / "dataset.json"))


def test_a_folder_written_before_the_columns_were_required_is_still_read(real_shards, real_ih26m_root, tmp_path):
    """No version bump for the required columns: the loaders, eval, score and verify read an older folder alike
    (and verify --check-sources finds its sources at the path it recorded)."""
    from interhand.config import EvalConfig, LoaderConfig
    from interhand.eval.score_file import read_rows
    from interhand.eval.split_folder import open_split
    from interhand.loaders.build import build_loader
    from interhand.preprocess.verify import verify_shard_dir, verify_split_folder

    folder = tmp_path / "interhand26m" / "all" / "test"
    shutil.copytree(real_shards, folder)
    _as_written_before(folder, real_ih26m_root)
    assert pq.ParquetFile(folder / "manifest.parquet").schema_arrow.field("key").nullable
    assert verify_shard_dir(folder) == []
    assert verify_split_folder(folder, check_sources=True) == []
    assert read_manifest(folder).num_rows == 4 and read_errors(folder).num_rows == 0
    assert len(read_rows(folder)["key"]) == 4
    loader = build_loader(folder, LoaderConfig(backend="reference", augment=False, threads=0, batch_size=2))
    assert sorted(key for batch in loader for key in batch.keys) == sorted(read_manifest(folder)["key"].to_pylist())
    open_split(EvalConfig(shards=str(tmp_path), split="test", root_source="gt"))


def test_a_new_folder_needs_the_source_root_said_in_one_line(real_shards):
    from interhand.preprocess.verify import verify_split_folder

    problems = verify_split_folder(real_shards, check_sources=True)
    assert len(problems) == 1 and "('InterHand2.6M', no path): pass --source-root DATA_DIR" in problems[0]


def test_a_streamed_manifest_holds_a_few_row_groups_of_arrow_memory_not_the_file(tmp_path):
    # #31: pyarrow's default iter_batches kept every row group it had read (verify of the full-size train manifest
    # peaked at 1.8 GiB); read as a buffered stream, the peak stays at a few row groups whatever the file's length.
    rows, group = 100_000, 2_000  # 50 row groups
    joints = np.random.default_rng(0).normal(size=rows * 126).astype(np.float32)
    table = pa.table({"key": pa.array([f"k{i:08d}" for i in range(rows)]),
                      "joints_cam_mm": pa.FixedSizeListArray.from_arrays(pa.array(joints), 126)})
    pq.write_table(table, tmp_path / "manifest.parquet", row_group_size=group)
    before, peak, seen = pa.total_allocated_bytes(), 0, 0
    for batch in stream_batches(tmp_path / "manifest.parquet", 500, ["key", "joints_cam_mm"]):
        peak, seen = max(peak, pa.total_allocated_bytes() - before), seen + batch.num_rows
    assert seen == rows
    assert peak < 10 * table.slice(0, group).nbytes, (peak, table.nbytes)  # the default reader: ~40 of them
