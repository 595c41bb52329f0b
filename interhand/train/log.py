"""Run logs: JSON lines for programs (`log/train_log.jsonl`), a human log (`log/train_logs.txt`), and the
loss-curve plot (`interhand plot-log`). Only rank 0 writes."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

__all__ = ["RunLog", "read_log", "plot_log"]


class RunLog:
    """Append-only logs of one run; a no-op on ranks other than 0."""

    def __init__(self, log_dir: Path, enabled: bool = True):
        self.enabled = enabled
        self.jsonl_path = Path(log_dir) / "train_log.jsonl"
        self.text_path = Path(log_dir) / "train_logs.txt"
        if enabled:
            Path(log_dir).mkdir(parents=True, exist_ok=True)

    def record(self, kind: str, **values) -> None:
        """One JSON line: {"kind": "step"|"epoch"|..., "time": unix seconds, ...values}."""
        if not self.enabled:
            return
        with open(self.jsonl_path, "a") as handle:
            handle.write(json.dumps({"kind": kind, "time": round(time.time(), 3), **values}) + "\n")

    def rewind(self, epoch: int, global_step: int) -> None:
        """Drop the JSON lines of steps after `global_step` and of epochs from `epoch` on: a run resumed from a
        snapshot redoes them, and its log must read like the uninterrupted run's (rewritten atomically)."""
        if not self.enabled or not self.jsonl_path.is_file():
            return
        kept = [line for line in self.jsonl_path.read_text().splitlines(keepends=True)
                if line.endswith("\n") and not _redone(line, epoch, global_step)]  # a cut last line goes too
        temporary = self.jsonl_path.with_name(self.jsonl_path.name + ".tmp")
        temporary.write_text("".join(kept))
        os.replace(temporary, self.jsonl_path)

    def info(self, message: str) -> None:
        if not self.enabled:
            return
        with open(self.text_path, "a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")


def _redone(line: str, epoch: int, global_step: int) -> bool:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return True
    if entry.get("kind") == "step":
        return entry.get("global_step", 0) > global_step
    return entry.get("kind") == "epoch" and entry.get("epoch", -1) >= epoch


def read_log(run_dir: Path) -> list[dict]:
    """The JSON lines of a run folder (or of a train_log.jsonl file)."""
    path = Path(run_dir)
    path = path if path.is_file() else path / "log" / "train_log.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (is {run_dir} a training run folder?)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_log(run_dir: Path, out_path: Path | None = None) -> Path:
    """Loss curves (each term and the total, per logged step, log scale) and the learning rate, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = [entry for entry in read_log(run_dir) if entry["kind"] == "step"]
    if not steps:
        raise ValueError(f"{run_dir}: the log has no step entries yet")
    figure = Figure(figsize=(10, 6))
    FigureCanvasAgg(figure)
    losses, rates = figure.add_subplot(2, 1, 1), figure.add_subplot(2, 1, 2)
    x = [entry["global_step"] for entry in steps]
    for term in [key for key in steps[0] if key.startswith("loss_")]:
        losses.plot(x, [entry[term] for entry in steps], label=term[5:])
    losses.set_yscale("log")
    losses.set_ylabel("loss (per-key mean, as the original)")
    losses.legend()
    losses.grid(True, alpha=0.3)
    rates.plot(x, [entry["lr"] for entry in steps], color="black", label="learning rate")
    rates.plot(x, [entry["data_wait"] for entry in steps], color="tab:red", label="fraction of time waiting for data")
    rates.set_yscale("log")
    rates.set_xlabel("iteration")
    rates.legend()
    rates.grid(True, alpha=0.3)
    figure.tight_layout()
    out_path = Path(out_path) if out_path else Path(run_dir) / "vis" / "train_loss.png"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out_path, dpi=100)
    return out_path
