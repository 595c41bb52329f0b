"""`interhand predict` end to end on a tiny checkpoint (its warp is the loaders', tested there)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from interhand.cli import main
from interhand.config import ModelConfig
from interhand.model import InterNet, save_checkpoint


@pytest.fixture()
def tiny_checkpoint(tmp_path):
    model = InterNet(ModelConfig(resnet_type=18))
    return save_checkpoint(tmp_path / "tiny.pt", model, epoch=0)


def test_interhand_predict_writes_both_plots_and_prints_joints_as_json(tmp_path, tiny_checkpoint):
    image_path = tmp_path / "input.jpg"
    Image.fromarray((np.random.default_rng(1).random((240, 320, 3)) * 255).astype(np.uint8)).save(image_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(image_path),
                                       "--bbox", "69,137,165,153", "--out", str(out)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output.strip().splitlines()[-1])
    assert len(printed["joints"]) == 42 and all(len(joint) == 3 for joint in printed["joints"])
    assert set(printed["hand_type"]) == {"right", "left"}
    assert printed["bbox_processed_xywh"] == pytest.approx([48.375, 110.375, 206.25, 206.25])
    for name in ("result_2d.png", "result_3d.png"):
        with Image.open(out / name) as written:
            assert written.format == "PNG" and written.size[0] > 100
    with Image.open(out / "result_2d.png") as overlay:
        assert overlay.size == (320, 240)


def test_interhand_predict_refuses_a_malformed_bbox(tmp_path, tiny_checkpoint):
    image_path = tmp_path / "input.png"
    Image.new("RGB", (64, 64)).save(image_path)
    result = CliRunner().invoke(main, ["predict", "--checkpoint", str(tiny_checkpoint), "--image", str(image_path),
                                       "--bbox", "1,2,3"])
    assert result.exit_code != 0 and "x,y,w,h" in result.output
