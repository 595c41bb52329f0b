"""The side-by-side outputs of `interhand score A B C`: a Markdown and a CSV table, and one bar chart per protocol."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from interhand.eval.report import format_value as _value
from interhand.outputs import save_figure
from interhand.vis import mpl_figure, mpl_style

__all__ = ["score_table_rows", "format_score_table", "score_table_csv", "plot_score_comparison"]

_COLUMNS = ("predictions", "protocol", "scored", "protocol samples", "missing", "MPJPE all (mm)", "single (mm)",
            "interacting (mm)", "MRRPE (mm)", "handedness", "hand confusion", "root depth")
# (label, metric getter) of the bars: the millimetre figures of metrics.json.
_BARS = (("MPJPE all", lambda m: m["mpjpe"].get("all")), ("MPJPE single", lambda m: m["mpjpe"].get("single")),
         ("MPJPE interacting", lambda m: m["mpjpe"].get("interacting")), ("MRRPE", lambda m: m.get("mrrpe")))


def score_table_rows(results: dict[str, dict[str, dict]]) -> list[list[str]]:
    """One row per (protocol, file), protocols in the order asked, files in the order given.

    Args:
        results: file name → protocol → metrics.json content (`interhand.eval.score_job.run`'s return value).
    """
    protocols = list(dict.fromkeys(protocol for by_protocol in results.values() for protocol in by_protocol))
    rows = []
    for protocol in protocols:
        for label, by_protocol in results.items():
            metrics = by_protocol[protocol]
            counts = metrics["counts"]
            rows.append([label, protocol, str(counts["samples"]), str(counts["protocol_samples"]),
                         str(counts["missing_predictions"]), _value(metrics["mpjpe"].get("all")),
                         _value(metrics["mpjpe"].get("single")), _value(metrics["mpjpe"].get("interacting")),
                         _value(metrics.get("mrrpe")), _value(metrics.get("handedness_accuracy"), 4),
                         _value(metrics.get("hand_confusion"), 3), metrics["root_source"]])
    return rows


def format_score_table(results: dict[str, dict[str, dict]]) -> str:
    """The comparison as a Markdown table ("–": not scored), with a line on what the figures are."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
    lines += ["| " + " | ".join(row) + " |" for row in score_table_rows(results)]
    any_metrics = next(iter(next(iter(results.values())).values()))
    lines += ["", f"{any_metrics['dataset']} {any_metrics['annot_subset']}/{any_metrics['split']}. Hand confusion (no "
              "protocol's; ours): the share of interacting frames' joints predicted nearer the other hand's joint of "
              "the same name. A sample without a prediction is left out of every figure and counted under missing. "
              "Each protocol's rules (eval/protocols.py, docs/protocols.md):"]
    for protocol, definition in _definitions(results).items():
        lines += ["", f"- **{protocol}** ({definition['name']} on the {definition['subset']} frames; "
                      f"{definition['source']}):"]
        lines += [f"  {field.replace('_', ' ')}: {text}." for field, text in definition.items()
                  if field not in ("name", "source", "subset")]
    return "\n".join(lines) + "\n"


def _definitions(results: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """protocol label → its `protocol_definition`, in the table's order."""
    return {protocol: metrics["protocol_definition"] for by_protocol in results.values()
            for protocol, metrics in by_protocol.items()}


def score_table_csv(results: dict[str, dict[str, dict]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_COLUMNS)
    writer.writerows([[cell.replace("–", "") for cell in row] for row in score_table_rows(results)])
    return buffer.getvalue()


def plot_score_comparison(by_file: dict[str, dict], path: Path) -> Path:
    """Grouped bars, one colour per file: MPJPE all / single / interacting and MRRPE of one protocol, mm.

    Each file's legend entry gives how many of the protocol's samples it predicted and its handedness accuracy;
    a figure a file does not have (e.g. MRRPE without a relative root) is marked "not scored".
    """
    labels = list(by_file)
    first = by_file[labels[0]]
    width = 0.8 / len(labels)
    with mpl_style():
        figure = mpl_figure((max(8.0, 2.2 * len(_BARS) + 0.6 * len(labels)), 5.4))
        axes = figure.add_subplot(1, 1, 1)
        for index, label in enumerate(labels):
            metrics = by_file[label]
            values = np.array([np.nan if get(metrics) is None else get(metrics) for _, get in _BARS], dtype=float)
            positions = np.arange(len(_BARS)) + index * width
            counts = metrics["counts"]
            hand = metrics.get("handedness_accuracy")
            bars = axes.bar(positions, values, width, label=f"{label}: {counts['samples']} of "
                            f"{counts['protocol_samples']} samples, handedness "
                            f"{'not scored' if hand is None else f'{hand:.3f}'}, root depth: {metrics['root_source']}")
            axes.bar_label(bars, labels=[("" if np.isnan(v) else f"{v:.1f}") for v in values], fontsize=8)
            for position in positions[np.isnan(values)]:
                axes.text(position, 0, "not scored", rotation=90, ha="center", va="bottom", fontsize=8)
        axes.set_xticks(np.arange(len(_BARS)) + 0.4 - width / 2)
        axes.set_xticklabels([name for name, _ in _BARS])
        axes.set_ylabel("error, mm (lower is better)")
        axes.set_title(f"protocol {first['protocol']} on {first['dataset']} {first['annot_subset']}/{first['split']}: "
                       f"{first['counts']['protocol_samples']} samples\nMPJPE: each hand aligned on its own wrist; "
                       "MRRPE: interacting frames with both wrists valid", loc="left")
        axes.grid(True, axis="y", alpha=0.3)
        figure.legend(loc="outside lower center", ncols=1, frameon=False)
        save_figure(figure, path, dpi=100)
    return Path(path)
