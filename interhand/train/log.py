"""Run logs: JSON lines for programs (`log/train_log.jsonl`), a human log (`log/train_logs.txt`), and the
loss-curve plot (`interhand plot-log`). Only rank 0 writes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from interhand.outputs import append_text, make_folder, save_figure, write_text

__all__ = ["RunLog", "read_log", "plot_log"]


class RunLog:
    """Append-only logs of one run; a no-op on ranks other than 0."""

    def __init__(self, log_dir: Path, enabled: bool = True):
        self.enabled = enabled
        self.jsonl_path = Path(log_dir) / "train_log.jsonl"
        self.text_path = Path(log_dir) / "train_logs.txt"
        if enabled:
            make_folder(log_dir)

    def record(self, kind: str, **values) -> None:
        """One JSON line: {"kind": "step"|"epoch"|..., "time": unix seconds, ...values}."""
        if not self.enabled:
            return
        append_text(self.jsonl_path, json.dumps({"kind": kind, "time": round(time.time(), 3), **values}) + "\n")

    def rewind(self, epoch: int, global_step: int) -> None:
        """Drop the JSON lines of steps after `global_step` and of epochs from `epoch` on: a run resumed from a
        snapshot redoes them, and its log must read like the uninterrupted run's (rewritten atomically)."""
        if not self.enabled or not self.jsonl_path.is_file():
            return
        kept = [line for line in self.jsonl_path.read_text().splitlines(keepends=True)
                if line.endswith("\n") and not _redone(line, epoch, global_step)]  # a cut last line goes too
        write_text(self.jsonl_path, "".join(kept))

    def info(self, message: str) -> None:
        if not self.enabled:
            return
        append_text(self.text_path, f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")


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
    """The run's curves per logged step, one labelled panel each: every loss term (log scale), their sum, the
    learning rate and the fraction of time spent waiting for data; epoch boundaries dotted; titled with the run."""
    from interhand.vis import mpl_figure, mpl_style

    steps = [entry for entry in read_log(run_dir) if entry["kind"] == "step"]
    if not steps:
        raise ValueError(f"{run_dir}: the log has no step entries yet")
    x = [entry["global_step"] for entry in steps]
    terms = [key for key in steps[0] if key.startswith("loss_")]
    starts = sorted({entry["global_step"] - entry["iteration"]
                     for entry in steps if entry["epoch"] > steps[0]["epoch"]})
    panels = [(term[5:].replace("_", " ") + " loss", [entry[term] for entry in steps], "log") for term in terms]
    panels += [("total loss (sum of the terms)", [sum(entry[term] for term in terms) for entry in steps], "log"),
               ("learning rate", [entry["lr"] for entry in steps], "log"),
               ("data wait, fraction of step time", [entry["data_wait"] for entry in steps], "linear")]
    columns = 2
    rows = -(-len(panels) // columns)
    with mpl_style():
        figure = mpl_figure((11, 2.6 * rows + 0.8))
        epochs = f"epochs {steps[0]['epoch']}-{steps[-1]['epoch']}" if len(starts) else f"epoch {steps[0]['epoch']}"
        figure.suptitle(f"training run {Path(run_dir).resolve().name} ({run_dir}): {len(steps)} logged steps, "
                        f"{epochs}; dotted lines: epoch starts", x=0.01, ha="left")
        for index, (label, values, scale) in enumerate(panels):
            axes = figure.add_subplot(rows, columns, index + 1)
            axes.plot(x, values, color="black" if label == "learning rate" else f"C{index}", linewidth=1.2)
            axes.set_yscale(scale if min(values) > 0 else "linear")  # a term that is 0 throughout stays readable
            if scale == "linear":
                axes.set_ylim(0, max(1.0, max(values) * 1.05) if label.startswith("data") else None)
            for start in starts:
                axes.axvline(start, color="gray", linestyle=":", linewidth=1)
            axes.set_title(label, loc="left")
            axes.set_ylabel(label.split(",")[0].split(" (")[0])
            axes.set_xlabel("iteration (global step)")
            axes.grid(True, alpha=0.3)
        out_path = Path(out_path) if out_path else Path(run_dir) / "vis" / "train_loss.png"
        save_figure(figure, out_path, dpi=100)
    return out_path
