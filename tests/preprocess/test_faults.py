"""Bad input becomes errors.parquet rows with readable reasons; the job goes on; nothing is lost silently."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from interhand.config import PreprocessConfig
from interhand.preprocess.run import TooManyErrors, run, shard_dir
from interhand.preprocess.sources import SourceError


def _data_path(root: Path) -> Path:
    return root / "annotations" / "test" / "InterHand2.6M_test_data.json"


@pytest.fixture
def faulty_root(tmp_path, real_ih26m_root) -> Path:
    """The real samples with six faults: missing image, truncated JPEG, NaN joints, duplicate id, no camera,
    no 3D joints for the frame."""
    root = tmp_path / "InterHand2.6M"
    shutil.copytree(real_ih26m_root, root)
    data = json.loads(_data_path(root).read_text())
    by_type = {image["id"]: image for image in data["images"]}
    first, second, third, fourth = data["annotations"]
    (root / "images" / "test" / by_type[first["image_id"]]["file_name"]).unlink()
    truncated = root / "images" / "test" / by_type[second["image_id"]]["file_name"]
    truncated.write_bytes(truncated.read_bytes()[:5000])
    joints_path = root / "annotations" / "test" / "InterHand2.6M_test_joint_3d.json"
    joints = json.loads(joints_path.read_text())
    image = by_type[third["image_id"]]
    joints[str(image["capture"])][str(image["frame_idx"])]["world_coord"][3][0] = float("nan")
    joints_path.write_text(json.dumps(joints))
    data["annotations"].append(dict(fourth))  # duplicate id
    orphan = dict(by_type[fourth["image_id"]], id=999, camera="499999")
    data["images"].append(orphan)
    data["annotations"].append(dict(fourth, id=1000, image_id=999))  # camera missing from the camera file
    data["images"].append(dict(by_type[fourth["image_id"]], id=998, frame_idx=12345678))
    data["annotations"].append(dict(fourth, id=1001, image_id=998))  # no 3D joints for that frame
    _data_path(root).write_text(json.dumps(data))
    return root


def test_each_fault_is_one_error_row_with_a_reason_and_counts_add_up(tmp_path, faulty_root):
    config = PreprocessConfig(data=str(faulty_root), split="test", shards=str(tmp_path / "out"), progress=False,
                              max_errors=1.0)
    summary = run(config)
    out = shard_dir(config)
    errors = pq.read_table(out / "errors.parquet").to_pylist()
    reasons = " | ".join(sorted(row["reason"] for row in errors))
    for expected in ("image file missing", "truncated JPEG", "non-finite joints_world_mm", "duplicate annotation id",
                     "camera 499999 of capture",
                     "no 3D joints for capture"):
        assert expected in reasons
    assert summary.samples == 1 and summary.errors == 6
    counts = json.loads((out / "dataset.json").read_text())["counts"]
    assert counts["input_annotations"] == counts["samples"] + counts["errors"] == 7
    assert all(row["key"].startswith("ih26m-test-") and row["source_file"] for row in errors)


def test_too_many_errors_fails_after_writing_everything(tmp_path, faulty_root):
    config = PreprocessConfig(data=str(faulty_root), split="test", shards=str(tmp_path / "out"), progress=False)
    with pytest.raises(TooManyErrors, match="max-errors"):
        run(config)
    assert (shard_dir(config) / "errors.parquet").is_file()


def test_a_bbox_that_overflows_float32_once_processed_is_an_error_row_not_an_abort(tmp_path, real_ih26m_root):
    root = tmp_path / "InterHand2.6M"
    shutil.copytree(real_ih26m_root, root)
    data = json.loads(_data_path(root).read_text())
    data["annotations"][1]["bbox"] = [-3.0e38, 20.0, 3.4e38, 100.0]  # finite in float32, ×1.25 is not
    _data_path(root).write_text(json.dumps(data))
    config = PreprocessConfig(data=str(root), split="test", shards=str(tmp_path / "out"), progress=False,
                              max_errors=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy overflow warning either
        summary = run(config)
    (error,) = pq.read_table(shard_dir(config) / "errors.parquet").to_pylist()
    assert summary.samples == 3 and error["annotation_id"] == data["annotations"][1]["id"]
    assert "overflows float32" in error["reason"] and error["stage"] == "annotation"


def test_empty_and_unreadable_annotation_files_are_one_clear_error(tmp_path, real_ih26m_root):
    root = tmp_path / "InterHand2.6M"
    shutil.copytree(real_ih26m_root, root)
    config = PreprocessConfig(data=str(root), split="test", shards=str(tmp_path / "out"), progress=False)
    _data_path(root).write_text("")
    with pytest.raises(SourceError, match="InterHand2.6M_test_data.json.*empty file"):
        run(config)
    _data_path(root).write_text('{"images": [{"id": 1,')
    with pytest.raises(SourceError, match="InterHand2.6M_test_data.json.*truncated"):
        run(config)


def test_the_cli_reports_a_structural_problem_in_one_line_without_a_traceback(tmp_path):
    from click.testing import CliRunner

    from interhand.cli import main

    (tmp_path / "nowhere" / "annotations").mkdir(parents=True)  # a dataset folder without the split
    result = CliRunner().invoke(main, ["shards", "--data", str(tmp_path / "nowhere"), "--split", "val", "--shards",
                                       str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no InterHand2.6M val split" in result.output and "InterHand2.6M_val_data.json" in result.output


def test_parallel_ingest_gives_the_samples_rejections_and_spill_of_the_serial_one(tmp_path, faulty_root):
    from concurrent.futures import ProcessPoolExecutor

    from interhand.preprocess.ingest import ingest, ingest_parallel, spill_records
    from interhand.preprocess.sources import open_source
    from interhand.preprocess.spill import read_spilled

    config = PreprocessConfig(data=str(faulty_root), split="test", progress=False)
    serial = ingest(open_source(config), tmp_path / "serial.spill")
    with ProcessPoolExecutor(2) as pool:  # chunks of 2 records: the shares interleave, faults fall in both
        parallel = ingest_parallel(config, [tmp_path / "a.spill", tmp_path / "b.spill"], pool, chunk_size=2)
    assert parallel.rejections == serial.rejections and len(serial.rejections) == 5  # the truncated JPEG: at write
    assert (parallel.samples, parallel.lengths, parallel.image_bytes, parallel.interacting, parallel.digests) == \
        (serial.samples, serial.lengths, serial.image_bytes, serial.interacting, serial.digests)
    everything = list(range(serial.samples))
    opened = [[open(path, "rb") for path in result.spill_paths] for result in (serial, parallel)]
    (serial_anns, serial_infos), (parallel_anns, parallel_infos) = [
        read_spilled(spills, spill_records(result, everything)) for spills, result in zip(opened, (serial, parallel))]
    for spill in opened[0] + opened[1]:
        spill.close()
    assert serial_anns.tobytes() == parallel_anns.tobytes() and serial_infos == parallel_infos
