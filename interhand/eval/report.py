"""The human-readable evaluation report: the original's printout, plus counts and speed."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["format_report", "format_comparison", "format_value", "run_evaluations"]


def format_value(value, digits: int = 2) -> str:
    """A figure of metrics.json for a table: "–" where it was not scored (None)."""
    return "–" if value is None else f"{value:.{digits}f}"


def _mm(value) -> str:
    return "missing" if value is None else f"{value:.2f}"


def format_report(metrics: dict, images_per_s: float, samples: int) -> str:
    lines = [f"{metrics['dataset']} {metrics['annot_subset']} {metrics['split']}: {samples} samples, "
             f"checkpoint {metrics['checkpoint']}, root depth from {metrics['root_source']} "
             f"({images_per_s:.1f} images/s)"]
    if metrics.get("handedness_accuracy") is not None:
        lines.append(f"Handedness accuracy: {metrics['handedness_accuracy']:.4f} "
                     f"({metrics['counts']['handedness_samples']} samples)")
    if "epe" in metrics:
        lines.append(f"EPE (MPJPE of the ground-truth hand, root-aligned): {_mm(metrics['epe'])} mm")
        table = metrics["epe_per_joint"]
        lines.append("per joint: " + ", ".join(f"{name}: {_mm(value)}" for name, value in table.items()))
    else:
        lines.append(f"MRRPE: {_mm(metrics['mrrpe'])} mm ({metrics['counts']['mrrpe_samples']} interacting samples)")
        if metrics.get("hand_confusion") is not None:
            lines.append(f"Hand confusion (not the original's): {metrics['hand_confusion']:.3f} of "
                         f"{metrics['counts']['hand_confusion_joints']} joints of interacting frames lie nearer the "
                         "other hand's joint of the same name (0: hands told apart; about 0.5: not at all)")
        for group, title in (("all", "all hand sequences"), ("single", "single hand sequences"),
                             ("interacting", "interacting hand sequences")):
            table = metrics["mpjpe_per_joint"][group]
            lines.append(f"MPJPE for {title}: {_mm(metrics['mpjpe'][group])} mm "
                         f"({metrics['counts'][group + '_samples']} samples)")
            lines.append("  per joint: " + ", ".join(f"{name}: {_mm(value)}" for name, value in table.items()))
            if metrics["missing_joints"][group]:
                lines.append("  joints without a valid sample (left out of the mean): "
                             f"{metrics['missing_joints'][group]}")
    return "\n".join(lines) + "\n"


def _source_kind(metrics: dict) -> str:
    source = str(metrics.get("checkpoint", ""))
    if source.startswith("oracle"):
        return "oracle"
    if source.startswith("mean-pose baseline"):
        return "mean pose"
    if source.startswith("untrained"):
        return "untrained"
    return "trained"


def format_comparison(results: dict[str, dict]) -> str:
    """A side-by-side table of several metrics.json (oracle, mean pose, untrained, trained; "confused": the hand
    confusion of interacting frames, "–" where not scored) and a last line
    saying whether each trained model beat the mean-pose baseline on MPJPE (all sequences).

    Args:
        results: run name → metrics.json content, all on the same split.
    """
    order = {"oracle": 0, "mean pose": 1, "untrained": 2, "trained": 3}
    rows = sorted(results.items(), key=lambda item: (order[_source_kind(item[1])], item[0]))
    width = max([len("run"), *map(len, results)])
    lines = [f"{'run':<{width}} {'kind':<10} {'MPJPE all':>10} {'single':>8} {'interact.':>9} {'MRRPE':>8} "
             f"{'handed.':>8} {'confused':>8}"]
    for name, metrics in rows:
        mpjpe = metrics.get("mpjpe", {})
        hand = metrics.get("handedness_accuracy")
        lines.append(f"{name:<{width}} {_source_kind(metrics):<10} {_mm(mpjpe.get('all')):>10} "
                     f"{_mm(mpjpe.get('single')):>8} {_mm(mpjpe.get('interacting')):>9} {_mm(metrics.get('mrrpe')):>8} "
                     f"{'missing' if hand is None else f'{hand:.3f}':>8} "
                     f"{format_value(metrics.get('hand_confusion'), 3):>8}")
    baselines = [m["mpjpe"]["all"] for m in results.values() if _source_kind(m) == "mean pose" and m["mpjpe"]["all"]]
    trained = [(name, m["mpjpe"]["all"]) for name, m in rows if _source_kind(m) == "trained" and m["mpjpe"]["all"]]
    if not baselines or not trained:
        lines.append("no trained model and mean-pose baseline to compare")
    else:
        verdicts = [f"{name}: {value:.2f} mm = {value / baselines[0]:.2f}x the mean pose's {baselines[0]:.2f} mm, "
                    + ("beat the mean-pose baseline" if value < baselines[0] else "did NOT beat the mean-pose baseline")
                    for name, value in trained]
        lines.append("; ".join(verdicts))
    return "\n".join(lines) + "\n"


# metrics.json is a few KB; a bigger file is not one `interhand eval` or `score` wrote.
MAX_METRICS_BYTES = 16 * 2**20
_FIGURES = ("mrrpe", "handedness_accuracy", "hand_confusion")


def run_evaluations(run_dir: Path, split: str | None = None) -> dict[str, dict]:
    """A run's evaluations: RUN_DIR/result/<name>/metrics.json by name, sorted (only `split`'s when given).

    Raises:
        ValueError: one line naming a metrics.json that is not JSON or lacks what the comparison shows.
    """
    results = {}
    for path in sorted((Path(run_dir) / "result").glob("*/metrics.json")):
        metrics = _read_metrics(path)
        if not split or metrics.get("split") == split:
            results[path.parent.name] = metrics
    return results


def _read_metrics(path: Path) -> dict:
    """One metrics.json, checked: an object with the figures the table prints (numbers or null)."""
    try:
        size = path.stat().st_size
        if size > MAX_METRICS_BYTES:
            raise ValueError(f"{path}: {size} bytes, not a metrics.json (at most {MAX_METRICS_BYTES} bytes)")
        metrics = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError) as error:
        reason = str(error) if str(error).startswith(str(path)) else f"{path}: not readable JSON ({error})"
        raise ValueError(reason.splitlines()[0][:300]) from None
    mpjpe = metrics.get("mpjpe") if isinstance(metrics, dict) else None
    if not isinstance(mpjpe, dict) or "all" not in mpjpe or not isinstance(metrics.get("split"), str):
        raise ValueError(f"{path}: not an evaluation's metrics.json (an object with `split` and `mpjpe`; found "
                         f"{_kind(metrics)}); rerun `interhand eval` or remove the folder")
    figures = {f"mpjpe.{group}": mpjpe.get(group) for group in ("all", "single", "interacting")}
    figures.update({name: metrics.get(name) for name in _FIGURES})
    wrong = [name for name, value in figures.items()
             if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)))]
    if wrong:
        raise ValueError(f"{path}: {', '.join(wrong)} not a number or null (refused: the table would show nonsense)")
    return metrics


def _kind(value) -> str:
    if isinstance(value, dict):
        return "an object with " + (", ".join(sorted(value)[:6]) or "no fields")
    return f"a JSON {type(value).__name__}"
