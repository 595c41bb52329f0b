"""The synthetic InterHand2.6M dataset: real formats, consistent annotations, images drawn from them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from interhand.geometry.bbox import process_bbox
from interhand.geometry.camera import camera_to_pixel, world_to_camera
from interhand.skeleton import IH26M_JOINT_NAMES
from interhand.synth.common import to_gray_rgb
from interhand.synth.interhand26m import SPLITS, annotation_bbox
from interhand.synth.render import CameraView, render_hands
from interhand.synth.run import run as synth_run
from interhand.synth.scene import SynthCamera, capture_look, drawn_hands

from helpers import REAL_SAMPLES, SYNTH_IH26M, parse_skeleton_txt

BLOCKS = {"right": slice(0, 21), "left": slice(21, 42)}


def _load(root: Path, split: str, kind: str, folder: str | None = None):
    return json.loads((root / "annotations" / (folder or split) / f"InterHand2.6M_{split}_{kind}.json").read_text())


def _schema(value):
    """Keys, types and nesting of a JSON value; lists by the schema of their elements, dicts keyed by ids
    (digit strings) by the schema of their values."""
    if isinstance(value, dict):
        if value and all(key.isdigit() for key in value):
            return {"<id>": _merge([_schema(v) for v in value.values()])}
        return {key: _schema(v) for key, v in value.items()}
    if isinstance(value, list):
        return [_merge([_schema(v) for v in value])] if value else []
    return type(value).__name__


def _merge(schemas: list):
    unique = {json.dumps(s, sort_keys=True) for s in schemas}
    if len(unique) != 1:
        raise AssertionError(f"inconsistent element schemas: {sorted(unique)}")
    return schemas[0]


def test_files_parse_with_pycocotools_in_both_layouts(synth_ih26m_root):
    for split in SPLITS:
        coco = COCO(str(synth_ih26m_root / "annotations" / split / f"InterHand2.6M_{split}_data.json"))
        assert len(coco.anns) == SYNTH_IH26M.frames * SYNTH_IH26M.cameras
        assert all(ann["id"] == ann["image_id"] for ann in coco.anns.values())
    for subset in ("all", "human_annot", "machine_annot"):
        COCO(str(synth_ih26m_root / "annotations" / subset / "InterHand2.6M_train_data.json"))


def test_real_and_synthetic_files_share_one_schema(synth_ih26m_root):
    for kind in ("data", "camera", "joint_3d"):
        real = json.loads((REAL_SAMPLES / f"test_interhand2.6m_{kind}.json").read_text())
        synthetic = _load(synth_ih26m_root, "test", kind)
        assert _schema(synthetic) == _schema(real), kind


def test_every_valid_joint_projects_inside_its_image_and_onto_a_drawn_hand(synth_ih26m_root):
    split, split_index = "train", 0
    data, cameras, joints = (_load(synth_ih26m_root, split, kind) for kind in ("data", "camera", "joint_3d"))
    images = {image["id"]: image for image in data["images"]}
    checked_joints = 0
    for annotation in data["annotations"]:
        image = images[annotation["image_id"]]
        capture, name = str(image["capture"]), image["camera"]
        calibration = {key: np.array(cameras[capture][key][name]) for key in ("camrot", "campos", "focal", "princpt")}
        view = CameraView(calibration["camrot"], calibration["campos"], calibration["focal"], calibration["princpt"],
                          image["width"], image["height"])
        world = np.array(joints[capture][str(image["frame_idx"])]["world_coord"])
        joints_img = camera_to_pixel(world_to_camera(world, view.camrot, view.campos), view.focal, view.princpt)
        valid = np.array(annotation["joint_valid"]).ravel() > 0
        assert np.all((joints_img[valid] >= 0) & (joints_img[valid] < [image["width"], image["height"]]))
        # Re-render the frame from the files alone (plus the seed): it must be the JPEG on disk.
        camera = cameras[capture]
        rig = [SynthCamera(cam, CameraView(np.array(camera["camrot"][cam]), np.array(camera["campos"][cam]),
                                           np.array(camera["focal"][cam]), np.array(camera["princpt"][cam]),
                                           *_size(data, capture, cam)), cam.startswith("41"))
               for cam in camera["campos"]]
        look = capture_look(SYNTH_IH26M.seed, split_index, int(capture), rig)
        drawn = drawn_hands(annotation["hand_type"])
        hands = [world[BLOCKS[side]] for side in drawn]
        expected, mask = render_hands(look.backgrounds[name], hands, list(drawn), [look.appearance] * len(hands), view,
                                       look.light_dir)
        if name.startswith("41"):
            expected = to_gray_rgb(expected)
        on_disk = np.asarray(Image.open(synth_ih26m_root / "images" / split / image["file_name"]).convert("RGB"))
        assert np.abs(on_disk.astype(int) - expected.astype(int)).mean() < 3.0, image["file_name"]
        rounded = np.round(joints_img[valid]).astype(int)
        assert mask[rounded[:, 1], rounded[:, 0]].all(), f"a valid joint of {image['file_name']} is off the hands"
        checked_joints += int(valid.sum())
    assert checked_joints > 500


def _size(data: dict, capture: str, camera: str) -> tuple[int, int]:
    for image in data["images"]:
        if str(image["capture"]) == capture and image["camera"] == camera:
            return image["width"], image["height"]
    raise KeyError(camera)


def test_annotation_boxes_are_the_valid_joints_tight_box_enlarged_1_2(synth_ih26m_root):
    data, cameras, joints = (_load(synth_ih26m_root, "val", kind) for kind in ("data", "camera", "joint_3d"))
    images = {image["id"]: image for image in data["images"]}
    for annotation in data["annotations"][:20]:
        image = images[annotation["image_id"]]
        capture, name = str(image["capture"]), image["camera"]
        world = np.array(joints[capture][str(image["frame_idx"])]["world_coord"])
        camera = cameras[capture]
        cam = world_to_camera(world, np.array(camera["camrot"][name]), np.array(camera["campos"][name]))
        uv = camera_to_pixel(cam, np.array(camera["focal"][name]), np.array(camera["princpt"][name]))
        valid = np.array(annotation["joint_valid"]).ravel() > 0
        low, high = uv[valid].min(axis=0), uv[valid].max(axis=0)
        x, y, w, h = annotation["bbox"]
        np.testing.assert_allclose([w, h], (high - low) * 1.2, rtol=1e-4)
        np.testing.assert_allclose([x + w / 2, y + h / 2], (low + high) / 2, atol=1e-3)


def test_dataset_has_every_kind_of_frame_a_loader_must_handle(synth_ih26m_root):
    data = _load(synth_ih26m_root, "train", "data")
    joints = _load(synth_ih26m_root, "train", "joint_3d")
    assert {a["hand_type"] for a in data["annotations"]} == {"right", "left", "interacting"}
    assert {(i["width"], i["height"]) for i in data["images"]} == {(334, 512), (512, 334)}
    assert any(i["camera"].startswith("41") for i in data["images"])
    assert len({i["capture"] for i in data["images"]}) == SYNTH_IH26M.captures
    assert any(a["hand_type_valid"] == 0 for a in data["annotations"])
    partially_valid = [a for a in data["annotations"] if a["hand_type"] != "interacting"
                       and 0 < sum(v[0] for v in a["joint_valid"]) < 21]
    assert partially_valid, "no single-hand frame with some invalid joints"
    for frames in joints.values():
        for entry in frames.values():
            if entry["hand_type"] == "right":  # the absent hand holds [1, 1, 1] as in the real files
                assert np.all(np.array(entry["world_coord"])[21:] == 1.0)
                assert not any(v[0] for v in entry["joint_valid"][21:])


def test_gray_cameras_write_rgb_jpegs_with_equal_channels(synth_ih26m_root):
    data = _load(synth_ih26m_root, "test", "data")
    gray = next(i for i in data["images"] if i["camera"].startswith("41"))
    image = Image.open(synth_ih26m_root / "images" / "test" / gray["file_name"])
    assert image.mode == "RGB" and image.info.get("progressive")
    pixels = np.asarray(image).astype(int)
    assert np.abs(pixels[..., 0] - pixels[..., 1]).max() <= 2


def test_v0_subsets_partition_all_and_match_the_human_id_list(synth_ih26m_root):
    for split in ("train", "test"):
        ids = {subset: {a["id"] for a in _load(synth_ih26m_root, split, "data", subset)["annotations"]}
               for subset in ("all", "human_annot", "machine_annot")}
        assert ids["human_annot"] | ids["machine_annot"] == ids["all"]
        assert not ids["human_annot"] & ids["machine_annot"]
        listed = {int(line) for line in (synth_ih26m_root / f"aid_human_annot_{split}.txt").read_text().split()}
        assert listed == ids["human_annot"] and listed
        v0 = _load(synth_ih26m_root, split, "joint_3d", "all")
        v1 = _load(synth_ih26m_root, split, "joint_3d")
        capture = next(iter(v1))
        frame = next(iter(v1[capture]))
        assert v0[capture][frame] == v1[capture][frame]["world_coord"]
    assert not (synth_ih26m_root / "annotations" / "human_annot" / "InterHand2.6M_val_data.json").exists()


def test_rootnet_outputs_cover_every_eval_annotation_with_processed_gt_boxes(synth_ih26m_root):
    for split, v0_name in (("val", "machine_annot_val"), ("test", "all_test")):
        data = _load(synth_ih26m_root, split, "data")
        rootnet = json.loads(
            (synth_ih26m_root / "rootnet_output" / f"rootnet_interhand2.6m_output_{split}.json").read_text())
        assert (synth_ih26m_root / "rootnet_output" / f"rootnet_interhand2.6m_output_{v0_name}.json").exists()
        by_id = {record["annot_id"]: record for record in rootnet}
        assert set(by_id) == {a["id"] for a in data["annotations"]}
        for annotation in data["annotations"][:10]:
            record = by_id[annotation["id"]]
            np.testing.assert_allclose(record["bbox"], process_bbox(np.array(annotation["bbox"])), rtol=1e-5)
            assert len(record["abs_depth"]) == 2 and 500 < record["abs_depth"][0] < 2000


def test_mano_params_have_the_neuralannot_schema(synth_ih26m_root):
    mano = _load(synth_ih26m_root, "train", "MANO_NeuralAnnot")
    joints = _load(synth_ih26m_root, "train", "joint_3d")
    for capture, frames in mano.items():
        assert set(frames) == set(joints[capture])
        for frame, hands in frames.items():
            assert set(hands) == {"right", "left"}
            for side, params in hands.items():
                hand_valid = any(v[0] for v in joints[capture][frame]["joint_valid"][BLOCKS[side]])
                assert (params is not None) == hand_valid
                if params is not None:
                    assert [len(params[k]) for k in ("pose", "shape", "trans")] == [48, 10, 3]
                    assert 0.5 < params["trans"][2] < 2.0  # metres


def test_skeleton_file_lists_the_42_joints_with_wrists_as_roots(synth_ih26m_root):
    names, parents = parse_skeleton_txt((synth_ih26m_root / "annotations" / "skeleton.txt").read_text())
    assert names == IH26M_JOINT_NAMES
    assert parents[20] == parents[41] == -1 and parents[3] == 20 and parents[0] == 1


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path, synth_ih26m_root):
    again = tmp_path / "again"
    synth_run(SYNTH_IH26M, again, show_progress=False)
    assert _tree_digest(again) == _tree_digest(synth_ih26m_root)
    other = tmp_path / "other"
    synth_run(replace(SYNTH_IH26M, seed=1), other, show_progress=False)
    assert _tree_digest(other) != _tree_digest(synth_ih26m_root)


def test_synth_refuses_a_non_empty_folder_without_overwrite(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        synth_run(SYNTH_IH26M, tmp_path, show_progress=False)
    assert (tmp_path / "keep.txt").exists()


def test_a_box_of_one_valid_joint_falls_back_to_the_drawn_hands_so_that_shards_keep_the_frame():
    joints_img = np.array([[100.0, 50.0], [120.0, 90.0], [140.0, 70.0]])
    drawn = np.arange(3)
    x, y, w, h = annotation_bbox(joints_img, np.array([True, False, False]), drawn)
    assert w > 0 and h > 0 and x < 100.0 and x + w > 140.0  # the drawn joints' box, not a point
    assert annotation_bbox(joints_img, np.array([True, True, False]), drawn) == pytest.approx([98.0, 46.0, 24.0, 48.0])
