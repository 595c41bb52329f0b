"""Source readers: the real samples and the synthetic datasets become the Samples the original would build."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from interhand.config import PreprocessConfig
from interhand.preprocess.sources import Rejection, SourceError, open_source
from interhand.shard_format.sample import Sample


def _records(root: Path, **options) -> list:
    return list(open_source(PreprocessConfig(data=str(root), progress=False, **options)).records())


def _original_projection(world, camrot, campos, focal, princpt):
    """The original's world2cam / cam2pixel, written out as it is there (column vectors)."""
    cam = (np.dot(camrot, world.T - campos.reshape(3, 1))).T
    u = cam[:, 0] / (cam[:, 2] + 1e-8) * focal[0] + princpt[0]
    v = cam[:, 1] / (cam[:, 2] + 1e-8) * focal[1] + princpt[1]
    return cam, np.stack([u, v], axis=1)


def test_real_samples_project_like_the_original_loader(real_ih26m_root):
    samples = _records(real_ih26m_root, split="test")
    assert [type(s) for s in samples] == [Sample] * 4
    folder = real_ih26m_root / "annotations" / "test"
    cameras = json.loads((folder / "InterHand2.6M_test_camera.json").read_text())
    joints = json.loads((folder / "InterHand2.6M_test_joint_3d.json").read_text())
    for sample in samples:
        calibration = {k: np.array(v[sample.camera], np.float32) for k, v in cameras[str(sample.capture)].items()}
        world = np.array(joints[str(sample.capture)][str(sample.frame_idx)]["world_coord"], np.float32)
        cam, uv = _original_projection(world, calibration["camrot"], calibration["campos"], calibration["focal"],
                                       calibration["princpt"])
        np.testing.assert_allclose(sample.joints_cam_mm, cam, atol=1e-3)
        np.testing.assert_allclose(sample.joints_img[:, :2], uv, atol=1e-3)
        np.testing.assert_allclose(sample.joints_img[:, 2], cam[:, 2], atol=1e-3)
        assert Path(sample.image_path).is_file() and sample.key.startswith("ih26m-test-")
        assert sample.bbox[2] == pytest.approx(sample.bbox[3])  # process_bbox makes it square
        assert sample.bbox[2] == pytest.approx(1.25 * max(sample.bbox_raw[2:]), rel=1e-5)


def test_the_absent_hand_of_a_right_only_frame_is_masked_not_rejected(real_ih26m_root):
    right_only = next(s for s in _records(real_ih26m_root, split="test") if s.hand_type == "right")
    assert right_only.joint_valid[21:].sum() == 0 and right_only.joint_valid[:21].sum() > 0
    assert np.isfinite(right_only.joints_world_mm[21:]).all()  # garbage values are kept, the mask says it


def test_synthetic_splits_join_rootnet_for_eval_and_mano_when_present(synth_ih26m_root):
    train = _records(synth_ih26m_root, split="train")
    test = _records(synth_ih26m_root, split="test")
    assert all(isinstance(s, Sample) for s in train + test)
    assert all(s.rootnet_abs_depth_mm is None for s in train)
    assert all(s.rootnet_abs_depth_mm is not None for s in test)
    assert any(s.mano for s in train)
    assert len({s.capture for s in train}) == 2 and len({s.camera for s in train}) >= 4


def test_human_subset_of_v1_selects_exactly_the_aid_list(synth_ih26m_root):
    ids = {int(line) for line in (synth_ih26m_root / "aid_human_annot_train.txt").read_text().split()}
    human = _records(synth_ih26m_root, split="train", annot_subset="human_annot")
    machine = _records(synth_ih26m_root, split="train", annot_subset="machine_annot")
    everything = _records(synth_ih26m_root, split="train")
    assert {s.annotation_id for s in human} == ids
    assert len(human) + len(machine) == len(everything)


def test_v0_layout_reads_bare_joint_lists_like_v1(synth_ih26m_root):
    v0 = {s.annotation_id: s
          for s in _records(synth_ih26m_root, split="val", layout="v0.0", annot_subset="machine_annot")}
    v1 = {s.annotation_id: s for s in _records(synth_ih26m_root, split="val")}
    assert v0 and set(v0) <= set(v1)
    some = next(iter(v0))
    np.testing.assert_allclose(v0[some].joints_img, v1[some].joints_img, atol=1e-3)


def test_stb_and_rhd_place_the_single_hand_in_their_own_joint_order(synth_stb_root, synth_rhd_root):
    for root, dataset in ((synth_stb_root, "stb"), (synth_rhd_root, "rhd")):
        samples = _records(root, dataset=dataset, split="test")
        assert samples and all(isinstance(s, Sample) for s in samples)
        for sample in samples:
            block = slice(21, 42) if sample.hand_type == "right" else slice(0, 21)
            other = slice(0, 21) if sample.hand_type == "right" else slice(21, 42)
            assert sample.joint_valid[other].sum() == 0 and sample.joint_valid[block].sum() > 0
            assert sample.root_joint_index == (21, 0) and Path(sample.image_path).suffix == ".png"
            assert sample.rootnet_abs_depth_mm is not None


def test_a_missing_split_is_one_error_naming_what_was_looked_for(synth_ih26m_root, synth_stb_root):
    with pytest.raises(SourceError, match="InterHand2.6M_val_data.json"):
        open_source(PreprocessConfig(data=str(synth_ih26m_root / "annotations"), split="val"))
    with pytest.raises(SourceError, match="STB has no val split"):
        open_source(PreprocessConfig(dataset="stb", data=str(synth_stb_root), split="val"))


def test_generic_coco_keypoints_follow_the_documented_minimal_schema(tmp_path, real_ih26m_root):
    image = next((real_ih26m_root / "images").rglob("*.jpg"))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "hand.jpg").write_bytes(image.read_bytes())
    keypoints = [v for j in range(21) for v in (10.0 + j, 20.0 + j, 2)]
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "train.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "hand.jpg", "width": 334, "height": 512}],
        "annotations": [{"id": 5, "image_id": 1, "bbox": [10, 20, 30, 40], "keypoints": keypoints,
                         "hand_type": "left"}]}))
    (sample,) = _records(tmp_path, dataset="coco", split="train")
    assert sample.key == "coco-train-000000005" and sample.joint_valid[21:].all() and not sample.joint_valid[:21].any()
    np.testing.assert_array_equal(sample.joints_img[21, :2], [10, 20])


def test_every_input_annotation_yields_exactly_one_record(real_ih26m_root):
    records = _records(real_ih26m_root, split="test")
    data = json.loads((real_ih26m_root / "annotations/test/InterHand2.6M_test_data.json").read_text())
    assert len(records) == len(data["annotations"]) and not any(isinstance(r, Rejection) for r in records)
