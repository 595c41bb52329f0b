"""InterNet's structure, outputs and run switches (the original's `main/model.py`, `common/nets/module.py`)."""

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

from interhand.config import ModelConfig
from interhand.model import InterNet, InterNetOutput, build_internet, prepare_for_device
from interhand.model.backbone import ResNet

SMALL = ModelConfig(resnet_type=18, input_size=64, heatmap_size=16)


def _images(batch=2, size=64, seed=0):
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_forward_returns_heatmaps_root_depth_in_bins_and_hand_probabilities():
    model = InterNet(SMALL).eval()
    with torch.no_grad():
        output = model(_images())
    assert isinstance(output, InterNetOutput)
    assert output["joint_heatmap"].shape == (2, 42, 16, 16, 16)
    assert output["rel_root_depth_bins"].shape == (2, 1)
    assert ((output["rel_root_depth_bins"] >= 0) & (output["rel_root_depth_bins"] <= 15)).all()
    assert output["hand_type"].shape == (2, 2)
    assert ((output["hand_type"] > 0) & (output["hand_type"] < 1)).all()
    assert set(dict(output.items())) == {"joint_heatmap", "rel_root_depth_bins", "hand_type"}
    with pytest.raises(KeyError, match="joint_heatmap"):
        output["joints"]


def test_predict_adds_integer_voxel_joint_coordinates():
    model = InterNet(SMALL).eval()
    prediction = model.predict(_images(batch=1))
    coords = prediction["joints_voxel"]
    assert coords.shape == (1, 42, 3) and coords.dtype == torch.float32
    assert torch.equal(coords, coords.round()) and coords.min() >= 0 and coords.max() <= 15
    heatmap = prediction["joint_heatmap"][0, 5]
    x, y, z = coords[0, 5].long().tolist()
    assert heatmap[z, y, x] == heatmap.max()


@pytest.mark.parametrize("depth, channels", [(18, 512), (34, 512), (50, 2048)])
def test_heads_follow_the_backbone_channel_count(depth, channels):
    model = InterNet(dataclasses.replace(SMALL, resnet_type=depth))
    assert model.backbone_net.out_channels == channels
    assert model.pose_net.joint_deconv_1[0].in_channels == channels
    assert model.pose_net.root_fc[0].in_features == channels
    assert model.pose_net.hand_fc[2].out_features == 2


def test_resnet_101_and_152_have_the_standard_block_counts():
    assert [len(getattr(ResNet(101), f"layer{i}")) for i in range(1, 5)] == [3, 4, 23, 3]
    assert [len(getattr(ResNet(152), f"layer{i}")) for i in range(1, 5)] == [3, 8, 36, 3]


def test_initialisation_follows_the_original():
    model = InterNet(ModelConfig(resnet_type=50))
    assert model.backbone_net.resnet.conv1.weight.std().item() == pytest.approx(0.001, rel=0.05)
    assert model.pose_net.joint_deconv_1[0].weight.std().item() == pytest.approx(0.001, rel=0.05)
    assert model.pose_net.joint_conv_2[0].bias.abs().max() == 0
    assert model.pose_net.root_fc[0].weight.std().item() == pytest.approx(0.01, rel=0.05)
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in batch_norms)
    assert sum(p.numel() for p in model.parameters()) == 47_305_474  # ≈ 47.3 M, the original ResNet-50 InterNet


def test_channels_last_gives_the_same_outputs():
    model = InterNet(SMALL).eval()
    fast = prepare_for_device(InterNet(dataclasses.replace(SMALL, channels_last=True)).eval())
    fast.load_state_dict(model.state_dict())
    with torch.no_grad():
        expected, actual = model(_images()), fast(_images())
    for key in expected.keys():
        torch.testing.assert_close(actual[key], expected[key], rtol=1e-4, atol=1e-4 * expected[key].abs().max())


def test_amp_runs_the_network_in_bf16_and_keeps_head_outputs_in_range():
    model = InterNet(dataclasses.replace(SMALL, amp=True)).eval()
    with torch.no_grad():
        output = model(_images(batch=1))
    assert output.joint_heatmap.dtype == torch.bfloat16
    assert output.rel_root_depth_bins.dtype == output.hand_type.dtype == torch.float32
    assert ((output.hand_type > 0) & (output.hand_type < 1)).all()


def test_pretrained_weights_in_torchvision_key_format_load_into_the_backbone(tmp_path):
    source = ResNet(18)
    for parameter in source.parameters():
        nn.init.uniform_(parameter)
    state = {key: value for key, value in source.state_dict().items() if not key.endswith("num_batches_tracked")}
    state["fc.weight"], state["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(state, tmp_path / "resnet18.pth")
    model = build_internet(dataclasses.replace(SMALL, pretrained=str(tmp_path / "resnet18.pth")))
    torch.testing.assert_close(model.backbone_net.resnet.layer4[1].conv2.weight, source.layer4[1].conv2.weight)


def test_pretrained_weights_of_another_depth_are_refused_with_the_keys(tmp_path):
    torch.save(ResNet(34).state_dict(), tmp_path / "resnet34.pth")
    with pytest.raises(ValueError, match=r"layer1\.2\.conv1\.weight"):
        build_internet(dataclasses.replace(SMALL, pretrained=str(tmp_path / "resnet34.pth")))


@pytest.mark.parametrize("field, value", [("resnet_type", 42), ("loss", "sparse"), ("heatmap_size", 60),
                                          ("sigma", 0.0), ("input_size", 100)])
def test_model_config_refuses_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        dataclasses.replace(ModelConfig(), **{field: value})


def test_kaiming_backbone_init_is_he_normal_and_leaves_the_heads_as_the_original():
    model = InterNet(ModelConfig(resnet_type=18, init="kaiming"))
    fan_out = 64 * 7 * 7
    assert model.backbone_net.resnet.conv1.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.05)
    assert model.pose_net.joint_deconv_1[0].weight.std().item() == pytest.approx(0.001, rel=0.05)
    with pytest.raises(ValueError, match="init='xavier' is not one of original, kaiming"):
        ModelConfig(init="xavier")


def _relative_backbone_step(init: str) -> float:
    """Median over the backbone's convolutions of |Δw| / |w| after one Adam step at lr 1e-3."""
    torch.manual_seed(0)
    model = InterNet(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16, init=init))
    convs = [m.weight for m in model.backbone_net.modules() if isinstance(m, nn.Conv2d)]
    before = [w.detach().clone() for w in convs]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    output = model(torch.rand(2, 3, 64, 64))
    (output.joint_heatmap.square().mean() + output.hand_type.sum()).backward()
    optimizer.step()
    return float(torch.tensor([((w - b).norm() / b.norm()).item() for w, b in zip(convs, before)]).median())


def test_adam_redraws_the_original_placeholder_backbone_every_step_but_not_a_kaiming_one():
    # Why training from the original's N(0, 0.001) placeholder (never trained from by the original, which loads
    # ImageNet weights over it) is slow and chaotic: behind BatchNorm, Adam's ~lr steps are ~100 % of each weight.
    assert _relative_backbone_step("original") > 0.5
    assert _relative_backbone_step("kaiming") < 0.1


def test_heatmap_gain_scales_only_the_heatmap_and_travels_in_the_checkpoint(tmp_path):
    from interhand.model import load_checkpoint, save_checkpoint

    images = torch.rand(1, 3, 64, 64)
    outputs = {}
    for gain in (1.0, 16.0):
        torch.manual_seed(0)
        model = InterNet(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16, heatmap_gain=gain)).eval()
        with torch.no_grad():
            outputs[gain] = model(images)
    assert torch.allclose(outputs[16.0].joint_heatmap, 16.0 * outputs[1.0].joint_heatmap, rtol=1e-5, atol=1e-7)
    assert torch.equal(outputs[16.0].hand_type, outputs[1.0].hand_type)
    loaded = load_checkpoint(save_checkpoint(tmp_path / "gain.pth.tar", model, epoch=0))
    assert loaded.config.heatmap_gain == 16.0
    with torch.no_grad():
        assert torch.allclose(loaded(images).joint_heatmap, outputs[16.0].joint_heatmap)
    with pytest.raises(ValueError, match="heatmap_gain=0"):
        ModelConfig(heatmap_gain=0)


def test_the_gain_folded_into_the_kernel_gives_the_gradient_of_the_gain_on_the_output():
    """The gain scales the 1×1 kernel, not the largest tensor of the step: the same value and gradient as the
    output multiplied by it (exactly, for a power of two)."""
    images = torch.rand(2, 3, 64, 64)
    gradients = {}
    for gain, factor in ((16.0, 1.0), (1.0, 16.0)):  # folded, and applied to the output
        torch.manual_seed(0)
        model = InterNet(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16, heatmap_gain=gain))
        heatmap = model(images).joint_heatmap * factor
        (heatmap.square().mean()).backward()
        gradients[gain] = (heatmap.detach(), model.pose_net.joint_conv_1[0].weight.grad,
                           model.backbone_net.resnet.conv1.weight.grad)
    for folded, on_output in zip(gradients[16.0], gradients[1.0]):
        torch.testing.assert_close(folded, on_output, rtol=1e-6, atol=0)


class _CodeBearing:
    """Unpickled with weights_only=False it would create its marker file: loading must refuse it, not run it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("content", ["code-bearing", "not torch", "a list"])
def test_a_bad_pretrained_file_is_one_line_from_train_before_any_worker_starts(content, synth_ih26m_shards, tmp_path):
    from click.testing import CliRunner

    from interhand.cli import main

    path, marker = tmp_path / "weights.pth", tmp_path / "executed"
    if content == "code-bearing":
        torch.save({"conv1.weight": _CodeBearing(marker)}, path)
    elif content == "not torch":
        path.write_text("weights\n")
    else:
        torch.save([torch.zeros(1)], path)
    result = CliRunner().invoke(main, ["train", "--shards", str(synth_ih26m_shards.parent.parent), "--run-dir",
                                       str(tmp_path / "run"), "--model-pretrained", str(path), "--epochs", "1"])
    output = result.output.strip()
    assert result.exit_code == 1 and "Traceback" not in output and len(output.splitlines()) == 1, output
    assert str(path) in output and not marker.exists() and not (tmp_path / "run").exists()
    assert {"code-bearing": "code-bearing objects", "not torch": "unreadable",
            "a list": "found a list"}[content] in output
