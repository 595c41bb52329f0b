"""Benchmark: does the CPU recipe learn? Held-out val MPJPE at fixed points of a training run, against baselines.

A synthetic InterHand2.6M (train and val: other captures, other poses) is written and sharded; the recipe
(`configs/learn_cpu.yaml` by default: ResNet-18, 64-px patches, 16³ heatmaps, He-normal backbone, heatmap
gain 64, Adam 1e-3 ÷10 at 80 % and 90 % of the run, the original augmentation) trains on the train split and
every snapshot (`--points` of them, evenly spaced) is scored on val with ground-truth root depth, beside the
oracle (the floor of the model's heatmap encoding), the mean-pose baseline (the train split's mean root-relative
pose) and the untrained network. Goal: the last point ≤ 0.5× the mean-pose baseline. Each point also gives single
hands and interacting frames apart (the goal needs both: docs/experiments/2026-12-02-learn-7680.md), the handedness
accuracy and the hand confusion of interacting frames (0.5: right and left not told apart; docs/evaluation.md).

The data's defaults are what held-out learning needs (docs/experiments/2026-12-01-learn-cpu.md): many distinct poses
(960 frames along sequences that blend pairs of library poses, seen by 2 cameras) and many looks (8 captures per
split, each with its own skin tone, light and backgrounds). 32 frames × 6 cameras of 2 captures gave 192
images of 32 poses in 2 looks, which the recipe memorised without learning anything that carried over.

Writes OUT/learning_curve.png (val MPJPE of all, single-hand and interacting frames against training steps, with the
baselines and the goal as lines) and prints a
table, the machine, and as its last line one JSON object with every figure.

    .venv/bin/python bench/bench_learn.py [--frames 960] [--captures 8] [--cameras 2] [--epochs 16] [--points 4]
                                          [--augment {original,none}] [--reuse-data]
                                          [--out output/bench_learn]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine_description  # noqa: E402
from interhand.config import EvalConfig, PreprocessConfig, SynthConfig, TrainConfig, config_from_dict  # noqa: E402
from interhand.eval.report import format_value  # noqa: E402
from interhand.eval.run import run as evaluate  # noqa: E402
from interhand.manifests.read import read_manifest  # noqa: E402
from interhand.preprocess.run import run as make_shards  # noqa: E402
from interhand.shard_format.names import split_dir  # noqa: E402
from interhand.synth.run import run as synthesize  # noqa: E402
from interhand.train.log import read_log  # noqa: E402
from interhand.train.run import run as train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _recipe(path: Path, shards: Path, output: Path, epochs: int, points: int, augment: str) -> TrainConfig:
    config = config_from_dict(TrainConfig, yaml.safe_load(path.read_text()))
    decay = f"{round(epochs * 0.8)},{round(epochs * 0.9)}"
    return replace(config, shards=str(shards), run_dir=str(output), epochs=epochs, lr_dec_epochs=decay,
                   snapshot_epochs=max(epochs // points, 1),
                   loader=replace(config.loader, augment=config.loader.augment and augment == "original"))


def _figures(metrics: dict) -> dict:
    """One evaluation's figures as the JSON line and the table give them (None where not scored)."""
    mpjpe = metrics["mpjpe"]
    return {"val_mpjpe_mm": mpjpe["all"], "single_mm": mpjpe.get("single"), "interacting_mm": mpjpe.get("interacting"),
            "handedness": metrics["handedness_accuracy"], "hand_confusion": metrics["hand_confusion"]}


def _plot(points: list[dict], baselines: dict[str, float], path: Path, title: str) -> None:
    """Val MPJPE along training (all, single hands, interacting frames) against the baselines and the goal.

    `points` are the JSON line's curve entries (step, val_mpjpe_mm, single_mm, interacting_mm)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.6), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    steps = [point["step"] for point in points]
    for field, style, color, label in (("val_mpjpe_mm", "o-", "tab:blue", "trained, all"),
                                       ("single_mm", "s--", "tab:cyan", "trained, single hands"),
                                       ("interacting_mm", "^--", "tab:purple", "trained, interacting frames")):
        if all(point.get(field) is not None for point in points):
            axes.plot(steps, [point[field] for point in points], style, color=color, label=label)
    top = 1.25 * max([baselines["mean pose"]] + [point["val_mpjpe_mm"] for point in points])
    goal = 0.5 * baselines["mean pose"]
    styles = {"mean pose": ("tab:red", "--"), "untrained": ("tab:gray", ":"), "oracle": ("tab:green", "-.")}
    for name, value in baselines.items():
        color, style = styles[name]
        if value <= top:
            axes.axhline(value, color=color, linestyle=style, label=f"{name} {value:.1f} mm")
        else:  # the untrained network, far above: named, not drawn, so the curve keeps the chart's height
            axes.plot([], [], color=color, linestyle=style, label=f"{name} {value:.1f} mm (above the chart)")
    axes.axhline(goal, color="black", linestyle=(0, (1, 3)), linewidth=1, label=f"goal: 0.5× mean pose = {goal:.1f} mm")
    axes.set_xlabel("training step")
    axes.set_ylabel("val MPJPE, mm (GT root depth)")
    axes.set_ylim(0, top)
    axes.set_xlim(0, 1.05 * max(steps))
    axes.set_title("\n".join(textwrap.fill(line, 90) for line in title.splitlines()), fontsize=7)
    axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # below: no curve hidden
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "configs" / "learn_cpu.yaml")
    parser.add_argument("--frames", type=int, default=960,
                        help="synthetic time frames per split, each seen by every camera")
    parser.add_argument("--captures", type=int, default=8,
                        help="captures per split, sharing the frames; each has its own look (skin, light, backgrounds)")
    parser.add_argument("--cameras", type=int, default=2, help="cameras per capture")
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--points", type=int, default=4, help="val evaluations along the run")
    parser.add_argument("--augment", choices=("original", "none"), default="original",
                        help="the original augmentation (the benchmark's goal is stated with it), or none (faster "
                             "at first, no better by 1,920 steps: docs/experiments/2026-12-02-recipe-changes.md)")
    parser.add_argument("--out", type=Path, default=REPO / "output" / "bench_learn")
    parser.add_argument("--reuse-data", action="store_true",
                        help="keep OUT's synthetic data and shards when an earlier run made them with the same "
                             "--frames, --captures and --cameras (recipe experiments skip minutes of rendering)")
    args = parser.parse_args()

    data, shards, run_dir = args.out / "data" / "InterHand2.6M", args.out / "shards", args.out / "run"
    options = {"frames": args.frames, "captures": args.captures, "cameras": args.cameras, "seed": 0}
    stamp = args.out / "data_options.json"
    reuse = args.reuse_data and stamp.exists() and json.loads(stamp.read_text()) == options
    if reuse:
        shutil.rmtree(run_dir, ignore_errors=True)
        print(f"reusing the data and shards in {args.out} (made with {options})")
    else:
        if args.out.exists():
            shutil.rmtree(args.out)
        synthesize(SynthConfig(**options), data, show_progress=False)
        for split in ("train", "val"):
            make_shards(PreprocessConfig(data=str(data), split=split, shards=str(shards), shard_samples=256, workers=2,
                                         progress=False), [])
        stamp.write_text(json.dumps(options))
    counts = {split: read_manifest(split_dir(shards, "interhand26m", "all", split), columns=["key"]).num_rows
              for split in ("train", "val")}
    config = _recipe(args.config, shards, run_dir, args.epochs, args.points, args.augment)

    start = time.perf_counter()
    train(config)
    train_seconds = time.perf_counter() - start
    steps_per_epoch = max(entry["iterations"] for entry in read_log(run_dir) if entry["kind"] == "epoch")

    def score(**changes) -> dict:
        return evaluate(EvalConfig(shards=str(shards), run_dir=str(run_dir), split="val", root_source="gt",
                                   loader=replace(EvalConfig().loader, threads=2), vis=0,
                                   **changes))

    snapshots = sorted((int(p.name.split("_")[1].split(".")[0]), p)
                       for p in (run_dir / "model_dump").glob("snapshot_*.pth.tar"))
    scored = [((epoch + 1) * steps_per_epoch, score(checkpoint=str(path))) for epoch, path in snapshots]
    points = [{"step": step, **_figures(metrics)} for step, metrics in scored]
    last_checkpoint = str(snapshots[-1][1])
    baseline_figures = {"mean pose": _figures(score(baseline="mean-pose")),
                        "untrained": _figures(score(checkpoint=last_checkpoint, baseline="untrained")),
                        "oracle": _figures(score(oracle=True, checkpoint=last_checkpoint))}
    baselines = {name: figures["val_mpjpe_mm"] for name, figures in baseline_figures.items()}
    by_group = {name: {"single": figures["single_mm"], "interacting": figures["interacting_mm"]}
                for name, figures in baseline_figures.items()}
    ratio = points[-1]["val_mpjpe_mm"] / baselines["mean pose"]
    model = config.model
    recipe = (f"ResNet-{model.resnet_type}, {model.input_size}-px patches, {model.heatmap_size}³ heatmaps, init "
              f"{model.init}, heatmap gain {model.heatmap_gain:g}, Adam lr {config.lr:g} ÷{config.lr_dec_factor:g} at "
              f"epochs {config.lr_dec_epochs}, batch {config.loader.batch_size}, augmentation "
              f"{'on' if config.loader.augment else 'off'}, {config.total_epochs} epochs")
    png = args.out / "learning_curve.png"
    data_text = (f"{counts['train']} train / {counts['val']} val synthetic images ({args.frames} frames × "
                 f"{args.cameras} cameras, {args.captures} captures per split)")
    _plot(points, baselines, png, f"{recipe}\n{data_text}")

    print(f"recipe: {recipe}")
    print(f"data: {data_text}; training took {train_seconds:.0f} s")
    # Single hands and interacting frames apart: a model that cannot tell right from left stays near the mean
    # pose on interacting frames whatever it learns on single hands (docs/experiments/2026-12-02-learn-7680.md).
    print(f"{'':>10} {'val MPJPE, mm: all':>19} {'single':>7} {'interacting':>11} {'handedness':>10} "
          f"{'hand confusion':>14}")
    rows = [(f"step {point['step']}", point) for point in points] + list(baseline_figures.items())
    for name, figures in rows:
        print(f"{name:>10} {figures['val_mpjpe_mm']:>19.2f} {format_value(figures['single_mm'], 2):>7} "
              f"{format_value(figures['interacting_mm'], 2):>11} {format_value(figures['handedness'], 3):>10} "
              f"{format_value(figures['hand_confusion'], 3):>14}")
    print(f"last point / mean pose = {ratio:.2f} (goal ≤ 0.5: {'met' if ratio <= 0.5 else 'not met'})")
    print(f"learning curve: {png}")
    print(f"machine: {machine_description()}")
    print(json.dumps({"benchmark": "learn", "recipe": recipe,
                      "train_images": counts["train"], "val_images": counts["val"],
                      "train_seconds": round(train_seconds, 1), "curve": points, "baselines_mm": baselines,
                      "baselines_by_group_mm": by_group,
                      "final_over_mean_pose": round(ratio, 3), "goal_met": ratio <= 0.5}))


if __name__ == "__main__":
    main()
