"""The GPU path in one call on one GPU (`make gpu-check`), from data made on the CPU first (`make gpu-check-data`).

  prepare (CPU, no GPU needed): a synthetic InterHand2.6M of realistic frames (512×334 / 334×512 progressive
      JPEGs, as the real ones), its train split written as shards twice (`--jpeg baseline` and `--jpeg source`,
      by bench/bench_loader.py, which reuses them) and its val split (`--jpeg baseline`) for the eval pass.
  run (the GPU machine; at most ~8 minutes on one H200, no internet), each step a subprocess with its own
      time limit and log under OUT/:
      1. `pytest -m gpu`: the GPU tests; their GPU-vs-CPU image differences go to OUT/gpu_parity.json and
         the report's pytest_gpu.parity;
      2. the loader benchmark's DALI `mixed` rows: baseline and source shards, with and without ROI decoding
         (`hw_decoder_load` = DaliPipelineSpec's default, chosen for baseline data);
      3. a short training run: InterNet ResNet-50 at 256², bf16 autocast, channels_last, fed by DALI `mixed`:
         images/s, data-wait fraction, the loss every 10 steps, peak GPU memory (nvidia-smi, whole process);
      4. an eval pass of that snapshot on val (DALI).
  Writes OUT/gpu_check.json and OUT/gpu_check.txt (a readable table, also printed); the LAST printed line is
  the JSON object. A failed step is reported (its log's tail) and the next steps still run.
  Targets on one H200: DALI mixed on baseline shards ≥ 8,000 images/s; training ≥ 950 images/s (a 1.36 M-frame
  epoch in < 3 min on 8 GPUs) with data wait < 5 %.
  `--dry-run` runs the same steps on the CPU on a tiny set (what the tests run here): CPU loaders, a small network.

Usage: python bench/gpu_check.py prepare --data DIR [--frames 640] [--workers 2] [--dry-run]
       python bench/gpu_check.py run --data DIR --out DIR [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import machine_description

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOALS = {"dali_mixed_baseline_images_per_s": 8000.0, "train_images_per_s": 950.0, "train_data_wait": 0.05}
# The training run: configs/gpu_learn.yaml (ResNet-50 at 256², the original's network, bf16, channels_last;
# He-normal start and heatmap gain 64, as no ImageNet weights can be downloaded) fed by DALI mixed decoding,
# shortened to fit the check: 3 epochs of 150 steps, lr divided by 10 before the last one.
_TRAIN_GPU = ["--config", str(REPO / "configs" / "gpu_learn.yaml"), "--gpu", "0", "--model-amp",
              "--model-channels-last", "--loader-backend", "dali", "--loader-device", "gpu", "--batch-size", "64",
              "--loader-threads", "8", "--epochs", "3", "--lr-dec-epochs", "2", "--steps-per-epoch", "150",
              "--log-every", "10"]
# Its CPU twin for --dry-run: the same options on a network and batch small enough for a test.
_TRAIN_CPU = ["--config", str(REPO / "configs" / "gpu_learn.yaml"), "--gpu", "", "--model-amp", "--model-channels-last", "--loader-backend", "reference",
              "--loader-device", "cpu", "--batch-size", "4", "--loader-threads", "1", "--epochs", "1",
              "--steps-per-epoch", "3", "--log-every", "1", "--model-resnet-type", "18", "--model-input-size", "64",
              "--model-heatmap-size", "16", "--lr-dec-epochs", "1"]
# Step time limits, seconds (7.5 minutes in all, within 8; pytest builds its small synthetic fixtures first).
_LIMITS = {"pytest_gpu": 110, "loader": 110, "train": 150, "eval": 50, "mean_pose": 30}


def _paths(data: Path) -> dict[str, Path]:
    loader = data / "loader"
    return {"loader": loader, "root": loader / "InterHand2.6M", "shards": loader / "shards_baseline",
            "train": loader / "shards_baseline" / "interhand26m" / "all" / "train",
            "val": loader / "shards_baseline" / "interhand26m" / "all" / "val"}


def prepare(data: Path, frames: int, workers: int, dry_run: bool) -> dict:
    """Everything `run` reads, made on the CPU: synthetic frames, baseline and source train shards, val shards."""
    from interhand.config import PreprocessConfig
    from interhand.preprocess.run import run as shards_run

    paths = _paths(data)
    frames = 4 if dry_run else frames
    command = [sys.executable, str(REPO / "bench" / "bench_loader.py"), "--keep", str(paths["loader"]), "--frames",
               str(frames), "--cameras", "4" if dry_run else "8", "--workers", str(workers), "--gpu-only",
               "--repeats", "1"]
    subprocess.run(command, check=True, cwd=REPO, capture_output=True, text=True)
    if not (paths["val"] / "dataset.json").is_file():
        shards_run(PreprocessConfig(root=str(paths["root"]), split="val", out=str(paths["shards"]), shard_samples=256,
                                    workers=workers, progress=False))
    counts = {split: json.loads((paths[split] / "dataset.json").read_text())["counts"]["samples"]
              for split in ("train", "val")}
    (data / "prepared.json").write_text(json.dumps({"frames": frames, "dry_run": dry_run, "samples": counts}) + "\n")
    return counts


class _MemoryWatch:
    """Peak GPU memory used (MiB) as nvidia-smi reports it, polled every half second while a step runs."""

    def __init__(self) -> None:
        self.peak_mib, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                output = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                                         "-i", "0"], capture_output=True, text=True, timeout=5).stdout
                self.peak_mib = max(self.peak_mib, float(output.strip().splitlines()[0]))
            except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
                return  # no nvidia-smi (the CPU dry run): no figure
            self._stop.wait(0.5)

    def __enter__(self) -> "_MemoryWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _step(name: str, command: list[str], out: Path, limit: int, env: dict[str, str] | None = None) -> dict:
    """Run one step (`env`: variables added to this process's environment); its output goes to OUT/<name>.log.
    Returns status, seconds and the output's tail."""
    started = time.perf_counter()
    log = out / f"{name}.log"
    try:
        result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=limit,
                                env=None if env is None else {**os.environ, **env})
        output, code = result.stdout + result.stderr, result.returncode
    except subprocess.TimeoutExpired as expired:
        output = (expired.stdout or b"").decode(errors="replace") if isinstance(expired.stdout, bytes) \
            else (expired.stdout or "")
        output, code = output + f"\n(timed out after {limit} s)", None
    log.write_text(" ".join(command) + "\n" + output)
    return {"ok": code == 0, "exit_code": code, "seconds": round(time.perf_counter() - started, 1),
            "output": output, "tail": output.strip().splitlines()[-3:] if output.strip() else []}


def _last_json(output: str) -> dict:
    for line in reversed(output.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {}


def _pytest_summary(output: str) -> dict:
    """Counts from pytest's last line, e.g. '3 passed, 2 skipped in 4.1s'."""
    last = output.strip().splitlines()[-1] if output.strip() else ""
    counts = {}
    for part in last.replace("=", "").split(","):
        words = part.split()
        if len(words) >= 2 and words[0].isdigit():
            counts[words[1]] = int(words[0])
    return counts


def _train_figures(run_dir: Path) -> dict:
    """images/s and data wait of the last epoch (the first one includes start-up), and the loss curve."""
    log = run_dir / "log" / "train_log.jsonl"
    if not log.is_file():
        return {}
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    epochs = [entry for entry in entries if entry["kind"] == "epoch"]
    steps = [entry for entry in entries if entry["kind"] == "step"]
    figures = {"loss_curve": [{"step": entry["global_step"], "loss_total": round(sum(
        value for key, value in entry.items() if key.startswith("loss_")), 5),
        "images_per_s": entry["images_per_s"], "data_wait": entry["data_wait"]} for entry in steps]}
    if epochs:
        last = epochs[-1]
        figures.update(images_per_s=round(last["images_per_s"], 1), data_wait=round(last["data_wait"], 4),
                       epochs=len(epochs), iterations_last_epoch=last["iterations"], loss_total=last["loss_total"])
    return figures


def run(data: Path, out: Path, dry_run: bool) -> dict:
    paths = _paths(data)
    if not (data / "prepared.json").is_file():
        raise SystemExit(f"{data}: no prepared.json; run `python bench/gpu_check.py prepare --data {data}` "
                         f"(make gpu-check-data) first, on any machine")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    python, interhand = sys.executable, str(BIN / "interhand")
    report: dict = {"machine": machine_description(), "dry_run": dry_run, "goals": GOALS,
                    "prepared": json.loads((data / "prepared.json").read_text())}
    started = time.perf_counter()

    # tests/test_gpu.py writes each GPU-vs-CPU parity case's image differences there: the figures its provisional
    # tolerances are to be tightened with
    parity = out / "gpu_parity.json"
    step = _step("pytest_gpu", [python, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                                "--basetemp", str(out / "pytest"), "tests"], out, _LIMITS["pytest_gpu"],
                 env={"INTERHAND_GPU_PARITY_JSON": str(parity)})
    report["pytest_gpu"] = {**_pick(step), "counts": _pytest_summary(step["output"]),
                            "parity": json.loads(parity.read_text()) if parity.is_file() else {}}

    loader = [python, str(REPO / "bench" / "bench_loader.py"), "--keep", str(paths["loader"]), "--gpu-only",
              "--repeats", "1" if dry_run else "3", "--profile"]
    step = _step("loader", loader, out, _LIMITS["loader"])
    report["loader"] = {**_pick(step), "figures": _last_json(step["output"]) if step["ok"] else {}}

    run_dir = out / "train"
    train = [interhand, "train", "--shards", str(paths["shards"]), "--run-dir", str(run_dir)] + \
        (_TRAIN_CPU if dry_run else _TRAIN_GPU)
    with _MemoryWatch() as memory:
        step = _step("train", train, out, _LIMITS["train"])
    report["train"] = {**_pick(step), "command": " ".join(train[1:]), **_train_figures(run_dir),
                       "peak_gpu_memory_mib": memory.peak_mib or None}

    evaluate = [interhand, "eval", "--shards", str(paths["shards"]), "--run-dir", str(run_dir), "--split", "val",
                "--root-source", "gt"] + (["--gpu", "", "--loader-backend", "reference", "--batch-size", "8"] if dry_run
                                  else ["--gpu", "0", "--loader-backend", "dali", "--batch-size", "128"])
    step = _step("eval", evaluate, out, _LIMITS["eval"])
    metrics = sorted((run_dir / "result").rglob("metrics.json")) if step["ok"] else []
    report["eval"] = {**_pick(step), "metrics": json.loads(metrics[-1].read_text()) if metrics else {}}
    # The trivial baseline the trained network must beat: the train split's mean root-relative pose (CPU only).
    mean_pose = [interhand, "eval", "--shards", str(paths["shards"]), "--run-dir", str(run_dir), "--split", "val",
                 "--root-source", "gt", "--baseline", "mean-pose", "--gpu", "", "--loader-backend", "reference"]
    step = _step("mean_pose", mean_pose, out, _LIMITS["mean_pose"])
    metrics = sorted((run_dir / "result").glob("*mean*/metrics.json")) if step["ok"] else []
    report["mean_pose"] = {**_pick(step), "metrics": json.loads(metrics[-1].read_text()) if metrics else {}}
    report["learning"] = _learning(report, out / "train_loss.png")
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["goals_met"] = _goals(report)
    table = _table(report)
    (out / "gpu_check.txt").write_text(table + "\n")
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n")
    print(table)
    print(json.dumps(report))
    return report


def _learning(report: dict, png: Path) -> dict:
    """The trained network's val MPJPE against the mean-pose baseline's, and the loss curve as a PNG."""
    trained = report["eval"]["metrics"].get("mpjpe", {}).get("all")
    mean_pose = report["mean_pose"]["metrics"].get("mpjpe", {}).get("all")
    curve = report["train"].get("loss_curve", [])
    if curve:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, axes = plt.subplots(figsize=(6, 3.5))
        axes.plot([point["step"] for point in curve], [point["loss_total"] for point in curve], "o-", markersize=3)
        axes.set(xlabel="training step", ylabel="total loss (heatmap + depth + hand type)",
                 title=f"gpu-check training run, configs/gpu_learn.yaml shortened\nval MPJPE {_mm(trained)}; "
                       f"mean-pose baseline {_mm(mean_pose)} (lower is better)")
        axes.title.set_fontsize(9)
        axes.yaxis.label.set_fontsize(8)
        figure.tight_layout()
        figure.savefig(png, dpi=100)
        plt.close(figure)
    ratio = None if trained is None or not mean_pose else round(trained / mean_pose, 3)
    return {"val_mpjpe_mm": trained, "mean_pose_mpjpe_mm": mean_pose, "ratio_to_mean_pose": ratio,
            "loss_first": curve[0]["loss_total"] if curve else None,
            "loss_last": curve[-1]["loss_total"] if curve else None, "loss_png": png.name if curve else None}


def _mm(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} mm"


def _pick(step: dict) -> dict:
    return {key: step[key] for key in ("ok", "exit_code", "seconds", "tail")}


def _goals(report: dict) -> dict:
    figures, train = report["loader"]["figures"], report["train"]
    found = {"dali_mixed_baseline_images_per_s": figures.get("dali_gpu_baseline_images_per_s"),
             "train_images_per_s": train.get("images_per_s"), "train_data_wait": train.get("data_wait")}
    return {name: None if value is None else (value <= GOALS[name] if name == "train_data_wait"
                                              else value >= GOALS[name]) for name, value in found.items()}


def _table(report: dict) -> str:
    figures, train = report["loader"]["figures"], report["train"]
    lines = [f"GPU check{' (CPU dry run)' if report['dry_run'] else ''}: {report['machine']}; {report['seconds']} s",
             f"{'step':<14}{'ok':<6}{'seconds':>8}  figures"]
    counts = report["pytest_gpu"]["counts"]
    lines.append(f"{'pytest -m gpu':<14}{str(report['pytest_gpu']['ok']):<6}{report['pytest_gpu']['seconds']:>8}  "
                 + ", ".join(f"{value} {key}" for key, value in counts.items()) + _parity_summary(report))
    rows = {key[:-len("_images_per_s")]: value for key, value in figures.items()
            if key.startswith("dali_gpu") and key.endswith("_images_per_s")}
    lines.append(f"{'loader':<14}{str(report['loader']['ok']):<6}{report['loader']['seconds']:>8}  "
                 + (", ".join(f"{name} {value:,.0f} img/s" for name, value in rows.items()) or "no GPU rows"))
    memory = train.get("peak_gpu_memory_mib")
    lines.append(f"{'train':<14}{str(train['ok']):<6}{train['seconds']:>8}  "
                 f"{train.get('images_per_s', 'n/a')} img/s, data wait {train.get('data_wait', 'n/a')}, "
                 f"peak GPU memory {'n/a' if memory is None else f'{memory:,.0f} MiB'}, "
                 f"loss {[point['loss_total'] for point in train.get('loss_curve', [])][:12]}")
    metrics = report["eval"]["metrics"]
    lines.append(f"{'eval':<14}{str(report['eval']['ok']):<6}{report['eval']['seconds']:>8}  "
                 + (f"{metrics.get('counts', {}).get('samples')} samples, MPJPE mm {metrics.get('mpjpe')}, "
                    f"MRRPE mm {metrics.get('mrrpe')}, handedness {metrics.get('handedness_accuracy')}" if metrics
                    else "no metrics"))
    learning = report["learning"]
    lines.append(f"{'learning':<14}{str(report['mean_pose']['ok']):<6}{report['mean_pose']['seconds']:>8}  "
                 f"val MPJPE {learning['val_mpjpe_mm']} mm vs mean pose {learning['mean_pose_mpjpe_mm']} mm "
                 f"(ratio {learning['ratio_to_mean_pose']}); loss {learning['loss_first']} -> "
                 f"{learning['loss_last']} ({learning['loss_png']})")
    lines.append("goals: " + ", ".join(f"{name} {'met' if met else 'not met' if met is not None else 'not measured'}"
                                       for name, met in report["goals_met"].items()))
    return "\n".join(lines)


def _parity_summary(report: dict) -> str:
    """'; GPU vs CPU twin, N cases: worst image mean |diff| m, max x' from the parity figures; '' without any."""
    cases = report["pytest_gpu"].get("parity", {}).get("cases", {})
    if not cases:
        return ""
    worst_mean = max(case["mean_abs"] for case in cases.values())
    worst_max = max(case["max_abs"] for case in cases.values())
    return f"; GPU vs CPU twin, {len(cases)} cases: worst image mean |diff| {worst_mean:.3g}, max {worst_max:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("prepare", "run"))
    parser.add_argument("--data", type=Path, default=Path("output/gpu_check_data"))
    parser.add_argument("--out", type=Path, default=Path("output/gpu_check"))
    parser.add_argument("--frames", type=int, default=640, help="prepare: synthetic time frames per split (× 8 "
                                                                 "cameras: 5,120 train images by default)")
    parser.add_argument("--workers", type=int, default=2, help="prepare: shard-writing processes")
    parser.add_argument("--dry-run", action="store_true", help="a tiny set and the CPU twins (no GPU needed)")
    args = parser.parse_args()
    if args.action == "prepare":
        counts = prepare(args.data, args.frames, args.workers, args.dry_run)
        print(f"{args.data}: train {counts['train']:,} and val {counts['val']:,} samples; now `make gpu-check` "
              f"on the GPU machine (it reads only this folder and the repository)")
    else:
        run(args.data, args.out, args.dry_run)


if __name__ == "__main__":
    main()
