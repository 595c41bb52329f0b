"""mmpose's `tools/test.py --dump` pickle as a prediction file (#30): read with an allow-list, converted to the
image_relative form; pickles that try to run code, name other classes or declare giant arrays are refused in one
line before anything runs (a marker file the payload would create never appears)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from interhand.cli import main
from interhand.eval.mmpose_dump import PICKLE_BYTES_PER_SAMPLE
from interhand.eval.predictions import read_predictions

from helpers import score_refused


def _image_relative(rows: dict, noise_mm: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(u, v px (N, 42, 2), depth minus the own wrist's mm (N, 42), left minus right wrist depth (N,)) of the ground
    truth, the camera joints shifted by `noise_mm` of seeded noise before projecting."""
    cam = rows["joints_cam_mm"] + np.random.default_rng(3).normal(0, noise_mm, rows["joints_cam_mm"].shape)
    focal, princpt = rows["focal"][:, None, :], rows["princpt"][:, None, :]
    uv = cam[..., :2] / cam[..., 2:] * focal + princpt
    depth = cam[..., 2].copy()
    depth[:, :21] -= cam[:, 20:21, 2]
    depth[:, 21:] -= cam[:, 41:42, 2]
    return uv, depth, cam[:, 41, 2] - cam[:, 20, 2]


def _mmpose_dump(rows: dict, path: Path, noise_mm: float = 0.0) -> Path:
    """The structure mmengine's DumpResults writes for mmpose's InterNet config (pickle protocol 2, one
    PoseDataSample.to_dict() a sample): the meta keys of PackPoseInputs, gt_instances, an empty gt_instance_labels,
    and pred_instances as InternetHead.decode and TopdownPoseEstimator.add_pred_to_datasample leave them."""
    uv, rel_depth, rel_root = _image_relative(rows, noise_mm)
    hand_code = {"right": [1, 0], "left": [0, 1], "interacting": [1, 1]}
    results = []
    for i, annotation_id in enumerate(rows["annotation_id"].tolist()):
        keypoints = np.concatenate([uv[i], rel_depth[i][:, None]], axis=1)[None].astype(np.float32)
        scores = np.ones((1, 42), np.float32)
        hand_type = np.array([hand_code[str(rows["hand_type"][i])]])
        results.append({
            "id": annotation_id, "img_id": 1000 + i, "img_shape": (512, 334), "rotation": 0, "flip": False,
            "img_path": f"data/interhand2.6m/images/val/Capture0/ROM01/cam400262/image{annotation_id}.jpg",
            "focal": rows["focal"][i].astype(np.float32), "principal_pt": rows["princpt"][i].astype(np.float32),
            "input_size": (256, 256), "input_center": np.array([160.0, 250.0], np.float32),
            "input_scale": np.array([200.0, 200.0], np.float32), "hand_type": hand_type,
            "hand_type_valid": np.array([1]), "abs_depth": [np.float32(rows["abs_depth_gt_mm"][i][0]),
                                                            np.float32(rows["abs_depth_gt_mm"][i][1])],
            "flip_indices": list(range(21, 42)) + list(range(21)),
            "gt_instances": {"bboxes": np.array([[10.0, 20.0, 210.0, 220.0]], np.float32),
                             "bbox_scores": np.ones(1, np.float32),
                             "keypoints_cam": rows["joints_cam_mm"][i][None].astype(np.float32),
                             "keypoints_visible": rows["joint_valid"][i][None].astype(np.float32)},
            "gt_instance_labels": {},
            "pred_instances": {"keypoints": keypoints, "keypoint_scores": scores, "keypoints_visible": scores,
                               "rel_root_depth": np.array([rel_root[i]], np.float32),
                               "hand_type": (hand_type > 0).astype(int),
                               "bboxes": np.array([[10.0, 20.0, 210.0, 220.0]], np.float32),
                               "bbox_scores": np.ones(1, np.float32)}})
    with path.open("wb") as handle:
        pickle.dump(results, handle, protocol=2)  # mmengine's PickleHandler default
    return path


def _score(paths: list[Path], shards_root: Path, out: Path, *options: str) -> dict:
    result = CliRunner().invoke(main, ["score", *map(str, paths), "--shards", str(shards_root), "--out-dir", str(out),
                                       *options])
    assert result.exit_code == 0, result.output
    return {(folder.parent.name, folder.name): json.loads((folder / "metrics.json").read_text())
            for folder in out.glob("*/*") if (folder / "metrics.json").exists()}


def test_an_mmpose_dump_is_read_as_image_relative_and_scores_as_its_npz(shards_root, val_rows, tmp_path):
    dump = _mmpose_dump(val_rows, tmp_path / "mmpose.pkl", noise_mm=6.0)
    predictions = read_predictions(dump)
    assert predictions.form == "image_relative"
    assert predictions.metadata == {"dataset": "interhand26m", "split": "val", "root_source": "gt",
                                    "source": "mmpose tools/test.py --dump"}
    assert predictions.annotation_ids.tolist() == val_rows["annotation_id"].tolist()
    assert dump.stat().st_size / len(val_rows["key"]) < PICKLE_BYTES_PER_SAMPLE / 2  # the cap leaves room
    uv, rel_depth, rel_root = _image_relative(val_rows, 6.0)
    npz = tmp_path / "same.npz"
    np.savez(npz, dataset="interhand26m", split="val", root_source="gt", annotation_id=val_rows["annotation_id"],
             joints_img_px=uv.astype(np.float32), joints_rel_depth_mm=rel_depth.astype(np.float32),
             rel_root_depth_mm=rel_root.astype(np.float32),
             hand_type_prob=predictions.arrays["hand_type_prob"])
    scores = _score([dump, npz], shards_root, tmp_path / "out", "--protocol", "internet,mmpose")
    for protocol in ("internet", "mmpose"):
        ours, theirs = scores[("mmpose", protocol)], scores[("same", protocol)]
        assert ours["mpjpe"] == theirs["mpjpe"] and ours["mrrpe"] == theirs["mrrpe"], protocol
        assert ours["mpjpe"]["all"] > 1.0 and ours["root_source"] == "gt"
        assert ours["handedness_accuracy"] == theirs["handedness_accuracy"] == 1.0


def test_a_perfect_mmpose_dump_scores_zero(shards_root, val_rows, tmp_path):
    dump = _mmpose_dump(val_rows, tmp_path / "perfect.pkl")
    scores = _score([dump], shards_root, tmp_path / "out", "--protocol", "internet,mmpose")
    for metrics in scores.values():
        assert metrics["mpjpe"]["all"] < 1e-3 and metrics["mrrpe"] < 1e-3, metrics["mpjpe"]


# --- hostile pickles: refused in one line, nothing run ---

class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class _NotAllowed:
    pass


class _GiantArray:
    """Calls numpy's own array reconstruction with a declared shape of 10^12 bytes."""

    def __reduce__(self):
        return np.ndarray.__reduce__(np.zeros(1))[0], (np.ndarray, (10**12,), b"b")


def _shell(marker: Path) -> bytes:
    return pickle.dumps([{"pred_instances": {"keypoints": _RunsShell(marker)}}], protocol=2)


def _state_bomb() -> bytes:
    """numpy's own _reconstruct, then a state declaring (10^11,) float64 with 8 bytes of data."""
    array = np.zeros(1)
    function, arguments, state = array.__reduce__()
    state = (state[0], (10**11,), *state[2:])

    class Declares:
        def __reduce__(self):
            return function, arguments, state

    return pickle.dumps([Declares()], protocol=2)


HOSTILE = {
    "os.system via __reduce__": (_shell, "posix.system, which is not a numpy array, dtype or builtin container"),
    "a class outside the allow-list": (lambda marker: pickle.dumps([_NotAllowed()], protocol=2),
                                      "_NotAllowed, which is not"),
    "collections.OrderedDict": (lambda marker: pickle.dumps(__import__("collections").OrderedDict(a=1), protocol=4),
                                "collections.OrderedDict"),
    "a giant declared array": (lambda marker: pickle.dumps([_GiantArray()], protocol=2),
                               "shape (1000000000000,)"),
    "a state declaring 10^11 values": (lambda marker: _state_bomb(), "cannot be read as an mmpose dump pickle"),
    "an object array": (lambda marker: pickle.dumps([np.array([1, "a"], dtype=object)], protocol=2),
                        "dtype object is not a plain number"),
    "a truncated pickle": (lambda marker: pickle.dumps([1, 2, 3], protocol=2)[:-3],
                           "cannot be read as an mmpose dump pickle"),
    "a list of numbers": (lambda marker: pickle.dumps([1, 2, 3], protocol=2), "expected mmpose's dump"),
}


def _refused(path: Path, shards_root: Path, tmp_path: Path) -> str:
    return score_refused(path, shards_root, tmp_path / "out", "--split", "val")[0]


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_pickle_is_refused_in_one_line_without_running_anything(case, shards_root, tmp_path):
    marker = tmp_path / "ran"
    write, message = HOSTILE[case]
    path = tmp_path / "dump.pkl"
    path.write_bytes(write(marker))
    output, peak = score_refused(path, shards_root, tmp_path / "out", "--split", "val")
    assert message in output, output
    assert not marker.exists(), "the pickle's payload ran"
    assert peak < 64 * 2**20, f"{case}: {peak / 2**20:.0f} MiB allocated before the refusal"


def test_a_pickle_over_the_size_cap_is_refused_before_reading(shards_root, tmp_path):
    path = tmp_path / "sparse.pkl"
    with path.open("wb") as handle:
        handle.truncate(2 * 2**30)  # 2 GiB of holes: over the cap whatever the split
    assert "refused before reading" in _refused(path, shards_root, tmp_path)


def test_a_dump_without_the_split_in_its_image_paths_is_refused(shards_root, val_rows, tmp_path):
    dump = _mmpose_dump({name: values[:3] for name, values in val_rows.items()}, tmp_path / "dump.pkl")
    with dump.open("rb") as handle:
        results = pickle.load(handle)
    results[1]["img_path"] = "somewhere/image1.jpg"
    dump.write_bytes(pickle.dumps(results, protocol=2))
    assert "results[1]: img_path 'somewhere/image1.jpg' does not name the split" in _refused(dump, shards_root,
                                                                                              tmp_path)


def test_the_converter_writes_the_npz_interhand_score_reads(val_rows, tmp_path):
    dump = _mmpose_dump(val_rows, tmp_path / "dump.pkl", noise_mm=2.0)
    from interhand.eval.mmpose_dump import convert_mmpose_dump

    npz = convert_mmpose_dump(dump, tmp_path / "dump.npz")
    converted, direct = read_predictions(npz), read_predictions(dump)
    assert converted.form == direct.form == "image_relative" and converted.metadata == direct.metadata
    for name, values in direct.arrays.items():
        np.testing.assert_array_equal(converted.arrays[name], values, err_msg=name)
    with pytest.raises(FileExistsError):
        convert_mmpose_dump(dump, npz)
