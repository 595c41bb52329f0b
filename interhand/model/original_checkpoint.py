"""Checkpoints: ours and the original repository's `snapshot_N.pth.tar` (written by the original's `Trainer.save_model`,
`common/base.py`).

The original file is `{'epoch', 'network', 'optimizer'}` with `network` a DataParallel state dict: keys
carry a `module.` prefix, otherwise equal ours. Ours is `{'format', 'format_version', 'epoch',
'model_config', 'network'[, 'optimizer']}`, plain containers and tensors only. Both are read with
`torch.load(weights_only=True)`, so no arbitrary object is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import errno
import pickle
import re
import shutil
import zipfile
from pathlib import Path

import torch

from interhand.config import ModelConfig
from interhand.model.backbone import RESNET_SPECS
from interhand.model.internet import InterNet
from interhand.outputs import create_temporary, publish

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_FORMAT_VERSION",
    "CheckpointUnreadable",
    "CheckpointWriteFailed",
    "load_checkpoint_payload",
    "load_checkpoint",
    "save_checkpoint",
    "strip_module_prefix",
    "infer_resnet_type",
    "load_network_state",
]

CHECKPOINT_FORMAT = "interhand-internet"
CHECKPOINT_FORMAT_VERSION = 1
_DATAPARALLEL_PREFIX = "module."


def strip_module_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop DataParallel's `module.` prefix where present (keys without it are kept as they are)."""
    return {key[len(_DATAPARALLEL_PREFIX):] if key.startswith(_DATAPARALLEL_PREFIX) else key: value
            for key, value in state.items()}


def infer_resnet_type(state: dict[str, torch.Tensor]) -> int:
    """ResNet depth from a network state dict's backbone keys (block counts per stage, block kind).

    Raises:
        ValueError: when the blocks match no ResNet of RESNET_SPECS.
    """
    prefix = "backbone_net.resnet."
    blocks = []
    for stage in range(1, 5):
        indices = {int(key[len(prefix):].split(".")[1]) for key in state
                   if key.startswith(f"{prefix}layer{stage}.")}
        blocks.append(len(indices))
    bottleneck = any(key.startswith(f"{prefix}layer1.0.conv3.") for key in state)
    for depth, (block, counts) in RESNET_SPECS.items():
        if tuple(blocks) == counts and (block.expansion == 4) == bottleneck:
            return depth
    raise ValueError(f"backbone with blocks per stage {blocks} (bottleneck={bottleneck}) matches no ResNet of "
                     f"depth {', '.join(map(str, RESNET_SPECS))}")


def load_network_state(model: InterNet, state: dict[str, torch.Tensor]) -> None:
    """Key-by-key copy of a network state dict (with or without `module.` prefixes) into `model`.

    Raises:
        ValueError: listing missing keys, unexpected keys and keys whose shapes differ.
    """
    state = strip_module_prefix(state)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(f"{key}: checkpoint {tuple(state[key].shape)} vs model {tuple(own[key].shape)}"
                         for key in set(own) & set(state) if tuple(own[key].shape) != tuple(state[key].shape))
    if missing or unexpected or wrong_shape:
        raise ValueError(f"checkpoint does not fit InterNet (resnet{model.config.resnet_type}): "
                         f"missing keys {missing}; unexpected keys {unexpected}; wrong shapes {wrong_shape}")
    model.load_state_dict(state, strict=True)


class CheckpointUnreadable(ValueError):
    """A checkpoint file that cannot be loaded at all (empty, truncated, not a checkpoint, or refused by
    weights-only loading); the message is one line naming the file."""


class CheckpointWriteFailed(ValueError):
    """A checkpoint could not be written (a full disk, most often); one line naming the file and the free space.
    Nothing is left under the final name or the temporary one."""


# torch.save reports a short write as a RuntimeError ("... unexpected pos ..."), not as ENOSPC: below this much
# free space after such a failure, the disk is taken to be full.
_NEARLY_FULL_BYTES = 256 * 2**20


def _write_failed(path: Path, temporary: Path, error: Exception) -> CheckpointWriteFailed:
    try:
        free = shutil.disk_usage(path.parent).free  # before the partial file is removed: what the write saw
    except OSError:
        free = -1
    temporary.unlink(missing_ok=True)
    full = getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or (
        isinstance(error, RuntimeError) and 0 <= free < _NEARLY_FULL_BYTES)
    reason = "the disk is full" if full else (str(error).strip().splitlines() or [type(error).__name__])[0]
    return CheckpointWriteFailed(f"could not write {path}: {reason} ({max(free, 0) / 2**20:.0f} MiB free there); "
                                 "free space (or keep fewer snapshots: --keep-snapshots N) and --continue")


def load_checkpoint_payload(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """`torch.load(path, weights_only=True)`, every failure one CheckpointUnreadable line naming the file."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        lines = [line.strip() for line in str(error).splitlines() if "WeightsUnpickler error" in line]
        found = "not a checkpoint?"
        if lines:  # "Unsupported global: GLOBAL <what> was not an allowed global by default", without colours
            found = re.sub(r"^.*WeightsUnpickler error: |\x1b\[[0-9;]*m", "", lines[0]).split(". ")[0][:160]
        raise CheckpointUnreadable(f"{path}: not loaded: it holds code-bearing objects that weights-only loading "
                                   f"refuses ({found})") from None
    except (EOFError, RuntimeError, OSError, zipfile.BadZipFile, ValueError, KeyError) as error:
        size = path.stat().st_size if path.is_file() else 0
        kind = "empty" if size == 0 else f"{size} bytes, truncated or corrupt"
        raise CheckpointUnreadable(f"{path}: unreadable checkpoint ({kind}: {type(error).__name__})") from None
    if not isinstance(payload, dict):
        raise CheckpointUnreadable(f"{path}: not an InterNet checkpoint (a {type(payload).__name__}, not a dict)")
    return payload


def _model_config(payload: dict, network: dict[str, torch.Tensor]) -> ModelConfig:
    if payload.get("format") != CHECKPOINT_FORMAT:
        # The original's snapshot: no config stored; its defaults apart from the backbone depth.
        return ModelConfig(resnet_type=infer_resnet_type(strip_module_prefix(network)))
    if payload.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise ValueError(f"checkpoint format_version {payload.get('format_version')!r} is not the supported "
                         f"{CHECKPOINT_FORMAT_VERSION}")
    stored = dict(payload.get("model_config") or {})
    known = {spec.name for spec in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(stored) - known)
    if unknown:
        raise ValueError(f"checkpoint model_config has unknown fields {unknown}; known: {sorted(known)}")
    # A checkpoint carries trained weights: never reload ImageNet weights from the training machine's path.
    stored["pretrained"] = ""
    return ModelConfig(**stored)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    **overrides) -> InterNet:
    """InterNet in eval mode from our checkpoint or the original repository's `snapshot_N.pth.tar`.

    Args:
        path: checkpoint file.
        map_location: where tensors are loaded (the model is on that device too).
        **overrides: ModelConfig fields to change for running (e.g. amp=True, channels_last=True);
            architecture fields must keep the checkpoint's values or the load fails.

    Returns:
        InterNet with the checkpoint's weights, `.eval()`.

    Raises:
        ValueError: not a checkpoint of either kind, or keys/shapes that do not match (listed).
    """
    payload = load_checkpoint_payload(path, map_location)
    if not isinstance(payload.get("network"), dict):
        raise ValueError(f"{path}: not an InterNet checkpoint (expected a dict with a 'network' state dict)")
    network = payload["network"]
    config = dataclasses.replace(_model_config(payload, network), **overrides)
    model = InterNet(config)
    load_network_state(model, network)
    return model.to(map_location).eval()


def save_checkpoint(path: str | Path, model: InterNet, epoch: int = 0, optimizer_state: dict | None = None,
                    extra: dict | None = None, key_prefix: str = "") -> Path:
    """Write our checkpoint format (loadable with weights_only=True and by `load_checkpoint`).

    Args:
        path: file to write; written to `<path>.tmp` first, then renamed.
        model: the network (its `config` is stored as a plain dict).
        epoch: last finished epoch, 0-based as the original.
        optimizer_state: `optimizer.state_dict()` or None.
        extra: more plain entries (resolved run config, shard format_version, …).
        key_prefix: prefix of every `network` key; training writes "module." so that its snapshots
            have the original's DataParallel key layout and load into the original code unchanged.

    Returns:
        The path written.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "epoch": int(epoch),
        "model_config": dataclasses.asdict(model.config),
        "network": {key_prefix + key: value.detach().cpu() for key, value in model.state_dict().items()},
    }
    if optimizer_state is not None:
        payload["optimizer"] = optimizer_state
    if extra:
        payload.update(extra)
    temporary = path.with_name(path.name + ".tmp")
    handle = create_temporary(temporary)  # a link planted at either name is refused (OutputError), never followed
    try:
        with handle:
            torch.save(payload, handle)
    except (OSError, RuntimeError) as error:
        raise _write_failed(path, temporary, error) from error
    publish(temporary, path)
    return path
