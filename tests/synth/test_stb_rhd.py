"""Synthetic STB and RHD: the parsed COCO formats the original loaders read."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

from interhand.geometry.bbox import process_bbox
from interhand.geometry.camera import camera_to_pixel
from interhand.skeleton import STB_RHD_JOINT_NAMES

from helpers import SYNTH_RHD, SYNTH_STB, parse_skeleton_txt


def _check_annotations(annotation_path, image_path_of, size):
    coco = COCO(str(annotation_path))
    for annotation in coco.anns.values():
        image = coco.imgs[annotation["image_id"]]
        assert (image["width"], image["height"]) == size
        joint_cam = np.array(annotation["joint_cam"])
        joint_img = np.array(annotation["joint_img"])
        assert joint_cam.shape == (21, 3) and joint_img.shape == (21, 2) and len(annotation["joint_valid"]) == 21
        projected = camera_to_pixel(joint_cam, image["cam_param"]["focal"], image["cam_param"]["princpt"])
        np.testing.assert_allclose(projected, joint_img, atol=1e-2)
        valid = np.array(annotation["joint_valid"]) > 0
        assert np.all((joint_img[valid] >= 0) & (joint_img[valid] < size))
        assert annotation["hand_type"] in ("left", "right")
        with Image.open(image_path_of(image)) as picture:
            assert picture.format == "PNG" and picture.size == size
    return coco


def test_stb_files_are_where_the_original_loader_reads_them(synth_stb_root):
    data = synth_stb_root / "data"
    for split in ("train", "test"):
        coco = _check_annotations(data / f"STB_{split}.json",
                                  lambda image: data / "images" / image["seq_name"] / image["file_name"], (640, 480))
        assert len(coco.imgs) == SYNTH_STB.frames
    names, _ = parse_skeleton_txt((data / "skeleton.txt").read_text())
    assert names == STB_RHD_JOINT_NAMES and names[0] == "l_wrist" and names[21] == "r_wrist"
    rootnet = json.loads((synth_stb_root / "rootnet_output" / "rootnet_stb_output.json").read_text())
    test = COCO(str(data / "STB_test.json"))
    assert {r["annot_id"] for r in rootnet} == set(test.anns)
    record = rootnet[0]
    assert isinstance(record["abs_depth"], float)
    np.testing.assert_allclose(record["bbox"], process_bbox(np.array(test.anns[record["annot_id"]]["bbox"])), rtol=1e-5)


def test_rhd_has_two_hand_images_with_one_annotation_per_hand(synth_rhd_root):
    data = synth_rhd_root / "data"
    for folder in ("training", "evaluation"):
        coco = _check_annotations(data / f"RHD_{folder}.json",
                                  lambda image: data / folder / "color" / image["file_name"], (320, 320))
        assert len(coco.imgs) == SYNTH_RHD.frames
    training = COCO(str(data / "RHD_training.json"))
    two_hands = [image_id for image_id, anns in training.imgToAnns.items() if len(anns) == 2]
    assert two_hands, "no RHD image with both hands"
    assert {a["hand_type"] for a in training.imgToAnns[two_hands[0]]} == {"left", "right"}
    assert (synth_rhd_root / "rootnet_output" / "rootnet_rhd_output.json").exists()
