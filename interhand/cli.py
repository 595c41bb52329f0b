"""The `interhand` command. Each command builds its config and calls one `run` function.

Options are generated from the config dataclasses, so `--help` shows each field's own help text and
defaults, and a bad value is a `click.BadParameter` naming the value and the allowed choices.
Heavy modules (torch, DALI) are imported inside the commands so that `--help` stays instant.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import click

from interhand import __version__
from interhand.config import EvalConfig, LoaderConfig, PreprocessConfig, SynthConfig, TrainConfig, config_from_dict

__all__ = ["main"]


def _click_type(annotation: object) -> object:
    if typing.get_origin(annotation) is typing.Literal:
        return click.Choice([str(choice) for choice in typing.get_args(annotation)])
    return annotation if annotation in (int, float, str, bool) else str


def _options(config_class: type, prefix: str, exclude: tuple[str, ...]) -> list:
    """(flag, parameter name, type, default, help) per field; nested config fields get a flag prefix."""
    hints = typing.get_type_hints(config_class)
    options = []
    for spec in dataclasses.fields(config_class):
        if spec.name in exclude:
            continue
        annotation = hints[spec.name]
        if dataclasses.is_dataclass(annotation):
            options += _options(annotation, f"{prefix}{spec.name}_", ())
            continue
        name = prefix + spec.name
        default = spec.default if spec.default is not dataclasses.MISSING else spec.default_factory()
        options.append((name, annotation, default, spec.metadata.get("help", "")))
    return options


def config_options(config_class: type, exclude: tuple[str, ...] = ()):
    """Decorator: one `--field-name` option per dataclass field (help and default from the field).

    Fields that are configs themselves become `--<field>-<subfield>` options (e.g. `--model-resnet-type`).
    """

    def decorate(command):
        for name, annotation, default, help_text in reversed(_options(config_class, "", exclude)):
            flag = "--" + name.replace("_", "-")
            if annotation is bool:
                flag = f"{flag}/--no-{name.replace('_', '-')}"
            command = click.option(flag, name, type=_click_type(annotation), default=default, show_default=True,
                                   help=help_text)(command)
        return command

    return decorate


def _nest(config_class: type, values: dict, prefix: str = "") -> dict:
    """Flat option values (`model_resnet_type`) → nested dicts ({"model": {"resnet_type": ...}})."""
    hints = typing.get_type_hints(config_class)
    nested = {}
    for spec in dataclasses.fields(config_class):
        if dataclasses.is_dataclass(hints[spec.name]):
            inner = _nest(hints[spec.name], values, f"{prefix}{spec.name}_")
            if inner:
                nested[spec.name] = inner
        elif prefix + spec.name in values:
            nested[spec.name] = values[prefix + spec.name]
    return nested


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged.get(key) or {}, value) if isinstance(value, dict) else value
    return merged


def build_config(config_class: type, values: dict, config_file: Path | None = None):
    """Construct a config from option values, turning its ValueError into a click error naming the field.

    With `config_file` (YAML or JSON, nested like the dataclasses), the file gives the values and only
    the options typed on the command line override it (timm's idea: file defaults, flags win).
    """
    context = click.get_current_context(silent=True)
    if config_file is not None and context is not None:
        given = {name: value for name, value in values.items()
                 if context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    else:
        given = values
    try:
        nested = _nest(config_class, given)
        if config_file is not None:
            import yaml

            loaded = yaml.safe_load(Path(config_file).read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{config_file}: expected a mapping of config fields")
            nested = _merge(loaded, nested)
        return config_from_dict(config_class, nested)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="interhand")
def main() -> None:
    """3D interacting hand pose on InterHand2.6M, STB and RHD: synthetic data, shards, loaders,
    InterNet training and evaluation."""


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@config_options(SynthConfig)
@click.option("--overwrite", is_flag=True, help="replace OUT if it already exists")
def synth(out: Path, overwrite: bool, **values) -> None:
    """Write a synthetic dataset to OUT, byte for byte in the real on-disk format.

    OUT plays the role of the original repository's data/<dataset> folder: for InterHand2.6M it gets
    images/, annotations/ (v1.0 and/or v0.0 layout), rootnet_output/ and the H-subset id lists;
    for STB and RHD, data/ (parsed COCO json, PNG images, skeleton.txt) and rootnet_output/.
    Frames are rendered from the 3D joints (two articulated hands, depth-tested) through each camera.
    """
    from interhand.synth.run import run

    config = build_config(SynthConfig, values)
    summary = run(config, out, overwrite=overwrite)
    click.echo(summary)


@main.command("contact-sheet")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="train", show_default=True, help="split to draw (STB/RHD: train or test)")
@click.option("--count", default=12, show_default=True, type=click.IntRange(1, 200), help="frames to draw")
@click.option("--columns", default=4, show_default=True, type=click.IntRange(1, 20), help="frames per row")
@click.option("--seed", default=0, show_default=True, help="which frames are picked")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write")
def contact_sheet(root: Path, split: str, count: int, columns: int, seed: int, out_path: Path) -> None:
    """Draw frames of a dataset in its on-disk format with their annotations (skeleton, bbox, hand type).

    ROOT is a dataset folder (InterHand2.6M v1.0 layout, STB or RHD, as `interhand synth` writes
    them or as released). Annotations are read back from the files, so the sheet shows what a loader sees.
    """
    from interhand.synth.contact_sheet import write_contact_sheet

    try:
        path = write_contact_sheet(root, split, count=count, columns=columns, seed=seed, out_path=out_path)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"wrote {path}")


# --- preprocess commands ---

@main.command()
@config_options(PreprocessConfig)
@click.option("--finalize", is_flag=True,
              help="only stitch the finished parts (--part K/N jobs) into manifest, errors and dataset.json")
def shards(finalize: bool, **values) -> None:
    """Convert one split of a dataset into webdataset tar shards + Parquet manifests (SHARD_FORMAT.md).

    Writes OUT/<dataset>/<subset>/<split>/: <split>-NNNNNN.tar shards with DALI .idx files,
    manifest.parquet, errors.parquet and dataset.json. A re-run resumes: finished shards are verified and kept.
    """
    import sys

    from interhand.preprocess.run import TooManyErrors, finalize as finalize_parts, run
    from interhand.preprocess.sources import SourceError

    config = build_config(PreprocessConfig, values)
    try:
        summary = finalize_parts(config, sys.argv) if finalize else run(config, sys.argv)
    except (SourceError, TooManyErrors) as error:
        raise click.ClickException(str(error)) from error
    click.echo(summary if summary is not None else f"part {config.part} done; run --finalize after all parts")


@main.command()
@click.argument("shard_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def verify(shard_dir: Path) -> None:
    """Re-read every shard of SHARD_DIR and check it against dataset.json and manifest.parquet
    (member presence, offsets, sizes, CRC-32 and SHA-256 recorded at write time, DALI indexes).
    SHARD_DIR is one split folder, or any folder above: every split found below it is checked."""
    from interhand.preprocess.verify import verify_shard_dir

    folders = [shard_dir] if (shard_dir / "dataset.json").is_file() else \
        sorted(path.parent for path in shard_dir.rglob("dataset.json") if ".work" not in path.parts)
    if not folders:
        raise click.ClickException(f"no dataset.json in or below {shard_dir}: not a shard folder")
    problems = []
    for folder in folders:
        try:
            found = verify_shard_dir(folder)
        except (FileNotFoundError, ValueError) as error:
            found = [str(error)]
        problems += [f"{folder}: {problem}" for problem in found]
        click.echo(f"{folder}: {'all shards verify' if not found else f'{len(found)} problem(s)'}")
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} problem(s) in {shard_dir}")


# --- model commands ---


def _parse_bbox(context, parameter, value: str) -> tuple[float, float, float, float]:
    try:
        numbers = tuple(float(part) for part in value.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != 4 or numbers[2] <= 0 or numbers[3] <= 0:
        raise click.BadParameter(f"{value!r} is not x,y,w,h: four numbers, original-image px, w and h > 0")
    return numbers


@main.command()
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="our checkpoint or the original repository's snapshot_N.pth.tar")
@click.option("--image", "image_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="input image")
@click.option("--bbox", required=True, callback=_parse_bbox,
              help="hand box x_min,y_min,width,height in image px (squared and enlarged x1.25 as the original)")
@click.option("--out", "out_dir", default=Path("."), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="folder for result_2d.png and result_3d.png")
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cpu or cuda:0")
def predict(checkpoint: Path, image_path: Path, bbox: tuple, out_dir: Path, device: str) -> None:
    """Run InterNet on one hand box of one image (the original demo).

    Writes the 2D skeleton overlay and a 3D plot (x, y in image px, z in mm relative to the right wrist,
    left hand offset by the predicted root depth) and prints the joints as one JSON object.
    """
    import json

    from interhand.model.predict import run

    try:
        result = run(checkpoint, image_path, bbox, out_dir, device=device)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(result))


# --- loader commands ---


@main.command("preview-batch")
@click.argument("shard_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@config_options(LoaderConfig, exclude=("shuffle_buffer", "roi_decode"))
@click.option("--batches", default=2, show_default=True, type=click.IntRange(1, 50), help="batches to draw")
@click.option("--epoch", default=0, show_default=True, help="epoch whose augmentation to draw")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PNG to write")
def preview_batch(shard_dir: Path, batches: int, epoch: int, out_path: Path, **values) -> None:
    """Draw loader batches of SHARD_DIR (one `interhand shards` split folder) with their targets.

    The patches as the network sees them (augmented unless --no-augment), with the joint targets drawn
    back from heatmap space: the quickest check of the loader, the augmentation and the shards.
    """
    from itertools import islice

    from interhand.loaders.build import build_loader
    from interhand.loaders.preview import write_batch_sheet

    config = build_config(LoaderConfig, values)
    try:
        loader = build_loader(shard_dir, config, with_keys=True)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    loader.set_epoch(epoch)
    path = write_batch_sheet(list(islice(iter(loader), batches)), out_path)
    click.echo(f"wrote {path} ({loader.backend} loader on the {loader.device})")

# --- train commands ---


@main.command(short_help="Train InterNet on the shards (torchrun/DDP with --gpu 0-3, or the CPU).")
@config_options(TrainConfig, exclude=("continue_train",))
@click.option("--continue", "continue_train", is_flag=True, help="resume from the newest complete snapshot in "
              "OUTPUT/model_dump (the original's --continue)")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML/JSON file of TrainConfig fields (nested: model:, loader:); command-line options win")
@click.option("--nnodes", default=1, show_default=True, help="torchrun: number of nodes")
@click.option("--node-rank", default=0, show_default=True, help="torchrun: this node's rank")
@click.option("--master-addr", default="127.0.0.1", show_default=True,
              help="torchrun: rank 0's node address (several nodes; one node picks a free port itself)")
@click.option("--master-port", default=29500, show_default=True, help="torchrun: rank 0's port (several nodes)")
def train(config_file: Path | None, nnodes: int, node_rank: int, master_addr: str, master_port: int, **values) -> None:
    """Train InterNet on the shards: SHARDS/<dataset>/<annot-subset>/train.

    --gpu 0-3 starts one torchrun process per listed GPU (NCCL, DistributedDataParallel, DALI loader
    sharded by rank); without --gpu it trains on the CPU (gloo, --cpu-processes processes). Batch size
    is per process (global = batch × processes) and the learning rate is not scaled. OUTPUT gets
    config.yaml (the resolved config), log/ (JSON lines + text), model_dump/snapshot_<epoch>.pth.tar.
    """
    from interhand.train.launch import Rendezvous, launch

    config = build_config(TrainConfig, values, config_file)
    try:
        status = launch(config, Rendezvous(nnodes, node_rank, master_addr, master_port))
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    if status:
        raise click.ClickException(f"training processes exited with status {status}")


@main.command("plot-log")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG to write (default RUN_DIR/vis/train_loss.png)")
def plot_log_command(run_dir: Path, out_path: Path | None) -> None:
    """Plot a training run's loss terms, learning rate and data-wait fraction from RUN_DIR/log/train_log.jsonl."""
    from interhand.train.log import plot_log

    try:
        click.echo(f"wrote {plot_log(run_dir, out_path)}")
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error

# --- eval commands ---


@main.command("eval", short_help="Score a checkpoint (or the oracle) on a val/test split: MPJPE, MRRPE, handedness.")
@config_options(EvalConfig)
def eval_command(**values) -> None:
    """Score a checkpoint on SHARDS/<dataset>/<annot-subset>/<split>: MPJPE (single, interacting, all),
    MRRPE and handedness accuracy as the original computes them (STB/RHD: EPE).

    The checkpoint is --checkpoint (ours or the original's snapshot_N.pth.tar), else
    OUTPUT/model_dump/snapshot_<--test-epoch>.pth.tar, else the newest snapshot; --oracle scores the
    ground truth through the 64³ encoding instead (the representation's floor). Writes
    OUTPUT/result/<run>/{predictions.parquet, metrics.json, report.txt} and OUTPUT/vis/<run>/ figures.
    """
    from interhand.eval.launch import launch

    config = build_config(EvalConfig, values)
    try:
        status = launch(config)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    if status:
        raise click.ClickException(f"evaluation processes exited with status {status}")


@main.command("compare", short_help="Side-by-side table of a run's evaluations: oracle, mean pose, untrained, trained.")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="", help="only the evaluations of this split (train, val, test); default: all")
def compare_command(run_dir: Path, split: str) -> None:
    """Print RUN_DIR/result/*/metrics.json side by side (MPJPE all / single / interacting, MRRPE, handedness),
    baselines first, and a last line saying whether each trained model beat the mean-pose baseline."""
    import json

    from interhand.eval.report import format_comparison

    results = {}
    for path in sorted((run_dir / "result").glob("*/metrics.json")):
        metrics = json.loads(path.read_text())
        if not split or metrics.get("split") == split:
            results[path.parent.name] = metrics
    if not results:
        raise click.ClickException(f"no evaluation{' of split ' + split if split else ''} in {run_dir / 'result'}")
    click.echo(format_comparison(results), nl=False)


if __name__ == "__main__":
    main()
