"""The `interhand` command. Each command builds its config and calls one `run` function.

Options are generated from the config dataclasses (`interhand.cli_options`); this module holds the command
line's vocabulary (FLAGS: which option name each field gets, which other spellings it accepts) and the commands.
Heavy modules (torch, DALI) are imported inside the commands so that `--help` stays instant.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from interhand import __version__, cli_options
from interhand.cli_options import EXISTING_DIR, EXISTING_FILE, Flag, build_config, config_file_option, option
from interhand.config import (
    EVAL_ROOTS,
    EVAL_SPLITS,
    PREPROCESS_SUBSETS,
    TRAIN_DATASETS,
    EvalConfig,
    LoaderConfig,
    PreprocessConfig,
    ScoreConfig,
    SynthConfig,
    TrainConfig,
)
from interhand.eval.score_job import parse_protocols
from interhand.outputs import OUTPUT_ERRNOS, OutputError, output_error_line
from interhand.progress import show_warnings
from interhand.shard_format.names import DATASET_FILE, split_dir

__all__ = ["main"]


class _RootSource(click.Choice):
    """The root-depth source; a folder given here (the old `--root`) gets told where a folder goes."""

    def convert(self, value, param, ctx):
        if value not in self.choices and ("/" in str(value) or Path(str(value)).exists()):
            self.fail(f"{value!r}: --root-source is where the absolute root depth comes from, one of "
                      f"{', '.join(self.choices)}; a dataset folder is `interhand shards --data`", param, ctx)
        return super().convert(value, param, ctx)


# Per config, flattened field -> its option when that is not `--field-name` (nested: `--<config>-<field>`);
# the aliases are our old spellings and the original repository's (--annot_subset, --test_epoch, --test_set). A
# field's former names (`root` for `data`, ...) are the config's own `aliases` (interhand.config.field_aliases):
# config files accept them too, and cli_options adds them here as hidden options.
_SUBSET = Flag("--annot-subset", ("--annot_subset", "--subset"))
# LoaderConfig's options: on preview-batch as they are, nested in train and eval as `loader_<field>`.
_LOADER_FLAGS = {"batch_size": Flag("--batch-size", ("--loader-batch-size",)),
                 "threads": Flag("--loader-threads", ("--loader-workers", "--workers")),
                 "backend": Flag("--loader-backend", ("--backend",)), "device": Flag("--loader-device", ("--device",)),
                 "augment": Flag("--loader-augment", ("--augment",)), "box": Flag("--loader-box", ("--box",)),
                 # verify and score say --accept-incomplete too, and so does the error that refuses such a folder
                 "accept_incomplete": Flag("--accept-incomplete", ("--loader-accept-incomplete",))}
_NESTED_LOADER_FLAGS = {f"loader_{name}": flag for name, flag in _LOADER_FLAGS.items()}
FLAGS = {
    # --data is checked once the config is built: its default may be replaced by a --config file
    PreprocessConfig: {"data": Flag("--data", type=click.Path(file_okay=False)), "annot_subset": _SUBSET,
                       "aid_list": Flag("--aid-list", type=EXISTING_FILE)},
    TrainConfig: {"annot_subset": _SUBSET, **_NESTED_LOADER_FLAGS,
                  "model_pretrained": Flag("--model-pretrained", type=EXISTING_FILE)},
    EvalConfig: {"annot_subset": _SUBSET, **_NESTED_LOADER_FLAGS,
                 "root_source": Flag("--root-source", type=_RootSource(EVAL_ROOTS)),
                 "test_epoch": Flag("--test-epoch", ("--test_epoch",)),
                 "split": Flag("--split", ("--test_set",)), "checkpoint": Flag("--checkpoint", type=EXISTING_FILE)},
    LoaderConfig: _LOADER_FLAGS,
}
# Eval's loader reads each sample once in the shards' order: no augmentation, shuffle or seed; its box is --root-source.
EVAL_EXCLUDED = ("loader_augment", "loader_box", "loader_shuffle_buffer", "loader_seed")


def config_options(config_class: type, exclude: tuple[str, ...] = (), flags: dict | None = None):
    """`cli_options.config_options` in this command line's vocabulary: FLAGS, unless `flags` is given."""
    return cli_options.config_options(config_class, exclude, FLAGS.get(config_class, {}) if flags is None else flags)


def check_shards_root(shards: Path, dataset: str, annot_subset: str, split: str) -> None:
    """A `--shards` that is not a shards root gets an error saying which folder to give instead."""
    if not shards.is_dir():
        raise click.BadParameter(f"{shards} does not exist: --shards is the folder `interhand shards --shards` "
                                 "wrote to", param_hint="'--shards'")
    if (shards / DATASET_FILE).is_file():
        root = shards.parents[2] if len(shards.parents) > 2 else shards
        raise click.BadParameter(f"{shards} is one split's folder; --shards is the shards root above "
                                 f"<dataset>/<annot-subset>/<split>: use --shards {root}", param_hint="'--shards'")
    if not (split_dir(shards, dataset, annot_subset, split) / DATASET_FILE).is_file():
        found = sorted(str(path.parent.relative_to(shards)) for path in shards.glob(f"*/*/*/{DATASET_FILE}"))
        raise click.BadParameter(
            f"{shards} has no finished shards for {dataset}/{annot_subset}/{split} "
            f"(found: {', '.join(found) or 'none'}); "
            f"make them with `interhand shards --dataset {dataset} --annot-subset {annot_subset} --split {split} "
            f"--shards {shards}`", param_hint="'--shards'")


class _Commands(click.Group):
    """The command group. Whatever command meets it, an output that cannot be written (OutputError, or an OSError
    such as ENOSPC raised inside a library) ends as one `Error:` line naming the path and the free space there."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OutputError as error:
            raise click.ClickException(str(error)) from error
        except OSError as error:
            if error.errno not in OUTPUT_ERRNOS:
                raise
            raise click.ClickException(output_error_line(error, action="at")) from error


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="interhand")
def main() -> None:
    """3D interacting hand pose on InterHand2.6M, STB and RHD: synthetic data, shards, loaders,
    InterNet training and evaluation."""
    show_warnings()


@main.command()
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@config_options(SynthConfig)
@click.option("--overwrite", is_flag=True, help="replace DATA_DIR if it already exists")
def synth(data_dir: Path, overwrite: bool, **values) -> None:
    """Write a synthetic dataset to DATA_DIR, byte for byte in the real on-disk format.

    DATA_DIR plays the role of the original repository's data/<dataset> folder: for InterHand2.6M it gets
    images/, annotations/ (v1.0 and/or v0.0 layout), rootnet_output/ and the H-subset id lists;
    for STB and RHD, data/ (parsed COCO json, PNG images, skeleton.txt) and rootnet_output/.
    Frames are rendered from the 3D joints (two articulated hands, depth-tested) through each camera.
    """
    from interhand.synth.run import run

    config = build_config(SynthConfig, values)
    summary = run(config, data_dir, overwrite=overwrite)
    click.echo(summary)


@main.command("contact-sheet")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="train", show_default=True, type=click.Choice(("train", "val", "test")),
              help="split to draw (STB/RHD: train or test)")
@click.option("--count", default=12, show_default=True, type=click.IntRange(1, 200), help="frames to draw")
@click.option("--columns", default=4, show_default=True, type=click.IntRange(1, 20), help="frames per row")
@click.option("--seed", default=0, show_default=True, help="which frames are picked")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write")
def contact_sheet(data_dir: Path, split: str, count: int, columns: int, seed: int, out_path: Path) -> None:
    """Draw frames of a dataset in its on-disk format with their annotations (skeleton, bbox, hand type).

    DATA_DIR is a dataset folder (InterHand2.6M v1.0 layout, STB or RHD, as `interhand synth` writes
    them or as released). Annotations are read back from the files, so the sheet shows what a loader sees.
    """
    from interhand.synth.contact_sheet import write_contact_sheet

    try:
        path = write_contact_sheet(data_dir, split, count=count, columns=columns, seed=seed, out_path=out_path)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"wrote {path}")


# --- preprocess commands ---

@main.command()
@config_options(PreprocessConfig)
@config_file_option(PreprocessConfig)
@click.option("--finalize", is_flag=True,
              help="only stitch the finished parts (--part K/N jobs) into manifest, errors and dataset.json")
def shards(finalize: bool, config_file: Path | None, **values) -> None:
    """Convert one split of a dataset into webdataset tar shards + Parquet manifests (SHARD_FORMAT.md).

    Reads the dataset folder --data; writes SHARDS/<dataset>/<annot-subset>/<split>/: <split>-NNNNNN.tar
    shards with DALI .idx files, manifest.parquet, errors.parquet, dataset.json, then a dataset card, croissant.json,
    shardindex.json and SHA256SUMS. A re-run resumes an unfinished run: finished shards are verified and kept;
    `.work/`, the resume state, is removed at the end.
    """
    from interhand.preprocess.publish import shard_count_warning
    from interhand.preprocess.run import TooManyErrors, WriteFailed, run
    from interhand.preprocess.run import finalize as finalize_parts
    from interhand.preprocess.sources import SourceError, missing_subfolder

    config = build_config(PreprocessConfig, values, config_file)
    if not Path(config.data).is_dir():
        raise click.BadParameter(f"{config.data} does not exist or is not a folder: --data is the dataset folder",
                                 param_hint="'--data'")
    expected = missing_subfolder(config.dataset, Path(config.data))
    if expected:
        raise click.BadParameter(f"{config.data} has no {expected}/ folder: --data is the {config.dataset} dataset "
                                 f"folder that holds {expected}/ (as `interhand synth` writes it)",
                                 param_hint="'--data'")
    try:
        # dataset.json records the command that reproduces the folder, rebuilt from `config`, not sys.argv: the
        # arguments as typed hold this machine's paths (SHARD_FORMAT.md §5)
        summary = finalize_parts(config) if finalize else run(config)
    except (SourceError, TooManyErrors, WriteFailed) as error:
        raise click.ClickException(str(error)) from error
    click.echo(summary if summary is not None else f"part {config.part} done; run --finalize after all parts")
    warning = summary and shard_count_warning(summary.out_dir, summary.samples, summary.shards)
    if warning:
        click.echo(warning, err=True)


@main.command(short_help="Re-read every shard under SHARDS and check it against its manifest and dataset.json.")
@click.argument("shard_dir", metavar="SHARDS", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--accept-incomplete", is_flag=True,
              help="check a folder whose run failed --max-errors (dataset.json complete: false) instead of refusing it")
@click.option("--check-sources", is_flag=True,
              help="also re-read every source image: size and SHA-256 as recorded, and a re-encoded image's "
                   "decoded pixels identical to the source's (slow: decodes both)")
@click.option("--source-root", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="with --check-sources: the dataset folder (dataset.json names it without its path)")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="processes that check the shards (each reads and hashes whole tars: one per core helps)")
def verify(shard_dir: Path, accept_incomplete: bool, check_sources: bool, source_root: Path | None,
           workers: int) -> None:
    """Re-read every shard under SHARDS and check it against dataset.json and manifest.parquet
    (member presence, offsets, sizes, CRC-32 and SHA-256 recorded at write time, DALI indexes, the
    manifest's and errors' SHA-256, the counts, unlisted files). SHARDS is one split folder, or any
    folder above (a shards root): every split found below it is checked. Prints each dataset.json's
    SHA-256, to pin it. With --check-sources, also the source images behind the stored ones."""
    from interhand.preprocess.verify import split_folders, verdict, verify_split_folder

    folders = split_folders(shard_dir)
    if not folders:
        raise click.ClickException(f"no dataset.json in or below {shard_dir}: not a shard folder")
    problems = []
    for folder in folders:
        found = verify_split_folder(folder, accept_incomplete, check_sources, source_root, workers)
        problems += [f"{folder}: {problem}" for problem in found]
        click.echo(f"{folder}: {verdict(folder, found)}")
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
@option("--out-dir", "out_dir", aliases=("--out",), default=Path("."), show_default=True,
        type=click.Path(file_okay=False, path_type=Path), help="folder for result_2d.png and result_3d.png")
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cpu or cuda:0")
def predict(checkpoint: Path, image_path: Path, bbox: tuple, out_dir: Path, device: str) -> None:
    """Run InterNet on one hand box of one image (the original demo).

    Writes the 2D skeleton overlay and a 3D plot (x, y in image px, z in mm relative to the right wrist,
    left hand offset by the predicted root depth) and prints the joints as one JSON object.
    """
    import json

    from interhand.predict import run

    try:
        result = run(checkpoint, image_path, bbox, out_dir, device=device)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(result, allow_nan=False))  # run() refuses non-finite output: the JSON stays valid


# --- loader commands ---


@main.command("preview-batch")
@click.argument("shard_dir", metavar="SPLIT_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@config_options(LoaderConfig, exclude=("shuffle_buffer", "roi_decode"))
@click.option("--batches", default=2, show_default=True, type=click.IntRange(1, 50), help="batches to draw")
@click.option("--epoch", default=0, show_default=True, help="epoch whose augmentation to draw")
@click.option("--columns", default=8, show_default=True, type=click.IntRange(1, 32), help="tiles per row")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path), help="PNG to write")
def preview_batch(shard_dir: Path, batches: int, epoch: int, columns: int, out_path: Path, **values) -> None:
    """Draw loader batches of SPLIT_DIR (one `interhand shards` split folder) with their targets.

    The patches as the network sees them (augmented unless --no-loader-augment), with the joint targets drawn
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
    title = (f"{shard_dir}, epoch {epoch}, {loader.backend} loader, "
             f"{f'augmented (seed {config.seed})' if config.augment else 'not augmented'}, {config.box} box")
    path = write_batch_sheet(list(islice(iter(loader), batches)), out_path, columns, shard_dir, title)
    click.echo(f"wrote {path} ({loader.backend} loader on the {loader.device})")

# --- train commands ---


def train_config(values: dict, config_file: Path | None = None) -> TrainConfig:
    """The run's TrainConfig with one seed: the loader's shuffle and augmentation follow --seed (or, from a
    config file without its own `loader: seed:`, the file's `seed`)."""
    context = click.get_current_context(silent=True)
    given_seed = context is not None and context.get_parameter_source("seed") == click.core.ParameterSource.COMMANDLINE
    if given_seed or config_file is None:
        values = {**values, "loader_seed": values["seed"]}
    config = build_config(TrainConfig, values, config_file, also_given=("loader_seed",) if given_seed else ())
    if config_file is not None and not given_seed:
        loaded = cli_options.read_config_file(config_file)  # build_config has read and checked it already
        if "seed" not in (loaded.get("loader") or {}):
            config = dataclasses.replace(config, loader=dataclasses.replace(config.loader, seed=config.seed))
    return config


@main.command(short_help="Train InterNet on the shards (torchrun/DDP with --gpu 0-3, or the CPU).")
@config_options(TrainConfig, exclude=("continue_train", "loader_seed"))
@click.option("--continue", "continue_train", is_flag=True, help="resume from the newest complete snapshot in "
              "RUN_DIR/model_dump (the original's --continue)")
@config_file_option(TrainConfig)
def train(config_file: Path | None, **values) -> None:
    """Train InterNet on the shards: SHARDS/<dataset>/<annot-subset>/train.

    --gpu 0-3 starts one torchrun process per listed GPU (NCCL, DistributedDataParallel, DALI loader
    sharded by rank); without --gpu it trains on the CPU (gloo, --cpu-processes processes). Batch size
    is per process (global = batch × processes) and the learning rate is not scaled. --run-dir gets
    config.yaml (the resolved config), log/ (JSON lines + text), model_dump/snapshot_<epoch>.pth.tar.
    """
    from interhand.train.launch import launch

    config = train_config(values, config_file)
    check_shards_root(Path(config.shards), config.dataset, config.annot_subset, "train")
    try:
        status = launch(config)
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


@main.command("eval", short_help="Score a checkpoint, the oracle or a baseline on a split: MPJPE, MRRPE, handedness.")
@config_options(EvalConfig, exclude=EVAL_EXCLUDED)
@config_file_option(EvalConfig)
def eval_command(config_file: Path | None, **values) -> None:
    """Score a checkpoint on SHARDS/<dataset>/<annot-subset>/<split>: MPJPE (single, interacting, all),
    MRRPE and handedness accuracy as the original computes them (STB/RHD: EPE).

    The checkpoint is --checkpoint (ours or the original's snapshot_N.pth.tar), else
    RUN_DIR/model_dump/snapshot_<--test-epoch>.pth.tar, else the newest snapshot; --oracle scores the
    ground truth through the 64³ encoding instead (the representation's floor). Writes
    RUN_DIR/result/<run>/{predictions.parquet, per_sample.parquet, metrics.json, report.txt} and
    RUN_DIR/vis/<run>/ figures; `interhand score` on that predictions.parquet reproduces metrics.json.
    """
    from interhand.eval.launch import launch

    config = build_config(EvalConfig, values, config_file)
    check_shards_root(Path(config.shards), config.dataset, config.annot_subset, config.split)
    try:
        status, results = launch(config)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    if status:
        raise click.ClickException(f"evaluation processes exited with status {status}")
    click.echo((results / "report.txt").read_text())


@main.command("compare", short_help="Side-by-side table of a run's evaluations: oracle, mean pose, untrained, trained.")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", type=click.Choice(["train", "val", "test"]), default=None,
              help="only the evaluations of this split  [default: all]")
def compare_command(run_dir: Path, split: str | None) -> None:
    """Print RUN_DIR/result/*/metrics.json side by side (MPJPE all / single / interacting, MRRPE, handedness),
    baselines first, and a last line saying whether each trained model beat the mean-pose baseline."""
    from interhand.eval.report import format_comparison, run_evaluations

    try:
        results = run_evaluations(run_dir, split)
    except ValueError as error:  # a metrics.json that is not one: the file named
        raise click.ClickException(str(error)) from error
    if not results:
        raise click.ClickException(f"no evaluation{' of split ' + split if split else ''} in {run_dir / 'result'}")
    click.echo(format_comparison(results), nl=False)


# --- score command ---

_SCORE_FLAGS = {"dataset": Flag("--dataset", type=click.Choice(TRAIN_DATASETS)),
                "annot_subset": Flag(_SUBSET.name, _SUBSET.aliases, click.Choice(PREPROCESS_SUBSETS)),
                "split": Flag("--split", ("--test_set",), click.Choice(EVAL_SPLITS)),
                "root_source": Flag("--root-source", type=_RootSource(EVAL_ROOTS)),
                "aid_list": Flag("--aid-list", type=EXISTING_FILE), "data": Flag("--data", type=EXISTING_DIR),
                "out_dir": Flag("--out-dir", ("--out",))}


@main.command("score", short_help="Score prediction files on a split's shards, per protocol, side by side.")
@click.argument("predictions", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_options(ScoreConfig, exclude=("protocols",), flags=_SCORE_FLAGS)
@click.option("--protocol", "protocols", multiple=True, metavar="PROTOCOL[:SUBSET]",
              help="protocol(s) to score, each a row of the table: internet (the original's), mmpose, interwild "
                   "(docs/protocols.md), each on its own frames or on a subset: PROTOCOL:all|human_annot|interacting "
                   "(the H subset needs its id list: --aid-list or --data); a bare subset is internet's; repeat or "
                   "comma-separate  [default: all]")
def score_command(predictions: tuple[Path, ...], protocols: tuple[str, ...], **values) -> None:
    """Score PREDICTIONS (one or more files: Parquet, JSON or NPZ, in a form docs/scoring.md
    describes, or mmpose's tools/test.py --dump pickle)
    on SHARDS/<dataset>/<annot-subset>/<split> with the same metric code as `interhand eval`.

    Writes OUT_DIR/<name>/<protocol>/{metrics.json, report.txt, per_sample.parquet, figures} for each file and
    protocol, and OUT_DIR/comparison.{txt,csv} and comparison_<protocol>.png side by side; prints the table.
    Samples without a prediction are counted and reported; duplicate or unknown ids, and a file for another
    dataset or split, are refused.
    """
    from interhand.eval.score_job import read_prediction_files, score_target
    from interhand.eval.score_tables import format_score_table

    config = build_config(ScoreConfig, {**values, "protocols": parse_protocols(protocols)})
    try:
        target = read_prediction_files(config, list(predictions))
        check_shards_root(Path(config.shards), target.dataset, target.annot_subset, target.split)
        results = score_target(config, target)
    except (FileNotFoundError, ValueError) as error:  # PredictionFileError is a ValueError
        raise click.ClickException(str(error)) from error
    click.echo(format_score_table(results), nl=False)
    click.echo(f"wrote {config.out_dir}/: per file and protocol metrics.json, report.txt, per_sample.parquet and "
               "figures; comparison.txt (a Markdown table), comparison.csv, comparison_<protocol>.png")


if __name__ == "__main__":
    main()
