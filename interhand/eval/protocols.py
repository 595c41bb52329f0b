"""Named evaluation protocols of InterHand2.6M (#30): the same predictions scored as each published codebase does.

A protocol is a complete definition (sample set, joint validity, root and alignment, root depth, averaging,
interacting frames, MRRPE, handedness), read from the repository's own code at the commit named in `source`;
docs/protocols.md records the comparison that shows our figures equal to that code's on the same predictions
(bench/protocol_parity.py). Each is selected as NAME or NAME:SUBSET (`mmpose:interacting`); the bare subsets
`all`, `human_annot` and `interacting` are the `internet` protocol's, the meaning `interhand score` always gave them.

The evaluator (eval/evaluators.py) computes the original's figures; a protocol changes the ground truth's joint
validity before it (`protocol_truth`) and recomputes the figures it defines differently after it (`protocol_metrics`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from interhand.config import PROTOCOL_NAMES, SCORE_SUBSETS
from interhand.eval.evaluators import HAND_TYPES, EvaluationTotals, GroundTruth
from interhand.skeleton import LEFT, RIGHT

__all__ = ["Protocol", "ProtocolSelection", "PROTOCOL_DEFINITIONS", "parse_selection", "protocol_truth",
           "protocol_metrics", "hand_box_validity", "sample_weighted_mpjpe"]


@dataclass(frozen=True)
class Protocol:
    """One published evaluation, every rule in words (printed in every output) and as the values the code uses."""

    name: str
    source: str  # repository, file and function, commit
    sample_set: str
    joint_validity: str
    root_alignment: str
    root_depth: str  # the image_relative form's wrist depths (the other forms carry their own)
    averaging: str
    interacting_frames: str
    mrrpe: str
    handedness: str
    default_subset: str = "all"
    root_depth_default: str | None = None  # "gt", or None: the file's `root_source`, else RootNet
    mean_rule: str = "per_joint"  # per_joint | per_keypoint | per_joint_groups
    mrrpe_frames: str = "interacting"  # interacting | both_wrists
    handedness_rule: str = "strict"  # strict | labels | none
    hand_box_rule: bool = False

    def definition(self) -> dict:
        """The rules in words (metrics.json's `protocol_definition`)."""
        return {name: value for name, value in asdict(self).items() if name in _WORDS}


_WORDS = ("name", "source", "sample_set", "joint_validity", "root_alignment", "root_depth", "averaging",
          "interacting_frames", "mrrpe", "handedness")
_WRIST_ALIGNED = "each hand minus its own wrist (R_Wrist 20, L_Wrist 41), prediction and ground truth"

PROTOCOL_DEFINITIONS: dict[str, Protocol] = {
    "internet": Protocol(
        name="internet",
        source="facebookresearch/InterHand2.6M data/InterHand2.6M/dataset.py Dataset.evaluate (the original)",
        sample_set="every test frame of the shards (InterNet's Test: all annotations)",
        joint_validity="the annotation's joint_valid, each hand masked by its wrist's flag",
        root_alignment=_WRIST_ALIGNED,
        root_depth="RootNet's wrist depths (or the file's root_source; --root-source overrides)",
        averaging="per joint the mean over the frames that validate it, then the plain mean over the 42 joints "
                  "(wrists, 0 mm, included); single, interacting and all each so",
        interacting_frames="hand_type == 'interacting'",
        mrrpe="|pred(left wrist - right wrist) - gt(...)|, camera mm, mean over interacting frames with both "
              "wrists valid; the left wrist at the right wrist's depth plus the predicted relative root depth",
        handedness="hand_type_valid frames; right: p_r > 0.5 and p_l < 0.5, left the mirror, interacting both > 0.5"),
    "mmpose": Protocol(
        name="mmpose",
        source="open-mmlab/mmpose@759b39c mmpose/evaluation/metrics/hand_metric.py InterHandMetric, "
               "evaluation/functional/keypoint_eval.py keypoint_epe, datasets/hand3d/interhand_3d_dataset.py",
        sample_set="every test frame (its config's annotations/all/InterHand2.6M_test_data.json)",
        joint_validity="the annotation's joint_valid, each hand masked by its wrist's flag (parse_data_info)",
        root_alignment=_WRIST_ALIGNED,
        root_depth="the ground truth's wrist depths (use_gt_root_depth=True in its InterNet config; "
                   "--root-source overrides)",
        averaging="one mean over all valid keypoints of the group's frames (keypoint_epe: sample-weighted), "
                  "wrists included; a group with no valid keypoint is not scored (mmpose prints 0.0)",
        interacting_frames="the one-hot hand type's .all() (interacting = [1, 1])",
        mrrpe="as the original (frames with hand_type.all() and both wrists valid; float32 arithmetic)",
        handedness="hand_type_valid frames; the labels p > 0.5 (logit > 0) equal the one-hot ground truth "
                   "(right: p_r > 0.5 and p_l <= 0.5)",
        root_depth_default="gt", mean_rule="per_keypoint", handedness_rule="labels"),
    "interwild": Protocol(
        name="interwild",
        source="facebookresearch/InterWild@7c01e4a data/InterHand26M/InterHand26M.py load_data, evaluate, "
               "print_eval_result (joints only; its MPVPE, RRVE and box IoU need meshes and boxes)",
        sample_set="Test(H): the ids of aid_human_annot_test.txt (frames left with no valid joint are dropped)",
        joint_validity="joint_trunc: the annotation's joint_valid masked by its wrist's, and a hand's joints all "
                       "invalid where its box (valid joints' extent x1.2, clipped to the image) is empty",
        root_alignment=_WRIST_ALIGNED + "; a MANO method supplies its joints regressed to the IH26M joint set",
        root_depth="none for camera-space forms; the image_relative form's from the ground truth "
                   "(--root-source overrides)",
        averaging="per joint the mean over the frames that validate it, then the mean over the 42 joints, for "
                  "single and interacting frames; all = the mean of those 84 per-joint means (= their average); "
                  "a joint without frames makes the figure NaN (not scored)",
        interacting_frames="hand_type == 'interacting'",
        mrrpe="|pred(left wrist - right wrist) - gt(...)|, camera mm, mean over every frame with both wrists "
              "valid (any hand type)",
        handedness="not part of the protocol (not scored)",
        default_subset="human_annot", root_depth_default="gt", mean_rule="per_joint_groups",
        mrrpe_frames="both_wrists", handedness_rule="none", hand_box_rule=True),
}
if set(PROTOCOL_DEFINITIONS) != set(PROTOCOL_NAMES):  # config.py names them for ScoreConfig's validation
    raise RuntimeError(f"protocols {sorted(PROTOCOL_DEFINITIONS)} differ from config.PROTOCOL_NAMES")


@dataclass(frozen=True)
class ProtocolSelection:
    """A protocol and the subset of frames it is applied to, under the label asked for (`mmpose:interacting`)."""

    label: str
    protocol: Protocol
    subset: str

    @property
    def folder(self) -> str:
        """The output folder's name: the label, `:` as `_`."""
        return self.label.replace(":", "_")

    def definition(self) -> dict:
        """The protocol's rules with the subset asked for; a subset other than the protocol's own replaces its
        sample set (`interwild:all` is scored on every frame, not on Test(H))."""
        definition = {**self.protocol.definition(), "subset": self.subset}
        if self.subset != self.protocol.default_subset:
            definition["sample_set"] = (f"the {_SUBSET_WORDS[self.subset]}, asked for instead of the protocol's own "
                                        f"({self.protocol.sample_set})")
        return definition


_SUBSET_WORDS = {"all": "split's every frame", "human_annot": "split's human-annotated frames (its aid list)",
                 "interacting": "split's interacting frames"}
if set(_SUBSET_WORDS) != set(SCORE_SUBSETS):
    raise RuntimeError(f"subsets {sorted(_SUBSET_WORDS)} differ from config.SCORE_SUBSETS")


def parse_selection(text: str) -> ProtocolSelection:
    """`all|human_annot|interacting` (the internet protocol's), `NAME` (its own sample set) or `NAME:SUBSET`."""
    label = text.strip()
    name, _, subset = label.partition(":")
    if not subset and name in SCORE_SUBSETS:
        name, subset = "internet", name
    if name not in PROTOCOL_DEFINITIONS or (subset and subset not in SCORE_SUBSETS):
        raise ValueError(f"protocol {label!r}: give one of {', '.join(SCORE_SUBSETS)} (the internet protocol's "
                         f"subsets), a protocol ({', '.join(PROTOCOL_DEFINITIONS)}) or PROTOCOL:SUBSET")
    protocol = PROTOCOL_DEFINITIONS[name]
    return ProtocolSelection(label, protocol, subset or protocol.default_subset)


def hand_box_validity(joint_valid: np.ndarray, joints_cam_mm: np.ndarray, focal: np.ndarray, princpt: np.ndarray,
                      image_wh: np.ndarray) -> np.ndarray:
    """(N, 42) InterWild's joint_trunc: joint_valid with a hand's joints zeroed where its box is empty.

    The box is the extent of the hand's valid joints projected to the image, enlarged x1.2 about its centre
    (get_bbox), then clipped: x1 = max(0, x), x2 = min(W - 1, x1 + max(0, w - 1)); it is empty unless w*h > 0,
    x2 > x1 and y2 > y1 (sanitize_bbox). A hand with one valid joint, or under a pixel wide, is dropped.
    """
    valid = np.asarray(joint_valid, np.float64).copy()
    joints = np.asarray(joints_cam_mm, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = joints[..., :2] / joints[..., 2:3] * np.asarray(focal)[:, None] + np.asarray(princpt)[:, None]
    width, height = np.asarray(image_wh, np.float64).T
    with np.errstate(invalid="ignore"):  # a hand with no valid joint: inf - inf, and no box anyway
        for block in (RIGHT, LEFT):
            hand = valid[:, block] == 1
            shown = hand.any(axis=1)
            low = np.where(hand[..., None], uv[:, block], np.inf).min(axis=1)
            high = np.where(hand[..., None], uv[:, block], -np.inf).max(axis=1)
            size = ((high - low) * 1.2).astype(np.float32).astype(np.float64)  # get_bbox returns float32
            corner = ((low + high) / 2 - (high - low) * 1.2 / 2).astype(np.float32).astype(np.float64)
            x1, y1 = np.maximum(0, corner[:, 0]), np.maximum(0, corner[:, 1])
            x2 = np.minimum(width - 1, x1 + np.maximum(0, size[:, 0] - 1))
            y2 = np.minimum(height - 1, y1 + np.maximum(0, size[:, 1] - 1))
            kept = shown & (size[:, 0] * size[:, 1] > 0) & (x2 > x1) & (y2 > y1)
            valid[:, block] *= kept[:, None]
    return valid


def protocol_truth(selection: ProtocolSelection, truth: GroundTruth, image_wh: np.ndarray) -> GroundTruth:
    """The ground truth as the protocol validates it (InterWild's hand boxes); unchanged for the others."""
    if not selection.protocol.hand_box_rule:
        return truth
    valid = hand_box_validity(truth.joint_valid, truth.joints_cam_mm, truth.focal, truth.princpt, image_wh)
    return replace(truth, joint_valid=valid)


def sample_weighted_mpjpe(errors: np.ndarray, valid: np.ndarray, samples: np.ndarray) -> float:
    """mmpose's keypoint_epe: one mean over every valid keypoint of the chosen samples; NaN where there is none."""
    mask = (np.asarray(valid) > 0) & np.asarray(samples, bool)[:, None]
    return float(errors[mask].mean()) if mask.any() else float("nan")


def _mpjpe(rule: str, totals: EvaluationTotals) -> dict[str, float]:
    """The groups' figures from the evaluator's running sums (#31: no whole-split array)."""
    if rule == "per_keypoint":  # keypoint_epe: the sum over every valid keypoint of the group / their count
        return {group: (totals.keypoint_sums[group] / int(np.sum(totals.joint_counts[group]))
                        if np.sum(totals.joint_counts[group]) else float("nan")) for group in totals.keypoint_sums}
    # per_joint_groups (InterWild): np.mean over per-joint means, NaN if a joint has no frame; all: the 84 of both
    means = {group: totals.joint_means(group)[0] for group in ("single", "interacting")}
    return {"single": float(np.mean(means["single"])), "interacting": float(np.mean(means["interacting"])),
            "all": float(np.mean(np.concatenate([means["single"], means["interacting"]])))}


def _handedness(rule: str, totals: EvaluationTotals, hand_type: np.ndarray) -> np.ndarray:
    """(N,) 1.0 / 0.0 per frame, NaN where not scored (mmpose's label rule)."""
    if rule == "none" or not totals.has_hand_type_prob:
        return np.full(len(hand_type), np.nan)
    labels = totals.column("hand_type_prob") > 0.5
    truth = np.stack([np.isin(hand_type, ("right", "interacting")), np.isin(hand_type, ("left", "interacting"))], 1)
    return (labels == truth).all(axis=1).astype(np.float64)


def protocol_metrics(selection: ProtocolSelection, metrics: dict, totals: EvaluationTotals) -> dict:
    """The evaluator's metrics with the figures the protocol defines differently recomputed from what it accumulated
    (`totals`, over the ground truth as `protocol_truth` gave it): MPJPE's averaging, MRRPE's frames, handedness'
    rule."""
    protocol = selection.protocol
    metrics = {**metrics, "counts": dict(metrics["counts"]), "not_scored": dict(metrics.get("not_scored", {}))}
    if protocol.mean_rule != "per_joint":
        figures = _mpjpe(protocol.mean_rule, totals)
        metrics["mpjpe"] = {group: (round(value, 4) if np.isfinite(value) else None)
                            for group, value in figures.items()}
    if protocol.mrrpe_frames == "both_wrists" and totals.has_rel_root:
        mrrpe = totals.column("mrrpe_both_wrists")  # the wrists alone decide
        counted = np.isfinite(mrrpe)
        metrics["mrrpe"] = round(float(mrrpe[counted].mean()), 4) if counted.any() else None
        metrics["counts"]["mrrpe_samples"] = int(counted.sum())
    if protocol.handedness_rule != "strict":
        hand_type = np.array(HAND_TYPES)[totals.column("hand_type")]
        correct = _handedness(protocol.handedness_rule, totals, hand_type)
        scored = totals.column("hand_type_valid") & np.isfinite(correct)
        metrics["handedness_accuracy"] = round(float(correct[scored].mean()), 4) if scored.any() else None
        metrics["counts"]["handedness_samples"] = int(scored.sum())
        if protocol.handedness_rule == "none":
            metrics["not_scored"]["handedness_accuracy"] = f"not part of the {protocol.name} protocol"
    return metrics
