"""Frozen configuration dataclasses, one per job. Each field's `help` is also its CLI help text.

Validation raises ValueError naming the field and the allowed values. Every field's value is checked against the
field's type when a config is built (`check_value`, the one place, derived from the annotations): booleans are
booleans, integers integers, floats finite numbers, strings strings, a Literal one of its choices, a nested config
a mapping of its fields.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import reprlib
import typing
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["SynthConfig", "SYNTH_DATASETS", "SYNTH_LAYOUTS", "LoaderConfig", "LaunchConfig", "TrainConfig",
           "EvalConfig", "EVAL_LOADER", "config_to_dict", "config_from_dict", "field_aliases", "current_field_names",
           "PreprocessConfig", "parse_size", "parse_part", "ModelConfig", "RESNET_TYPES", "HEATMAP_LOSSES",
           "BACKBONE_INITS", "ARCHITECTURE_FIELDS", "ScoreConfig", "PROTOCOLS", "SCORE_ROOT_SOURCES",
           "SCORE_SUBSETS", "PROTOCOL_NAMES", "SINGLE_HAND_PROTOCOLS", "check_value", "check_field_values"]

SYNTH_DATASETS = ("interhand26m", "stb", "rhd")
SYNTH_LAYOUTS = ("v1.0", "v0.0", "both")


# A value in an error message: bounded, however long or deeply nested (a shared-reference YAML structure's repr
# grows exponentially).
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 80
_SHOWN.maxlevel = 3
_INT_LIMIT = 2**63  # integers are 64-bit wherever they end up (numpy, torch, file headers)


def _shown(value: object) -> str:
    return _SHOWN.repr(value)


def check_value(name: str, value: object, annotation: object) -> object:
    """`value` as field `name` of type `annotation` holds it (an integer given for a float becomes that float, a
    list for a tuple that tuple), or ValueError naming the field, the value and the type expected.

    bool takes only True/False (YAML's unquoted true/false), not "false", 0 or 1; int takes integers, not bools,
    floats or numeric strings, within ±2**63; float takes finite integers and floats; str takes strings without
    NUL; a Literal one of its choices; a nested config an instance of it (config_from_dict builds it from a mapping).
    """
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if not any(type(value) is type(choice) and value == choice for choice in choices):
            raise ValueError(f"{name}={_shown(value)} is not one of {', '.join(map(str, choices))}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name}={_shown(value)} is not a boolean: write true or false, unquoted")
    elif annotation is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{name}={_shown(value)} is not an integer")
        if not -_INT_LIMIT <= value < _INT_LIMIT:
            raise ValueError(f"{name}={_shown(value)} is not a 64-bit integer (|value| < 2**63)")
    elif annotation is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{name}={_shown(value)} is not a number")
        if not math.isfinite(value):
            raise ValueError(f"{name}={_shown(value)} is not a finite number")
        return float(value)
    elif annotation is str:
        if not isinstance(value, str):
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            hint = f" (quote it: '{value}')" if number else ""
            raise ValueError(f"{name}={_shown(value)} is not a string{hint}")
        if "\0" in value:
            raise ValueError(f"{name}={_shown(value)} holds a NUL character")
    elif origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{name}={_shown(value)} is not a list")
        item_type = typing.get_args(annotation)[0]
        return tuple(check_value(f"{name}[{index}]", item, item_type) for index, item in enumerate(value))
    elif dataclasses.is_dataclass(annotation):
        if not isinstance(value, annotation):
            raise ValueError(f"{name}={_shown(value)} is not a mapping of {annotation.__name__} fields")
    else:
        raise TypeError(f"{name}: no check for fields of type {annotation!r}")  # a new annotation: teach check_value
    return value


@functools.cache
def _field_types(config_class: type) -> dict[str, object]:
    hints = typing.get_type_hints(config_class)
    return {spec.name: hints[spec.name] for spec in dataclasses.fields(config_class)}


def _check_fields(config) -> None:
    """Every field of `config` through `check_value` (called first in each config's __post_init__)."""
    for name, annotation in _field_types(type(config)).items():
        value = getattr(config, name)
        checked = check_value(name, value, annotation)
        if checked is not value:
            object.__setattr__(config, name, checked)


def check_field_values(config_class: type, values: object, prefix: str = "") -> None:
    """The values a mapping gives (nested like the dataclass, fields under today's names) through `check_value`,
    before they are merged or built: ValueError names the field as `loader.augment`. Unknown keys are left to
    `config_from_dict`, which lists them."""
    if not isinstance(values, dict):
        raise ValueError(f"{prefix.rstrip('.') or config_class.__name__}={_shown(values)} is not a mapping of "
                         f"{config_class.__name__} fields")
    types = _field_types(config_class)
    for key, value in values.items():
        annotation = types.get(key)
        if dataclasses.is_dataclass(annotation):
            check_field_values(annotation, value, f"{prefix}{key}.")
        elif annotation is not None:
            check_value(prefix + key, value, annotation)


def _choice(name: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(str, allowed))}")


def _at_least(name: str, value: float, minimum: float) -> None:
    if value < minimum:
        raise ValueError(f"{name}={value!r} must be at least {minimum}")


def _plain_name(name: str, value: str) -> None:
    """A name given on the command line that becomes a folder name (under the run folder) is a plain one: no path
    separator, NUL, line break, `.` or `..`, so that nothing is written outside that folder."""
    if value in (".", "..") or any(character in value for character in "/\\\0\n\r"):
        raise ValueError(f"{name}={value!r} must be a plain name (no /, \\, NUL or line break; not . or ..): "
                         "it names folders under the run folder")


def _derive(config, name: str, value) -> None:
    """Keep a value parsed from a field's text on the frozen config (not a field: files and the CLI keep the text)."""
    object.__setattr__(config, name, value)


@dataclass(frozen=True)
class SynthConfig:
    """What `interhand synth` writes: one synthetic dataset in its real on-disk format."""

    dataset: Literal["interhand26m", "stb", "rhd"] = field(
        default="interhand26m", metadata={"help": "which dataset's on-disk format to write"})
    seed: int = field(default=0, metadata={"help": "random seed; the same seed gives identical bytes"})
    frames: int = field(default=48, metadata={
        "help": "time frames per split (InterHand2.6M: each is seen by every camera of its capture; "
                "STB/RHD: images per split)"})
    captures: int = field(default=2, metadata={"help": "InterHand2.6M: captures (recording sessions) per split"})
    cameras: int = field(default=6, metadata={"help": "InterHand2.6M: calibrated cameras per capture (a ring; "
                                                       "about a third are gray 41xxxx cameras)"})
    layout: Literal["v1.0", "v0.0", "both"] = field(default="both", metadata={
        "help": "InterHand2.6M annotation layout: v1.0 per-split folders, v0.0 subset folders, or both"})
    human_fraction: float = field(default=0.4, metadata={
        "help": "InterHand2.6M: fraction of train/test frames in the human-annotated (H) subset"})
    jpeg_quality: int = field(default=90, metadata={"help": "JPEG quality of the rendered frames"})

    def __post_init__(self) -> None:
        _check_fields(self)  # the field types first: the checks below compare values
        _at_least("frames", self.frames, 1)
        _at_least("seed", self.seed, 0)  # numpy takes no negative seed
        _at_least("captures", self.captures, 1)
        _at_least("cameras", self.cameras, 1)
        if not 0.0 <= self.human_fraction <= 1.0:
            raise ValueError(f"human_fraction={self.human_fraction!r} must lie in [0, 1]")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality={self.jpeg_quality!r} must lie in [1, 100]")


def config_to_dict(config) -> dict:
    """A config as plain nested dicts (for YAML files and checkpoints)."""
    return dataclasses.asdict(config)


def field_aliases(config_class: type) -> dict[str, str]:
    """Old name → field name, from each field's `aliases` metadata: the one table of a config's former names.

    A config file (or a saved config.yaml, or dataset.json's `config`) may still use them, and the CLI accepts
    each as a hidden option (`--root` for `data`)."""
    return {alias: spec.name for spec in dataclasses.fields(config_class) for alias in spec.metadata.get("aliases", ())}


def current_field_names(config_class: type, values: dict) -> dict:
    """`values` (nested like the dataclass) with each old field name replaced by the field's name, order kept;
    ValueError when a field is given under both names."""
    aliases = field_aliases(config_class)
    hints = typing.get_type_hints(config_class)
    renamed = {}
    for key, value in values.items():
        name = aliases.get(key, key)
        if name != key and name in values:
            raise ValueError(f"{config_class.__name__}: both {key!r} and its new name {name!r} given; keep {name!r}")
        if dataclasses.is_dataclass(hints.get(name)) and isinstance(value, dict):
            value = current_field_names(hints[name], value)
        renamed[name] = value
    return renamed


def config_from_dict(config_class: type, values: dict, defaults=None):
    """Inverse of `config_to_dict`; unknown keys raise ValueError naming them and the known ones.

    Old field names (`field_aliases`) are read as the fields they became. Fields not in `values` keep their
    defaults: those of `defaults` (an instance) when given, and a nested config's are its field's default
    (EvalConfig's `loader` has eval's batch size, not LoaderConfig's)."""
    if not isinstance(values, dict):
        raise ValueError(f"{config_class.__name__}: {_shown(values)} is not a mapping of its fields")
    values = current_field_names(config_class, values)
    check_field_values(config_class, values)
    known = {spec.name: spec for spec in dataclasses.fields(config_class)}
    hints = typing.get_type_hints(config_class)
    unknown = sorted(set(values) - set(known))
    if unknown:
        nested = [f"{outer}: {{{name}: ...}}" for name in unknown for outer in known if dataclasses.is_dataclass(
            hints[outer]) and name in {spec.name for spec in dataclasses.fields(hints[outer])} | set(
            field_aliases(hints[outer]))]
        raise ValueError(f"{config_class.__name__}: unknown fields {unknown}; known: {sorted(known)}"
                         + (f"; nested fields are written {', '.join(nested)}" if nested else ""))
    kwargs = {}
    for name, value in values.items():
        if dataclasses.is_dataclass(hints[name]):
            try:
                value = config_from_dict(hints[name], value, getattr(defaults, name) if defaults is not None
                                         else _field_default(known[name]))
            except ValueError as error:  # named as the file spells it: loader.batch_size=0 ...
                said = str(error)
                raise ValueError(f"{name}.{said}" if re.match(r"\w+=", said) else f"{name}: {said}") from None
        kwargs[name] = value
    return config_class(**kwargs) if defaults is None else dataclasses.replace(defaults, **kwargs)


def _field_default(spec: dataclasses.Field):
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return None if spec.default is dataclasses.MISSING else spec.default


# --- preprocess configs ---

PREPROCESS_DATASETS = ("interhand26m", "stb", "rhd", "coco")
PREPROCESS_SUBSETS = ("all", "human_annot", "machine_annot")
PREPROCESS_SPLITS = ("train", "val", "test")
PREPROCESS_LAYOUTS = ("auto", "v1.0", "v0.0")
PREPROCESS_JPEG = ("baseline", "source")  # --jpeg (SHARD_FORMAT.md §4)
_SIZE_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str) -> int:
    """'1GB' → 10**9 bytes (KB/MB/GB decimal, KiB/MiB/GiB binary); ValueError names the bad text."""
    stripped = str(text).strip().upper()
    number = stripped.rstrip("KMGIB")
    unit = stripped[len(number):]
    try:
        size = int(float(number) * _SIZE_UNITS[unit])
    except (KeyError, ValueError, OverflowError):  # OverflowError: inf, 1e400
        raise ValueError(f"shard_size={text!r} is not a size like 1GB, 500MB or 64MiB") from None
    if size <= 0:
        raise ValueError(f"shard_size={text!r} must be positive")
    return size


def parse_part(text: str) -> tuple[int, int]:
    """'K/N' → (K, N) with 0 <= K < N; ValueError names the bad text."""
    try:
        index, count = (int(value) for value in str(text).split("/"))
    except ValueError:
        raise ValueError(f"part={text!r} is not K/N (job K of N, K from 0)") from None
    if not 0 <= index < count:
        raise ValueError(f"part={text!r}: K must lie in 0..N-1")
    return index, count


def _check_subset(dataset: str, annot_subset: str, split: str) -> None:
    """The annotation subsets that exist: H and M are InterHand2.6M's, and H has no val split."""
    if annot_subset != "all" and dataset != "interhand26m":
        raise ValueError(f"annot_subset={annot_subset!r}: the H/M annotation subsets are InterHand2.6M's; "
                         f"{dataset} has one annotation set, use annot_subset='all'")
    if annot_subset == "human_annot" and split == "val":
        raise ValueError("annot_subset='human_annot' with split='val': InterHand2.6M has no human-annotated (H) "
                         "val split; use split='test', or annot_subset='all' or 'machine_annot' for val")


@dataclass(frozen=True)
class PreprocessConfig:
    """What `interhand shards` writes: one split of one dataset as webdataset shards + Parquet manifests."""

    dataset: Literal["interhand26m", "stb", "rhd", "coco"] = field(
        default="interhand26m", metadata={"help": "source format to read"})
    data: str = field(default="data/InterHand2.6M", metadata={"aliases": ("root",),
        "help": "dataset folder (InterHand2.6M: holds images/ and annotations/; STB/RHD: holds data/)"})
    annot_subset: Literal["all", "human_annot", "machine_annot"] = field(default="all", metadata={
        "aliases": ("subset",), "help": "InterHand2.6M annotation subset: H+M, H or M (v1.0 selects H by --aid-list)"})
    split: Literal["train", "val", "test"] = field(default="train", metadata={"help": "split to convert"})
    shards: str = field(default="shards", metadata={
        "aliases": ("out",), "help": "shards root; writes SHARDS/<dataset>/<annot-subset>/<split>/"})
    layout: Literal["auto", "v1.0", "v0.0"] = field(default="auto", metadata={
        "help": "InterHand2.6M annotation layout; auto prefers v1.0 per-split folders"})
    aid_list: str = field(default="", metadata={
        "help": "v1.0 H-subset annotation ids, one per line (default: aid_human_annot_<split>.txt in --data)"})
    workers: int = field(default=1, metadata={"help": "worker processes that read and write the shards"})
    shard_size: str = field(default="100MB", metadata={
        "help": "target shard size (images + records); 100MB gives a real InterHand2.6M split >= 64 shards"})
    shard_samples: int = field(default=0, metadata={"help": "samples per shard; 0 = cut by --shard-size"})
    shuffle_seed: int = field(default=0, metadata={
        "help": "train: seed of the shuffle across the whole split; val/test keep a deterministic order"})
    max_errors: float = field(default=0.001, metadata={
        "help": "exit non-zero when rejected samples exceed this fraction of the input annotations"})
    part: str = field(default="0/1", metadata={
        "help": "K/N: write job K's share (of N) of the shards; stitch the parts with --finalize"})
    full_decode: bool = field(default=False, metadata={
        "help": "decode every image to reject corrupt ones (slower; headers and end markers are always checked)"})
    progress: bool = field(default=True, metadata={"help": "show progress bars"})
    jpeg: Literal["baseline", "source"] = field(default="baseline", metadata={
        "help": "baseline: re-encode progressive JPEGs losslessly as baseline (identical pixels; needs the C "
                "extension); source: store every image file as it is"})

    def __post_init__(self) -> None:
        _check_fields(self)  # the field types first: the checks below compare values
        _check_subset(self.dataset, self.annot_subset, self.split)
        _at_least("workers", self.workers, 1)
        _at_least("shard_samples", self.shard_samples, 0)
        _at_least("shuffle_seed", self.shuffle_seed, 0)
        _derive(self, "_shard_size_bytes", parse_size(self.shard_size))
        _derive(self, "_part", parse_part(self.part))
        if not 0.0 <= self.max_errors <= 1.0:
            raise ValueError(f"max_errors={self.max_errors!r} must lie in [0, 1]")

    @property
    def shard_size_bytes(self) -> int:
        """`shard_size` in bytes ('100MB' → 10**8), parsed once when the config was built."""
        return self._shard_size_bytes

    @property
    def part_index(self) -> int:
        """K of `part` 'K/N': this job's share, from 0."""
        return self._part[0]

    @property
    def part_count(self) -> int:
        """N of `part` 'K/N': the number of jobs the split is written by."""
        return self._part[1]


# --- model configs ---

RESNET_TYPES = (18, 34, 50, 101, 152)
HEATMAP_LOSSES = ("lean", "dense")
BACKBONE_INITS = ("original", "kaiming")


@dataclass(frozen=True)
class ModelConfig:
    """InterNet's architecture and how it runs (the original's `main/model.py`, `main/config.py`). Stored in every
    checkpoint."""

    resnet_type: int = field(default=50, metadata={"architecture": True,
        "help": "ResNet depth of the backbone: 18, 34, 50, 101 or 152 (the heads follow its channel count)"})
    input_size: int = field(default=256, metadata={"architecture": True,
        "help": "square input patch fed to the backbone, px"})
    heatmap_size: int = field(default=64, metadata={"architecture": True,
        "help": "voxels per axis of the 3D heatmap (also the number of root-depth bins); input_size / 4"})
    sigma: float = field(default=2.5, metadata={"architecture": True,
        "help": "std of the Gaussian heatmap target, voxels"})
    bbox_3d_size: float = field(default=400.0, metadata={"architecture": True,
        "help": "depth range covered by the heatmap's z axis around each hand's root, mm"})
    bbox_3d_size_root: float = field(default=400.0, metadata={"architecture": True,
        "help": "range of the left-vs-right root depth covered by the root-depth bins, mm"})
    channels_last: bool = field(default=False, metadata={"help": "run convolutions in channels_last memory format"})
    amp: bool = field(default=False, metadata={"help": "bf16 autocast for the network (losses stay float32)"})
    compile: bool = field(default=False, metadata={"help": "wrap the network with torch.compile"})
    loss: Literal["lean", "dense"] = field(default="lean", metadata={
        "help": "heatmap loss: lean (separable, no dense target; same value and gradient) or dense (reference)"})
    pretrained: str = field(default="", metadata={
        "help": "local file of ImageNet ResNet weights in torchvision's key format; empty: original init only"})
    heatmap_gain: float = field(default=1.0, metadata={"architecture": True,
        "help": "fixed factor on the heatmap convolutions' output (1: the original); > 1 lets Adam reach the "
                "target's peak of 255 that many times sooner (short CPU runs), with the same loss and decoding"})
    init: Literal["original", "kaiming"] = field(default="original", metadata={
        "help": "backbone initialisation before any --model-pretrained weights: original (conv weights N(0, 0.001), "
                "the placeholder the original always overwrites with ImageNet weights) or kaiming (He-normal, "
                "torchvision's; the choice for training from scratch)"})

    def __post_init__(self) -> None:
        _check_fields(self)  # the field types first: the checks below compare values
        _choice("resnet_type", self.resnet_type, RESNET_TYPES)
        _at_least("input_size", self.input_size, 32)
        if self.input_size % 32:
            raise ValueError(f"input_size={self.input_size!r} must be a multiple of 32 (the backbone's stride)")
        if self.heatmap_size * 4 != self.input_size:
            raise ValueError(f"heatmap_size={self.heatmap_size!r} must be input_size / 4 = {self.input_size // 4} "
                             "(three stride-2 deconvolutions on the stride-32 feature map)")
        if self.sigma <= 0:
            raise ValueError(f"sigma={self.sigma!r} must be positive")
        if self.heatmap_gain <= 0:
            raise ValueError(f"heatmap_gain={self.heatmap_gain!r} must be positive")
        if self.bbox_3d_size <= 0:
            raise ValueError(f"bbox_3d_size={self.bbox_3d_size!r} must be positive")
        if self.bbox_3d_size_root <= 0:
            raise ValueError(f"bbox_3d_size_root={self.bbox_3d_size_root!r} must be positive")


# --- loader configs ---

LOADER_BACKENDS = ("auto", "reference", "dali")
LOADER_DEVICES = ("auto", "cpu", "gpu")
LOADER_BOXES = ("gt", "rootnet")



# ModelConfig fields that change the weights' shapes or meaning (marked "architecture" in their metadata): a
# snapshot must match them to resume.
ARCHITECTURE_FIELDS = tuple(item.name for item in dataclasses.fields(ModelConfig) if item.metadata.get("architecture"))

@dataclass(frozen=True)
class LoaderConfig:
    """How batches are made from the shards: which loader, where it decodes, how it augments."""

    backend: Literal["auto", "reference", "dali"] = field(default="auto", metadata={
        "help": "auto: DALI on a GPU, the reference loader (the fast CPU path) otherwise"})
    device: Literal["auto", "cpu", "gpu"] = field(default="auto", metadata={
        "help": "where DALI decodes and warps: gpu = nvJPEG 'mixed' decode; auto picks gpu when CUDA is present"})
    batch_size: int = field(default=16, metadata={
        "help": "samples per batch on each rank (the original: 16 train, 32 test)"})
    threads: int = field(default=2, metadata={"aliases": ("workers",), "help": (
        "loader threads: the CPU loader's decode/warp pool (0: in the training thread) or DALI's CPU threads")})
    augment: bool = field(default=True, metadata={"help": "apply the original's training augmentation"})
    shuffle_buffer: int = field(default=512, metadata={"help": "samples in the shuffle buffer (DALI initial_fill)"})
    seed: int = field(default=0, metadata={"help": "seed of the shuffle and the augmentation parameters"})
    box: Literal["gt", "rootnet"] = field(default="gt", metadata={
        "help": "crop box: the processed GT box, or RootNet's (the original's test-time default)"})
    roi_decode: bool = field(default=True, metadata={
        "help": "decode only the region of the frame that the crop needs (DALI: ROI decode; CPU loader: "
                "libjpeg-turbo rows and columns, when its extension is built)"})
    accept_incomplete: bool = field(default=False, metadata={
        "help": "read shards whose run failed --max-errors (dataset.json complete: false) instead of refusing them"})

    def __post_init__(self) -> None:
        _check_fields(self)  # the field types first: the checks below compare values
        _at_least("batch_size", self.batch_size, 1)
        _at_least("threads", self.threads, 0)
        _at_least("shuffle_buffer", self.shuffle_buffer, 1)
        _at_least("seed", self.seed, 0)


# --- launch config ---


@dataclass(frozen=True)
class LaunchConfig:
    """Where a job's processes run (train and eval nest it as `launch`; on the command line its options keep their
    own names: --gpu, --cpu-processes, --nnodes, ...): one process per listed GPU, or N on the CPU with gloo, and
    for several nodes torchrun's rendezvous (`interhand.runtime.launch`)."""

    gpu: str = field(default="", metadata={"help": "GPUs, e.g. '0-3' or '0,1,2,3' (one process each); empty: CPU"})
    cpu_processes: int = field(default=1, metadata={"help": "without --gpu: DDP processes on the CPU (gloo)"})
    nnodes: int = field(default=1, metadata={"help": "torchrun: number of nodes"})
    node_rank: int = field(default=0, metadata={"help": "torchrun: this node's rank"})
    master_addr: str = field(default="127.0.0.1", metadata={
        "help": "torchrun: rank 0's node address (several nodes; one node picks a free port itself)"})
    master_port: int = field(default=29500, metadata={"help": "torchrun: rank 0's port (several nodes)"})

    def __post_init__(self) -> None:
        _check_fields(self)  # the field types first: the checks below compare values
        _at_least("cpu_processes", self.cpu_processes, 1)
        _at_least("nnodes", self.nnodes, 1)
        if not 0 <= self.node_rank < self.nnodes:
            raise ValueError(f"node_rank={self.node_rank!r} must lie in 0..nnodes-1 ({self.nnodes - 1})")
        if not 1 <= self.master_port <= 65535:
            raise ValueError(f"master_port={self.master_port!r} must lie in 1..65535")

    @property
    def in_process(self) -> bool:
        """One CPU process on one node: the job runs in the calling process, without torchrun."""
        return not self.gpu and self.cpu_processes == 1 and self.nnodes == 1


# --- train configs ---

TRAIN_DATASETS = ("interhand26m", "stb", "rhd")
# The original's schedule (main/config.py): InterHand2.6M 20 epochs, lr ÷10 at 15 and 17; STB/RHD 50, at 45 and 47.
_SCHEDULES = {"interhand26m": (20, (15, 17)), "stb": (50, (45, 47)), "rhd": (50, (45, 47))}


def _parse_epochs(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"lr_dec_epochs={text!r} must be comma-separated epoch numbers, e.g. '15,17'") from None


@dataclass(frozen=True)
class TrainConfig:
    """A training run: data, schedule, devices, and the model and loader it uses (nested configs)."""

    dataset: Literal["interhand26m", "stb", "rhd"] = field(default="interhand26m", metadata={
        "help": "training set; sets the original schedule (InterHand2.6M 20 epochs, STB/RHD 50)"})
    shards: str = field(default="shards", metadata={"help": "shards root: reads SHARDS/<dataset>/<annot-subset>/train"})
    annot_subset: Literal["all", "human_annot", "machine_annot"] = field(default="all", metadata={
        "help": "InterHand2.6M annotation subset the shards were made from: H+M, H or M"})
    run_dir: str = field(default="output", metadata={"aliases": ("output",),
                                                     "help": "run folder: log/, model_dump/, result/, vis/"})
    launch: LaunchConfig = field(default_factory=LaunchConfig, metadata={
        "help": "processes: --gpu, --cpu-processes, --nnodes, --node-rank, --master-addr, --master-port", "flat": True})
    epochs: int = field(default=0, metadata={"help": "epochs; 0: the dataset's original schedule (20 or 50)"})
    lr: float = field(default=1e-4, metadata={
        "help": "Adam learning rate; not scaled with the GPU count (the original's global batch 16·N used 1e-4 too)"})
    lr_dec_epochs: str = field(default="", metadata={
        "help": "epochs at which lr is divided by lr_dec_factor, e.g. '15,17'; empty: the original's"})
    lr_dec_factor: float = field(default=10.0, metadata={"help": "lr divisor at each lr_dec_epochs"})
    steps_per_epoch: int = field(default=0, metadata={"help": "cap on iterations per epoch (demos, tests); 0: all"})
    snapshot_every: int = field(default=0, metadata={
        "help": "also snapshot every N iterations (for crash recovery: removed once their epoch's snapshot is "
                "written); 0: per epoch only"})
    snapshot_epochs: int = field(default=1, metadata={
        "help": "write model_dump/snapshot_<epoch> every N epochs and after the last (1: every epoch, as the "
                "original; more for runs of many short epochs, e.g. over-fitting a few frames)"})
    keep_snapshots: int = field(default=0, metadata={
        "help": "keep only the newest N epoch snapshots (each ~250-400 MB with Adam's state); 0: keep all, as the "
                "original"})
    log_every: int = field(default=20, metadata={
        "help": "iterations between JSON log lines; the loss is read back from the device (a wait for the GPU) "
                "only then"})
    continue_train: bool = field(default=False, metadata={"help": "resume from the newest complete snapshot"})
    seed: int = field(default=0, metadata={"help": "seed of the initialisation, shuffling and augmentation"})
    model: ModelConfig = field(default_factory=ModelConfig, metadata={"help": "network (--model-*)"})
    loader: LoaderConfig = field(default_factory=LoaderConfig, metadata={"help": "data loading (--loader-*)"})

    def __post_init__(self) -> None:
        _check_fields(self)  # the field types first: the checks below compare values
        _at_least("epochs", self.epochs, 0)
        _at_least("steps_per_epoch", self.steps_per_epoch, 0)
        _at_least("snapshot_every", self.snapshot_every, 0)
        _at_least("keep_snapshots", self.keep_snapshots, 0)
        _at_least("snapshot_epochs", self.snapshot_epochs, 1)
        _at_least("log_every", self.log_every, 1)
        _at_least("seed", self.seed, 0)
        if self.lr <= 0:
            raise ValueError(f"lr={self.lr!r} must be positive")
        if self.lr_dec_factor < 1:
            raise ValueError(f"lr_dec_factor={self.lr_dec_factor!r} must be at least 1")
        _derive(self, "_lr_decay_epochs",
                _parse_epochs(self.lr_dec_epochs) if self.lr_dec_epochs else _SCHEDULES[self.dataset][1])

    @property
    def total_epochs(self) -> int:
        return self.epochs or _SCHEDULES[self.dataset][0]

    @property
    def lr_decay_epochs(self) -> tuple[int, ...]:
        """`lr_dec_epochs` as numbers ('15,17' → (15, 17)), or the dataset's original schedule when empty; parsed
        once when the config was built."""
        return self._lr_decay_epochs

    def lr_at(self, epoch: int) -> float:
        """The original's step schedule, set at the start of each epoch."""
        return self.lr / self.lr_dec_factor ** sum(epoch >= boundary for boundary in self.lr_decay_epochs)


# --- eval configs ---

EVAL_SPLITS = ("train", "val", "test")
EVAL_ROOTS = ("rootnet", "gt")
EVAL_BASELINES = ("none", "mean-pose", "untrained")
# Eval's loader unless told otherwise: the original's test batch (32), the shards' order, no augmentation.
EVAL_LOADER = LoaderConfig(batch_size=32, augment=False)


@dataclass(frozen=True)
class EvalConfig:
    """An evaluation job: a checkpoint (or the oracle) scored on one split's shards."""

    checkpoint: str = field(default="", metadata={
        "help": "checkpoint to score: ours or the original's snapshot_N.pth.tar (default: see --test-epoch)"})
    test_epoch: int = field(default=-1, metadata={
        "help": "score RUN_DIR/model_dump/snapshot_<N>.pth.tar (the original's --test_epoch); -1: the newest"})
    oracle: bool = field(default=False, metadata={
        "help": "score the ground truth passed through the target encoding and decoding (no network): "
                "the quantization floor of the 64³ representation, or of the heatmap size of --checkpoint / "
                "--test-epoch when one is given"})
    dataset: Literal["interhand26m", "stb", "rhd"] = field(default="interhand26m", metadata={"help": "dataset"})
    shards: str = field(default="shards", metadata={
        "help": "shards root: reads SHARDS/<dataset>/<annot-subset>/<split>"})
    annot_subset: Literal["all", "human_annot", "machine_annot"] = field(default="all", metadata={
        "help": "annotation subset of the shards"})
    split: Literal["train", "val", "test"] = field(default="val", metadata={
        "help": "split to score (STB/RHD: test); train diagnoses over-fitting "
                "(it has no RootNet output: --root-source gt)"})
    root_source: Literal["rootnet", "gt"] = field(default="rootnet", metadata={"aliases": ("root",),
        "help": "absolute root depth (and box) from RootNet's outputs, the original's default, or the ground truth"})
    run_dir: str = field(default="output", metadata={"aliases": ("output",),
                                                     "help": "run folder: writes result/<run>/ and vis/<run>/"})
    run_name: str = field(default="", metadata={
        "help": "name of the result folders; default from split, root, checkpoint"})
    launch: LaunchConfig = field(default_factory=LaunchConfig, metadata={
        "help": "processes: --gpu, --cpu-processes, --nnodes, --node-rank, --master-addr, --master-port", "flat": True})
    vis: int = field(default=8, metadata={"help": "overlays of the N worst and N random samples"})
    baseline: Literal["none", "mean-pose", "untrained"] = field(default="none", metadata={
        "help": "score a trivial predictor instead: mean-pose (the train split's mean root-relative pose per hand, "
                "from its manifest; no network) or untrained (the checkpoint's architecture, freshly initialised "
                "with --seed)"})
    seed: int = field(default=0, metadata={"help": "seed of the untrained baseline's initialisation"})
    loader: LoaderConfig = field(default_factory=lambda: EVAL_LOADER, metadata={
        "help": "data loading (--loader-*): eval's defaults are batch 32 (the original's test batch) and no "
                "augmentation; the crop box follows `root_source`"})

    def __post_init__(self) -> None:
        _check_fields(self)  # the field types first: the checks below compare values
        if self.oracle and self.baseline != "none":
            raise ValueError(f"oracle=True and baseline={self.baseline!r}: choose one")
        _check_subset(self.dataset, self.annot_subset, self.split)
        _at_least("vis", self.vis, 0)
        _at_least("seed", self.seed, 0)
        _plain_name("run_name", self.run_name)
        if self.loader.augment:
            raise ValueError("loader.augment=True: evaluation reads every sample once, unaugmented")
        if self.loader.box != self.root_source:  # the crop box comes with the root depth: both RootNet's or both GT's
            object.__setattr__(self, "loader", dataclasses.replace(self.loader, box=self.root_source))


# --- `interhand score` (interhand/eval/score_job.py) ---

SCORE_SUBSETS = ("all", "human_annot", "interacting")  # the frames scored; alone, the internet protocol's
PROTOCOL_NAMES = ("internet", "mmpose", "interwild")  # defined in interhand/eval/protocols.py (docs/protocols.md)
# Every protocol `interhand score --protocol` takes: a subset (internet's), a name, or NAME:SUBSET.
PROTOCOLS = SCORE_SUBSETS + PROTOCOL_NAMES + tuple(f"{name}:{subset}" for name in PROTOCOL_NAMES
                                                   for subset in SCORE_SUBSETS)
SINGLE_HAND_PROTOCOLS = ("all", "internet", "internet:all")  # STB, RHD: the original's EPE over all samples
SCORE_ROOT_SOURCES = ("rootnet", "gt")  # for the image_relative form; the others carry their own depth


@dataclass(frozen=True)
class ScoreConfig:
    """A scoring job: prediction files scored on one split's shards, under one or more protocols."""

    dataset: str = field(default="", metadata={"help": "dataset of the shards (default: the one the files name)"})
    shards: str = field(default="shards", metadata={
        "help": "shards root: reads SHARDS/<dataset>/<annot-subset>/<split>"})
    annot_subset: str = field(default="", metadata={
        "help": "annotation subset of the shards (default: the one the first file names, else all)"})
    split: str = field(default="", metadata={"help": "split to score (default: the one the files name)"})
    root_source: str = field(default="", metadata={"aliases": ("root",),
        "help": "absolute wrist depth for the image_relative form: rootnet or gt (default: the one the file records, "
                "else rootnet); the other forms carry their own"})
    protocols: tuple[str, ...] = field(default=("all",), metadata={
        "help": "protocols to score: all, human_annot, interacting (the internet protocol's frames), internet, "
                "mmpose, interwild (each on its own frames) or PROTOCOL:SUBSET, e.g. mmpose:interacting"})
    aid_list: str = field(default="", metadata={
        "help": "H-subset annotation ids, one per line, for --protocol human_annot (default: "
                "aid_human_annot_<split>.txt in --data)"})
    data: str = field(default="", metadata={
        "help": "dataset folder holding aid_human_annot_<split>.txt (dataset.json names it, without its path)"})
    out_dir: str = field(default="score", metadata={"help": "output folder: <name>/<protocol>/ and comparison.*"})
    vis: int = field(default=8, metadata={"help": "overlays of the N worst and N random samples per file and protocol"})
    accept_incomplete: bool = field(default=False, metadata={
        "help": "score shards whose run failed --max-errors (dataset.json complete: false) instead of refusing them"})

    def __post_init__(self) -> None:
        _check_fields(self)  # the field types first: the checks below compare values
        for name, value, allowed in (("dataset", self.dataset, TRAIN_DATASETS), ("split", self.split, EVAL_SPLITS),
                                     ("annot_subset", self.annot_subset, PREPROCESS_SUBSETS),
                                     ("root_source", self.root_source, SCORE_ROOT_SOURCES)):
            if value and value not in allowed:
                raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")
        if not self.protocols or set(self.protocols) - set(PROTOCOLS):
            raise ValueError(f"protocols={list(self.protocols)!r}: each one of {', '.join(PROTOCOLS)}")
        if self.dataset and self.dataset != "interhand26m" and set(self.protocols) - set(SINGLE_HAND_PROTOCOLS):
            raise ValueError(f"protocols={list(self.protocols)!r}: only {', '.join(SINGLE_HAND_PROTOCOLS)} apply to "
                             f"{self.dataset} (the others are InterHand2.6M's)")
        if self.vis < 0:
            raise ValueError(f"vis={self.vis!r} must be at least 0")
