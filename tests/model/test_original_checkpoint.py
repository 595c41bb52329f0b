"""Loading the original repository's snapshot_N.pth.tar and our own checkpoints (the original's `common/base.py`,
`main/model.py`).

The reference is an independent functional forward over the raw state dict, written from the original's
architecture description: no module of ours is involved in computing it.
"""

import errno
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from interhand.config import ModelConfig
from interhand.model import InterNet, load_checkpoint, save_checkpoint
from interhand.model.original_checkpoint import CheckpointUnreadable, CheckpointWriteFailed, infer_resnet_type

# Every key of the original repository's checkpoint `network` dict with its shape ('module.' prefix
# included); a copy of the project's shared/internet_original_keys.json, kept with the tests.
KEYS_FILE = Path(__file__).resolve().parents[1] / "data" / "internet_original_keys.json"


def _original_keys() -> dict:
    return json.loads(KEYS_FILE.read_text())


def _random_original_network(seed: int = 0) -> dict:
    """Every original key with its shape, random values that keep activations O(1)."""
    generator = torch.Generator().manual_seed(seed)
    network = {}
    for key, shape in _original_keys().items():
        if key.endswith("num_batches_tracked"):
            network[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            network[key] = torch.rand(shape, generator=generator) + 0.5
        elif key.endswith("running_mean") or key.endswith(".bias"):
            network[key] = torch.randn(shape, generator=generator) * 0.1
        elif len(shape) == 1:  # BatchNorm γ
            network[key] = torch.rand(shape, generator=generator) * 0.5 + 0.5
        else:
            fan_in = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1)
            if "deconv" in key:
                fan_in = shape[0] * 4  # ConvTranspose2d weights are (in, out, k, k); stride 2 sees 4 taps
            network[key] = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
    return network


def _bn(x, state, prefix):
    return F.batch_norm(x, state[prefix + ".running_mean"], state[prefix + ".running_var"],
                        state[prefix + ".weight"], state[prefix + ".bias"], training=False, eps=1e-5)


def _reference_forward(state, images):
    """ResNet-50 + PoseNet of the original, eval mode, from raw weights."""
    resnet = "module.backbone_net.resnet."
    x = F.relu(_bn(F.conv2d(images, state[resnet + "conv1.weight"], stride=2, padding=3), state, resnet + "bn1"))
    x = F.max_pool2d(x, 3, stride=2, padding=1)
    for stage, blocks in zip(range(1, 5), (3, 4, 6, 3)):
        for block in range(blocks):
            p = f"{resnet}layer{stage}.{block}."
            stride = 2 if stage > 1 and block == 0 else 1
            out = F.relu(_bn(F.conv2d(x, state[p + "conv1.weight"]), state, p + "bn1"))
            out = F.relu(_bn(F.conv2d(out, state[p + "conv2.weight"], stride=stride, padding=1), state, p + "bn2"))
            out = _bn(F.conv2d(out, state[p + "conv3.weight"]), state, p + "bn3")
            if block == 0:
                x = _bn(F.conv2d(x, state[p + "downsample.0.weight"], stride=stride), state, p + "downsample.1")
            x = F.relu(out + x)
    pose = "module.pose_net."
    heatmaps = []
    for branch in (1, 2):
        h = x
        for index in (0, 3, 6):
            h = F.conv_transpose2d(h, state[f"{pose}joint_deconv_{branch}.{index}.weight"], stride=2, padding=1)
            h = F.relu(_bn(h, state, f"{pose}joint_deconv_{branch}.{index + 1}"))
        h = F.conv2d(h, state[f"{pose}joint_conv_{branch}.0.weight"], state[f"{pose}joint_conv_{branch}.0.bias"])
        heatmaps.append(h.view(-1, 21, 64, 64, 64))
    pooled = F.avg_pool2d(x, (x.shape[2], x.shape[3])).view(-1, 2048)

    def mlp(name, v):
        v = F.relu(F.linear(v, state[f"{pose}{name}.0.weight"], state[f"{pose}{name}.0.bias"]))
        return F.linear(v, state[f"{pose}{name}.2.weight"], state[f"{pose}{name}.2.bias"])

    root = (F.softmax(mlp("root_fc", pooled), 1) * torch.arange(64.0)[None]).sum(1).view(-1, 1)
    return torch.cat(heatmaps, 1), root, torch.sigmoid(mlp("hand_fc", pooled))


def _reference_hard_argmax(heatmap):
    """The original's cascade: max over depth, then height, then width, gathering indices back."""
    value_z, index_z = heatmap.max(2)
    value_zy, index_zy = value_z.max(2)
    _, x = value_zy.max(2)
    x = x[:, :, None]
    y = torch.gather(index_zy, 2, x)
    z = torch.gather(index_z, 2, y[:, :, :, None].repeat(1, 1, 1, heatmap.shape[3]))[:, :, 0, :]
    z = torch.gather(z, 2, x)
    return torch.cat([x, y, z], 2).float()


def _assert_close_scaled(actual, expected, rtol=1e-4):
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=rtol * scale)


@pytest.fixture(scope="module")
def original_snapshot(tmp_path_factory):
    network = _random_original_network()
    path = tmp_path_factory.mktemp("original") / "snapshot_20.pth.tar"
    torch.save({"epoch": 19, "network": network, "optimizer": {}}, path)
    return path, network


def test_loading_an_original_snapshot_reproduces_the_original_forward(original_snapshot):
    path, network = original_snapshot
    model = load_checkpoint(path)
    assert not model.training and model.config.resnet_type == 50
    images = torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected_heatmap, expected_root, expected_hand = _reference_forward(network, images)
        output = model(images)
    assert output["joint_heatmap"].shape == (2, 42, 64, 64, 64)
    _assert_close_scaled(output["joint_heatmap"], expected_heatmap)
    _assert_close_scaled(output["rel_root_depth_bins"], expected_root)
    _assert_close_scaled(output["hand_type"], expected_hand)
    prediction = model.predict(images)
    torch.testing.assert_close(prediction["joints_voxel"], _reference_hard_argmax(prediction["joint_heatmap"]))


def test_hard_argmax_breaks_ties_like_the_original_cascade():
    heatmap = torch.zeros(1, 2, 4, 4, 4)
    heatmap[0, 0, 3, 0, 1] = heatmap[0, 0, 0, 2, 1] = heatmap[0, 0, 1, 0, 3] = 5.0  # (z, y, x) ties
    heatmap[0, 1] = torch.randint(0, 3, (4, 4, 4)).float()
    from interhand.model.decode import hard_argmax_3d
    torch.testing.assert_close(hard_argmax_3d(heatmap), _reference_hard_argmax(heatmap))
    assert hard_argmax_3d(heatmap)[0, 0].tolist() == [1.0, 0.0, 3.0]


def test_loading_a_snapshot_with_wrong_keys_lists_the_offending_keys(tmp_path):
    network = _random_original_network()
    network.pop("module.pose_net.hand_fc.2.bias")
    network["module.pose_net.extra_head.weight"] = torch.zeros(3)
    network["module.pose_net.root_fc.2.weight"] = torch.zeros(32, 512)
    path = tmp_path / "snapshot_0.pth.tar"
    torch.save({"epoch": 0, "network": network, "optimizer": {}}, path)
    with pytest.raises(ValueError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert "pose_net.hand_fc.2.bias" in message
    assert "pose_net.extra_head.weight" in message
    assert "pose_net.root_fc.2.weight" in message


def test_checkpoints_holding_arbitrary_python_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth.tar"
    torch.save({"epoch": 0, "network": {}, "payload": pickle.PicklingError("not a tensor")}, path)
    with pytest.raises(CheckpointUnreadable, match="evil.pth.tar: not loaded: it holds code-bearing objects .*"
                                                   "PicklingError") as refused:
        load_checkpoint(path)
    assert "\n" not in str(refused.value) and "\x1b" not in str(refused.value)


def test_our_checkpoint_round_trips_config_and_weights_with_or_without_the_module_prefix(tmp_path):
    model = InterNet(ModelConfig(resnet_type=18))
    path = save_checkpoint(tmp_path / "ours.pt", model, epoch=3,
                           optimizer_state=torch.optim.Adam(model.parameters()).state_dict())
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "interhand-internet" and payload["epoch"] == 3
    assert payload["model_config"]["resnet_type"] == 18
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)
    payload["network"] = {"module." + key: value for key, value in payload["network"].items()}
    torch.save(payload, tmp_path / "prefixed.pt")
    assert load_checkpoint(tmp_path / "prefixed.pt").config.resnet_type == 18


def test_resnet_depth_is_inferred_from_the_backbone_keys_of_a_snapshot():
    snapshot = {key[len("module."):]: None for key in _original_keys()}
    assert infer_resnet_type(snapshot) == 50
    assert infer_resnet_type(InterNet(ModelConfig(resnet_type=18)).state_dict()) == 18
    for depth, blocks, convs in ((34, (3, 4, 6, 3), 2), (101, (3, 4, 23, 3), 3), (152, (3, 8, 36, 3), 3)):
        keys = {f"backbone_net.resnet.layer{stage}.{block}.conv{conv}.weight": None
                for stage, count in enumerate(blocks, start=1) for block in range(count)
                for conv in range(1, convs + 1)}
        assert infer_resnet_type(keys) == depth
    with pytest.raises(ValueError, match="matches no ResNet"):
        infer_resnet_type({"backbone_net.resnet.layer1.0.conv1.weight": None})


def _fail_with(error: Exception):
    def save(payload, handle):
        handle.write(b"partial")  # what a write that ran out of room leaves (torch.save gets the open .tmp file)
        handle.flush()
        raise error
    return save


@pytest.mark.parametrize("error, free_bytes", [
    (OSError(errno.ENOSPC, "No space left on device"), 10 * 2**30),
    # torch's own report of a short write: no errno, so the free space decides
    (RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter failed writing file "
                  "data/12: file write failed\nunexpected pos 1234 vs 5678"), 3 * 2**20),
], ids=["ENOSPC", "torch short write"])
def test_a_snapshot_on_a_full_disk_is_one_line_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch, error,
                                                                                   free_bytes):
    monkeypatch.setattr(torch, "save", _fail_with(error))
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(2**40, 2**40 - free_bytes,
                                                                                   free_bytes))
    path = tmp_path / "snapshot_3.pth.tar"
    with pytest.raises(CheckpointWriteFailed) as raised:
        save_checkpoint(path, InterNet(ModelConfig(resnet_type=18, input_size=64, heatmap_size=16)))
    message = str(raised.value)
    assert "\n" not in message and str(path) in message and "the disk is full" in message
    assert list(tmp_path.iterdir()) == []  # neither the snapshot nor its .tmp
