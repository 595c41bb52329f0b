"""The GPU path in one call on one GPU (`make gpu-check`), from data made on the CPUs first (`make gpu-check-data`).

  prepare (CPUs, any machine; on the GPU machine's 16 cores): a synthetic InterHand2.6M of realistic frames
      (512×334 / 334×512 progressive JPEGs, as the real ones), its train split written as shards twice
      (`--jpeg baseline`, which needs the re-encoding C extension, and `--jpeg source`; by bench/bench_loader.py,
      which reuses them) and its val split for the eval pass. Without the extension only source shards are
      written, and the report says so.
  run (the GPU machine, no internet, with its own python3 and torch: nothing here assumes the project's venv or
      its console script; steps run as `python -m interhand`). Before any step a preflight names the card,
      driver, CUDA, torch and DALI versions and checks that torch and DALI both see a GPU (without, the check
      stops there: nothing would be proved). Then each step runs in its own process group with its own time
      limit (the group is killed on timeout: torchrun's workers too), its stdout and stderr kept in OUT/:
      1. `pytest -m gpu`: ok only when the GPU tests PASSED (their count; skipped is a failure); their
         GPU-vs-CPU image differences go to OUT/gpu_parity.json and the report's pytest_gpu.parity;
      2. the loader benchmark's DALI `mixed` rows: baseline and source shards, with and without ROI decoding
         (`hw_decoder_load` = DaliPipelineSpec's default, chosen for baseline data); no CPU profiling;
      3. a short training run: InterNet ResNet-50 at 256², bf16 autocast, channels_last, fed by DALI `mixed`,
         batch 64, 3 epochs over the prepared train split (2,560 images by default: 40 steps an epoch, 120 in
         all; at most 150 an epoch with more data): images/s, data-wait fraction, the loss every 10 steps, the
         process's peak GPU memory (from the training log: torch's allocator);
      4. an eval pass of that snapshot on val (DALI), and 5. the mean-pose baseline on the same split.
  OUT/gpu_check.json and OUT/gpu_check.txt (a readable table, also printed) are written after EVERY step, so a
  check cut short keeps what it measured; the LAST printed line is the JSON object. A failed step is reported
  (its output's tail) and the next steps still run; the exit code is 0 only when every step is ok.
  Targets on one H200: DALI mixed on baseline shards ≥ 8,000 images/s; training ≥ 950 images/s (a 1.36 M-frame
  epoch in < 3 min on 8 GPUs) with data wait < 5 %. The step limits add up to 300 s (5 minutes).
  `--dry-run` runs the same steps on the CPU on a tiny set (what the tests run here): CPU loaders, a small
  network; its pytest step fails, as it must where the GPU tests are skipped.

Usage: python bench/gpu_check.py prepare --data DIR [--frames 320] [--workers 2] [--dry-run]
       python bench/gpu_check.py run --data DIR --out DIR [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import machine_description

REPO = Path(__file__).resolve().parents[1]
GOALS = {"dali_mixed_baseline_images_per_s": 8000.0, "train_images_per_s": 950.0, "train_data_wait": 0.05}
# The training run: configs/gpu_learn.yaml (ResNet-50 at 256², the original's network, bf16, channels_last;
# He-normal start and heatmap gain 64, as no ImageNet weights can be downloaded) fed by DALI mixed decoding,
# shortened to fit the check: 3 epochs of at most 150 steps, lr divided by 10 before the last one.
_TRAIN_GPU = ["--config", str(REPO / "configs" / "gpu_learn.yaml"), "--gpu", "0", "--model-amp",
              "--model-channels-last", "--loader-backend", "dali", "--loader-device", "gpu", "--batch-size", "64",
              "--loader-threads", "8", "--epochs", "3", "--lr-dec-epochs", "2", "--steps-per-epoch", "150",
              "--log-every", "10"]
# Its CPU twin for --dry-run: the same options on a network and batch small enough for a test.
_TRAIN_CPU = ["--config", str(REPO / "configs" / "gpu_learn.yaml"), "--gpu", "", "--model-amp", "--model-channels-last",
              "--loader-backend", "reference", "--loader-device", "cpu", "--batch-size", "4", "--loader-threads", "1",
              "--epochs", "1", "--steps-per-epoch", "3", "--log-every", "1", "--model-resnet-type", "18",
              "--model-input-size", "64", "--model-heatmap-size", "16", "--lr-dec-epochs", "1"]
# Step time limits, seconds: 300 in all, so that the check is one command of under 5 minutes (estimates until a
# GPU run measures them; pytest builds its small synthetic fixtures first).
_LIMITS = {"preflight": 20, "pytest_gpu": 90, "loader": 60, "train": 90, "eval": 25, "mean_pose": 15}
_DRY_RUN_SLACK = 4  # the dry run's CPU twins on a shared 2-core machine get 4× the limits
# What the preflight prints (one JSON line): the machine's GPU stack as torch, DALI and the driver see it.
_PREFLIGHT = """
import json, subprocess, torch
found = {"torch": torch.__version__, "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available(),
         "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
try:
    import nvidia.dali as dali
    from nvidia.dali.backend import GetCUDADeviceCount
    found["dali"], found["dali_gpus"] = dali.__version__, int(GetCUDADeviceCount())
    found["dali_from"] = dali.__path__[0]
except Exception as error:
    found["dali"], found["dali_gpus"] = f"not importable: {type(error).__name__}: {error}", 0
try:
    found["driver"] = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader", "-i", "0"],
                                     capture_output=True, text=True, timeout=10).stdout.strip() or None
except OSError:
    found["driver"] = None
print(json.dumps(found))
"""


def _limit(name: str, dry_run: bool) -> int:
    return _LIMITS[name] * (_DRY_RUN_SLACK if dry_run else 1)


def _paths(data: Path) -> dict[str, Path]:
    """The prepared folders: the baseline shards, or the source ones where the re-encoding extension was missing."""
    loader = data / "loader"
    shards = loader / "shards_baseline"
    if not (shards / "interhand26m" / "all" / "train" / "dataset.json").is_file() and \
            (loader / "shards_source" / "interhand26m" / "all" / "train" / "dataset.json").is_file():
        shards = loader / "shards_source"
    return {"loader": loader, "root": loader / "InterHand2.6M", "shards": shards,
            "train": shards / "interhand26m" / "all" / "train", "val": shards / "interhand26m" / "all" / "val"}


def prepare(data: Path, frames: int, workers: int, dry_run: bool) -> dict:
    """Everything `run` reads, made on the CPUs: synthetic frames, baseline and source train shards, val shards."""
    from interhand.config import PreprocessConfig
    from interhand.preprocess.run import run as shards_run

    paths = _paths(data)
    frames = 4 if dry_run else frames
    command = [sys.executable, str(REPO / "bench" / "bench_loader.py"), "--keep", str(paths["loader"]), "--frames",
               str(frames), "--cameras", "4" if dry_run else "8", "--workers", str(workers), "--gpu-only",
               "--repeats", "1"]
    subprocess.run(command, check=True, cwd=REPO, capture_output=True, text=True)
    paths = _paths(data)
    jpeg = "baseline" if paths["shards"].name == "shards_baseline" else "source"
    if not (paths["val"] / "dataset.json").is_file():
        shards_run(PreprocessConfig(data=str(paths["root"]), split="val", shards=str(paths["shards"]),
                                    shard_samples=256, workers=workers, progress=False, jpeg=jpeg))
    counts = {split: json.loads((paths[split] / "dataset.json").read_text())["counts"]["samples"]
              for split in ("train", "val")}
    (data / "prepared.json").write_text(json.dumps({"frames": frames, "dry_run": dry_run, "samples": counts,
                                                    "jpeg": jpeg}) + "\n")
    return counts


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _step(name: str, command: list[str], out: Path, limit: int, env: dict[str, str] | None = None) -> dict:
    """Run one step in its own process group (`env`: variables added to this process's environment): stdout to
    OUT/<name>.out, stderr to OUT/<name>.err as it runs (a step killed at its limit keeps what it printed); on
    timeout the whole group goes (torchrun's workers too), and so does anything the step left behind. Returns
    status, seconds, both outputs and their tail."""
    started = time.perf_counter()
    out_path, err_path = out / f"{name}.out", out / f"{name}.err"
    with open(out_path, "w") as stdout, open(err_path, "w") as stderr:
        stdout.write(" ".join(command) + "\n")
        stdout.flush()
        process = subprocess.Popen(command, cwd=REPO, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                   start_new_session=True, env=None if env is None else {**os.environ, **env})
        try:
            code = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            code = None
        _kill_group(process.pid)
        process.wait()
    output, errors = out_path.read_text(errors="replace"), err_path.read_text(errors="replace")
    if code is None:
        errors += f"\n(killed at its limit of {limit} s)"
    text = (output + "\n" + errors).strip()
    return {"ok": code == 0, "exit_code": code, "seconds": round(time.perf_counter() - started, 1),
            "output": output, "errors": errors, "tail": text.splitlines()[-3:] if text else []}


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
    """images/s and data wait of the last epoch (the first one includes start-up), the steps run, the process's
    peak GPU memory (the log's `ranks`), and the loss curve."""
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
        peaks = [rank.get("peak_gpu_memory_mib") for rank in last.get("ranks", [])]
        figures.update(images_per_s=round(last["images_per_s"], 1), data_wait=round(last["data_wait"], 4),
                       epochs=len(epochs), iterations_last_epoch=last["iterations"],
                       steps=sum(epoch["iterations"] for epoch in epochs), loss_total=last["loss_total"],
                       peak_gpu_memory_mib=max((peak for peak in peaks if peak is not None), default=None))
    return figures


def _pytest_step(step: dict, dry_run: bool, parity: Path) -> dict:
    """The GPU tests' step: ok only when they ran and passed. Skipped GPU tests prove nothing (torch or DALI blind
    to the GPU), so pytest's exit 0 is not enough."""
    counts = _pytest_summary(step["output"])
    passed, skipped, failed = counts.get("passed", 0), counts.get("skipped", 0), counts.get("failed", 0)
    ok = step["ok"] and passed > 0 and not skipped and not failed
    reason = None if ok else (f"{passed} GPU tests passed, {skipped} skipped, {failed} failed, "
                              f"{counts.get('error', 0)} errors (exit code {step['exit_code']}): "
                              "the GPU path is not proved"
                              + (" (expected in a CPU dry run)" if dry_run else ""))
    return {**_pick(step), "ok": ok, "counts": counts, "reason": reason,
            "parity": json.loads(parity.read_text()) if parity.is_file() else {}}


def _write(report: dict, out: Path) -> None:
    """The report so far, JSON and table: written after every step, so that a check cut short keeps its figures."""
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "gpu_check.txt").write_text(_table(report) + "\n")


def _preflight(out: Path, python: str, dry_run: bool) -> dict:
    step = _step("preflight", [python, "-c", _PREFLIGHT], out, _limit("preflight", dry_run))
    found = _last_json(step["output"]) if step["ok"] else {}
    sees_gpu = bool(found.get("cuda_available")) and found.get("dali_gpus", 0) > 0
    reason = None if sees_gpu else (f"torch sees a GPU: {found.get('cuda_available')}, "
                                    f"DALI sees {found.get('dali_gpus')} (DALI {found.get('dali')}); {step['tail']}"
                                    if found else f"{step['tail']}")
    return {**_pick(step), "ok": sees_gpu or (dry_run and step["ok"]), "found": found, "reason": reason}


def run(data: Path, out: Path, dry_run: bool) -> dict:
    paths = _paths(data)
    if not (data / "prepared.json").is_file():
        raise SystemExit(f"{data}: no prepared.json; run `python bench/gpu_check.py prepare --data {data}` "
                         f"(make gpu-check-data) first, on any machine")
    shutil.rmtree(out, ignore_errors=True)  # a fresh run folder: the training log would otherwise grow
    out.mkdir(parents=True)
    python = sys.executable
    interhand = [python, "-m", "interhand"]
    report: dict = {"machine": machine_description(), "dry_run": dry_run, "goals": GOALS,
                    "prepared": json.loads((data / "prepared.json").read_text())}
    started = time.perf_counter()
    steps: dict[str, dict] = {}

    def record(name: str, value: dict) -> None:
        report[name] = value
        report["seconds"] = round(time.perf_counter() - started, 1)
        _write(report, out)

    record("preflight", _preflight(out, python, dry_run))
    if not report["preflight"]["ok"]:  # nothing else could prove the GPU path
        report["goals_met"] = _goals(report)
        _write(report, out)
        print(_table(report))
        print(json.dumps(report))
        return report

    # tests/loaders/test_gpu_parity.py writes each GPU-vs-CPU parity case's image differences there: the figures
    # its provisional tolerances are to be tightened with
    parity = out / "gpu_parity.json"
    steps["pytest_gpu"] = _step("pytest_gpu", [python, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider",
                                               "--basetemp", str(out / "pytest"), "tests"], out,
                                _limit("pytest_gpu", dry_run), env={"INTERHAND_GPU_PARITY_JSON": str(parity)})
    record("pytest_gpu", _pytest_step(steps["pytest_gpu"], dry_run, parity))

    loader = [python, str(REPO / "bench" / "bench_loader.py"), "--keep", str(paths["loader"]), "--gpu-only",
              "--repeats", "1" if dry_run else "3"]
    steps["loader"] = _step("loader", loader, out, _limit("loader", dry_run))
    record("loader", {**_pick(steps["loader"]), "figures": _last_json(steps["loader"]["output"])
                      if steps["loader"]["ok"] else {}})

    run_dir = out / "train"
    train = interhand + ["train", "--shards", str(paths["shards"]), "--run-dir", str(run_dir)] + \
        (_TRAIN_CPU if dry_run else _TRAIN_GPU)
    steps["train"] = _step("train", train, out, _limit("train", dry_run))
    record("train", {**_pick(steps["train"]), "command": " ".join(train[1:]), **_train_figures(run_dir)})

    evaluate = interhand + ["eval", "--shards", str(paths["shards"]), "--run-dir", str(run_dir), "--split", "val",
                            "--root-source", "gt"] + (
        ["--gpu", "", "--loader-backend", "reference", "--batch-size", "8"] if dry_run
        else ["--gpu", "0", "--loader-backend", "dali", "--batch-size", "128"])
    steps["eval"] = _step("eval", evaluate, out, _limit("eval", dry_run))
    metrics = sorted((run_dir / "result").rglob("metrics.json")) if steps["eval"]["ok"] else []
    record("eval", {**_pick(steps["eval"]), "metrics": json.loads(metrics[-1].read_text()) if metrics else {}})
    # The trivial baseline the trained network must beat: the train split's mean root-relative pose (CPU only).
    mean_pose = interhand + ["eval", "--shards", str(paths["shards"]), "--run-dir", str(run_dir), "--split", "val",
                             "--root-source", "gt", "--baseline", "mean-pose", "--gpu", "", "--loader-backend",
                             "reference"]
    steps["mean_pose"] = _step("mean_pose", mean_pose, out, _limit("mean_pose", dry_run))
    metrics = sorted((run_dir / "result").glob("*mean*/metrics.json")) if steps["mean_pose"]["ok"] else []
    record("mean_pose", {**_pick(steps["mean_pose"]),
                         "metrics": json.loads(metrics[-1].read_text()) if metrics else {}})
    report["learning"] = _learning(report, out / "train_loss.png")
    report["goals_met"] = _goals(report)
    report["ok"] = all(report[name]["ok"] for name in ("preflight", *steps))
    _write(report, out)
    print(_table(report))
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
    figures, train = report.get("loader", {}).get("figures", {}), report.get("train", {})
    found = {"dali_mixed_baseline_images_per_s": figures.get("dali_gpu_baseline_images_per_s"),
             "train_images_per_s": train.get("images_per_s"), "train_data_wait": train.get("data_wait")}
    if report.get("dry_run"):  # CPU twins: their figures say nothing about the goals
        found = dict.fromkeys(found)
    return {name: None if value is None else (value <= GOALS[name] if name == "train_data_wait"
                                              else value >= GOALS[name]) for name, value in found.items()}


def _row(report: dict, name: str, label: str, figures: str) -> str:
    step = report[name]
    return f"{label:<14}{str(step['ok']):<6}{step['seconds']:>8}  {figures}"


def _table(report: dict) -> str:
    """The report so far as a readable table; steps not run yet are left out."""
    found = report.get("preflight", {}).get("found", {})
    lines = [f"GPU check{' (CPU dry run)' if report['dry_run'] else ''}: {found.get('gpu') or 'no GPU seen'}, driver "
             f"{found.get('driver')}, CUDA {found.get('torch_cuda')}, torch {found.get('torch')}, "
             f"DALI {found.get('dali')}"
             f"; {report['machine']}; {report.get('seconds', 0)} s",
             f"{'step':<14}{'ok':<6}{'seconds':>8}  figures"]
    if "preflight" in report:
        lines.append(_row(report, "preflight", "preflight", report["preflight"]["reason"] or
                          f"torch and DALI ({found.get('dali_gpus')} GPU) see the GPU"))
    if "pytest_gpu" in report:
        counts = ", ".join(f"{value} {key}" for key, value in report["pytest_gpu"]["counts"].items())
        lines.append(_row(report, "pytest_gpu", "pytest -m gpu", (report["pytest_gpu"]["reason"] or counts)
                          + _parity_summary(report)))
    if "loader" in report:
        rows = {key[:-len("_images_per_s")]: value for key, value in report["loader"]["figures"].items()
                if key.startswith("dali_gpu") and key.endswith("_images_per_s")}
        lines.append(_row(report, "loader", "loader", ", ".join(f"{name} {value:,.0f} img/s" for name, value in
                                                                 rows.items()) or "no GPU rows"))
    if "train" in report:
        train = report["train"]
        memory = train.get("peak_gpu_memory_mib")
        lines.append(_row(report, "train", "train", f"{train.get('steps', 'n/a')} steps, "
                          f"{train.get('images_per_s', 'n/a')} img/s, data wait {train.get('data_wait', 'n/a')}, "
                          "peak GPU memory "
                          f"{'n/a' if memory is None else f'{memory:,.0f} MiB'} (this process), loss "
                          f"{[point['loss_total'] for point in train.get('loss_curve', [])][:12]}"))
    if "eval" in report:
        metrics = report["eval"]["metrics"]
        lines.append(_row(report, "eval", "eval", f"{metrics.get('counts', {}).get('samples')} samples, MPJPE mm "
                          f"{metrics.get('mpjpe')}, MRRPE mm {metrics.get('mrrpe')}, handedness "
                          f"{metrics.get('handedness_accuracy')}" if metrics else "no metrics"))
    if "learning" in report:
        learning = report["learning"]
        lines.append(_row(report, "mean_pose", "learning", f"val MPJPE {learning['val_mpjpe_mm']} mm vs mean pose "
                          f"{learning['mean_pose_mpjpe_mm']} mm (ratio {learning['ratio_to_mean_pose']}); loss "
                          f"{learning['loss_first']} -> {learning['loss_last']} ({learning['loss_png']})"))
    if "goals_met" in report:
        lines.append("goals: " + ", ".join(
            f"{name} {'met' if met else 'not met' if met is not None else 'not measured'}"
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
    parser.add_argument("--frames", type=int, default=320, help="prepare: synthetic time frames per split (× 8 "
                                                                 "cameras: 2,560 train images by default)")
    parser.add_argument("--workers", type=int, default=2, help="prepare: shard-writing processes")
    parser.add_argument("--dry-run", action="store_true", help="a tiny set and the CPU twins (no GPU needed)")
    args = parser.parse_args()
    if args.action == "prepare":
        counts = prepare(args.data, args.frames, args.workers, args.dry_run)
        print(f"{args.data}: train {counts['train']:,} and val {counts['val']:,} samples; now `make gpu-check` "
              f"on the GPU machine (it reads only this folder and the repository)")
    else:
        sys.exit(0 if run(args.data, args.out, args.dry_run).get("ok") else 1)


if __name__ == "__main__":
    main()
