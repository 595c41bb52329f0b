"""The human-readable evaluation report: the original's printout, plus counts and speed."""

from __future__ import annotations

__all__ = ["format_report"]


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
        for group, title in (("all", "all hand sequences"), ("single", "single hand sequences"),
                             ("interacting", "interacting hand sequences")):
            table = metrics["mpjpe_per_joint"][group]
            lines.append(f"MPJPE for {title}: {_mm(metrics['mpjpe'][group])} mm "
                         f"({metrics['counts'][group + '_samples']} samples)")
            lines.append("  per joint: " + ", ".join(f"{name}: {_mm(value)}" for name, value in table.items()))
            if metrics["missing_joints"][group]:
                lines.append(f"  joints without a valid sample (left out of the mean): {metrics['missing_joints'][group]}")
    return "\n".join(lines) + "\n"
