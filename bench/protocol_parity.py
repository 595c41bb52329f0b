"""Parity: our `mmpose` and `interwild` protocols against those repositories' own evaluation code (#30).

Nothing of theirs is copied into the package: this script loads their files by path from a fetched copy (a
checkout or a bare git directory, read with `git show HEAD:path`), with stand-ins for the imports their metric code
does not use for the arithmetic (mmengine's BaseMetric and logger, the registries, torch, cv2, the MANO layer).

- mmpose: `InterHand3DDataset.parse_data_info` (ground truth, validity, GT root depth), `InterHandMetric.process` /
  `compute_metrics` (MPJPE all/single/interacting, MRRPE, HandednessAcc) with its `keypoint_epe` and
  `pixel_to_camera`, on the image_relative predictions (u, v px, depth relative to the own wrist).
- InterWild: `InterHand26M.load_data` on InterHand2.6M-format annotation files written from the split (its
  joint_trunc, hand boxes and Test(H) id list), `evaluate` on camera-space joints given in MANO's joint order, and
  `print_eval_result`, whose figures are read unrounded as it computes them (its `np.mean` calls are recorded).

Both run on one synthetic split (single and interacting frames, truncated and wrist-invalid hands, hands with one
valid joint, hand_type_valid 0) and several prediction sets: the ground truth with noise, a mean pose, the hands
swapped, NaN at every joint the ground truth does not validate, and hand probabilities of exactly 0.5. Prints a
table (ours, theirs, difference) and, last, one JSON line.

    .venv/bin/python bench/protocol_parity.py --mmpose /work/.mirror/open-mmlab+mmpose/repo \\
        --interwild /work/.mirror/facebookresearch+InterWild/repo [--samples 600]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import types
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from interhand.eval.predictions import PredictionFile  # noqa: E402
from interhand.eval.protocols import hand_box_validity, parse_selection  # noqa: E402
from interhand.eval.score_file import match_rows, protocol_mask, score_file  # noqa: E402
from interhand.skeleton import LEFT, RIGHT  # noqa: E402

WIDTH, HEIGHT = 334, 512


# --- their files, loaded by path ---------------------------------------------------------------------------------

class _Source:
    """A fetched repository: a checkout, or a bare git directory read with `git show`."""

    def __init__(self, path: str, scratch: Path):
        self.path, self.scratch = Path(path), scratch
        self.bare = not (self.path / ".git").exists() and (self.path / "HEAD").is_file()
        git = ["git", f"--git-dir={self.path}"] if self.bare else ["git", "-C", str(self.path)]
        self.git = git
        self.commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    def file(self, relative: str) -> Path:
        if not self.bare:
            return self.path / relative
        target = self.scratch / self.path.parent.name / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(subprocess.run([*self.git, "show", f"HEAD:{relative}"], capture_output=True,
                                          check=True).stdout)
        return target


def _stub(name: str, **attributes) -> types.ModuleType:
    module = sys.modules.get(name) or types.ModuleType(name)
    module.__path__ = getattr(module, "__path__", [])
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class _Registry:
    def register_module(self, *args, **kwargs):
        return lambda cls: cls


class _BaseMetric:
    def __init__(self, collect_device="cpu", prefix=None):
        self.results = []


def _load_mmpose(source: _Source):
    for package in ("mmpose", "mmpose.evaluation", "mmpose.evaluation.metrics", "mmpose.datasets",
                    "mmpose.datasets.datasets.hand3d", "mmengine", "xtcocotools"):
        _stub(package)
    projection = _load("mmpose.codecs.utils.camera_image_projection",
                       source.file("mmpose/codecs/utils/camera_image_projection.py"))
    _stub("mmpose.codecs")
    _stub("mmpose.codecs.utils", pixel_to_camera=projection.pixel_to_camera, camera_to_pixel=projection.camera_to_pixel,
          get_heatmap_maximum=None, get_simcc_maximum=None)
    _stub("mmpose.registry", METRICS=_Registry(), DATASETS=_Registry())
    _stub("mmengine.evaluator", BaseMetric=_BaseMetric)
    _stub("mmengine.logging", MMLogger=type("MMLogger", (), {"get_current_instance": staticmethod(
        lambda: types.SimpleNamespace(info=lambda *args: None))}))
    _stub("mmengine.fileio", exists=os.path.exists, get_local_path=None)
    _stub("mmengine.utils", is_abs=os.path.isabs)
    _stub("xtcocotools.coco", COCO=None)
    _stub("mmpose.datasets.datasets", BaseCocoStyleDataset=object)
    _stub("mmpose.structures")
    _stub("mmpose.structures.bbox", bbox_xywh2xyxy=lambda box: np.concatenate([box[:, :2], box[:, :2] + box[:, 2:]], 1))
    _stub("mmpose.evaluation.functional.mesh_eval", compute_similarity_transform=None)
    _stub("mmpose.evaluation.functional")
    keypoint_eval = _load("mmpose.evaluation.functional.keypoint_eval",
                          source.file("mmpose/evaluation/functional/keypoint_eval.py"))
    _stub("mmpose.evaluation.functional", keypoint_epe=keypoint_eval.keypoint_epe)
    metric = _load("mmpose.evaluation.metrics.hand_metric", source.file("mmpose/evaluation/metrics/hand_metric.py"))
    dataset = _load("mmpose.datasets.datasets.hand3d.interhand_3d_dataset",
                    source.file("mmpose/datasets/datasets/hand3d/interhand_3d_dataset.py"))
    return metric.InterHandMetric, dataset.InterHand3DDataset


def _mano_names() -> tuple[str, ...]:
    """MANO's joint order as InterWild names it (utils/mano.py th_joints_name): wrist, then each finger 1 to 4."""
    fingers = ("Thumb", "Index", "Middle", "Ring", "Pinky")
    return tuple(f"{hand}_{name}" for hand in "RL"
                 for name in ["Wrist"] + [f"{finger}_{k}" for finger in fingers for k in range(1, 5)])


class _NumpyRecorder(types.ModuleType):
    """numpy for print_eval_result, recording what each np.mean returns (it prints them rounded to 0.01)."""

    def __init__(self):
        super().__init__("numpy")
        self.means: list[float] = []

    def __getattr__(self, name):
        return getattr(np, name)

    def mean(self, *args, **kwargs):
        with np.errstate(all="ignore"):
            value = np.mean(*args, **kwargs)
        self.means.append(float(value))
        return value


def _load_interwild(source: _Source):
    cfg = types.SimpleNamespace(input_img_shape=(256, 256), input_body_shape=(256, 192), output_body_hm_shape=(8, 8, 6))
    mano = types.SimpleNamespace(th_joints_name=_mano_names(), vertex_num=1, sh_root_joint_idx=0,
                                 sh_joint_regressor=np.ones((21, 1), np.float32), face={})
    try:  # the real torch where installed (its Dataset base class is all InterWild's dataset uses of it)
        import torch.utils.data  # noqa: F401
    except ImportError:
        _stub("torch", nn=_stub("torch.nn", functional=_stub("torch.nn.functional")), utils=_stub("torch.utils"))
        _stub("torch.utils.data", Dataset=object)
    for name in ("cv2", "smplx", "plyfile"):  # imported by its modules, unused by load_data and evaluate
        if name not in sys.modules:
            _stub(name, PlyData=None, PlyElement=None)
    _stub("config", cfg=cfg)
    _stub("utils")
    _stub("utils.mano", mano=mano)
    _load("utils.transforms", source.file("common/utils/transforms.py"))
    _load("utils.preprocessing", source.file("common/utils/preprocessing.py"))
    _stub("utils.vis", vis_keypoints=None, save_obj=None, vis_3d_skeleton=None)
    _stub("pycocotools")
    _stub("pycocotools.coco", COCO=_Coco)
    return _load("interwild_interhand26m", source.file("data/InterHand26M/InterHand26M.py"))


class _Coco:
    """What InterWild's load_data uses of pycocotools' COCO: `.anns` by id and `loadImgs`."""

    def __init__(self, path):
        data = json.loads(Path(path).read_text())
        self.anns = {ann["id"]: ann for ann in data["annotations"]}
        self.images = {image["id"]: image for image in data["images"]}

    def loadImgs(self, image_id):
        return [self.images[image_id]]


# --- one synthetic split -------------------------------------------------------------------------------------------

def _split(count: int, rng: np.random.Generator) -> dict:
    """Manifest-like rows: the columns scoring reads, plus the raw validity the annotation files hold."""
    hand_type = rng.choice(np.array(["right", "left", "interacting"], dtype=object), count)
    focal = rng.uniform(1100, 1300, (count, 2))
    princpt = np.stack([rng.uniform(150, 180, count), rng.uniform(240, 270, count)], 1)
    depth = rng.uniform(700, 1100, count)
    right = np.stack([rng.uniform(-120, 60, count), rng.uniform(-60, 60, count), depth], 1)
    left = right + np.stack([rng.uniform(80, 200, count), rng.normal(0, 30, count), rng.normal(0, 40, count)], 1)
    joints = np.concatenate([right[:, None] + rng.normal(0, 35, (count, 21, 3)),
                             left[:, None] + rng.normal(0, 35, (count, 21, 3))], axis=1)
    joints[:, 20], joints[:, 41] = right, left
    truncated = rng.random(count) < 0.1  # a hand partly or wholly beyond the image's right edge
    joints[truncated, 21:, 0] += rng.uniform(50, 400, truncated.sum())[:, None]
    uv = joints[..., :2] / joints[..., 2:3] * focal[:, None] + princpt[:, None]
    raw = ((uv[..., 0] >= 0) & (uv[..., 0] < WIDTH) & (uv[..., 1] >= 0) & (uv[..., 1] < HEIGHT)
           & (rng.random((count, 42)) > 0.05)).astype(np.float64)
    raw[hand_type == "right", 21:] = 0
    raw[hand_type == "left", :21] = 0
    raw[rng.random(count) < 0.04, 20] = 0  # a wrist invalid: its hand is not scored
    lone = rng.random(count) < 0.05  # only the right wrist valid: InterWild's box is empty
    raw[lone, :20] = 0
    raw[lone, 20] = 1
    valid = raw.copy()
    valid[:, RIGHT] *= raw[:, 20:21]
    valid[:, LEFT] *= raw[:, 41:42]
    return {"key": np.array([f"ih26m-test-{i:09d}" for i in range(count)], dtype=object),
            "annotation_id": np.arange(1000, 1000 + count, dtype=np.int64), "joints_cam_mm": joints.astype(np.float32)
            .astype(np.float64), "joint_valid": valid, "joint_valid_raw": raw, "hand_type": hand_type,
            "hand_type_valid": (rng.random(count) > 0.1).astype(np.float64), "focal": focal, "princpt": princpt,
            "abs_depth_gt_mm": np.stack([joints[:, 20, 2], joints[:, 41, 2]], 1),
            "rootnet_abs_depth_mm": np.stack([joints[:, 20, 2], joints[:, 41, 2]], 1),
            "root_joint_index": np.tile([20.0, 41.0], (count, 1)), "width": np.full(count, float(WIDTH)),
            "height": np.full(count, float(HEIGHT))}


def _predictions(rows: dict, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name → (camera joints (N, 42, 3) mm, hand probabilities (N, 2))."""
    joints, count = rows["joints_cam_mm"], len(rows["key"])
    truth = np.stack([np.isin(rows["hand_type"], ("right", "interacting")),
                      np.isin(rows["hand_type"], ("left", "interacting"))], 1).astype(float)
    probabilities = np.clip(truth + rng.normal(0, 0.3, (count, 2)), 0, 1)
    noisy = joints + rng.normal(0, 8, joints.shape)
    wrists = np.repeat(joints[:, [20, 41]], 21, axis=1)
    valid = rows["joint_valid"][..., None] > 0
    mean_pose = np.where(valid, joints - wrists, 0).sum(0) / np.maximum(valid.sum(0), 1)
    swapped = np.concatenate([noisy[:, LEFT], noisy[:, RIGHT]], axis=1)
    missing = np.where(valid, noisy, np.nan)
    ties = probabilities.copy()
    ties[rng.random((count, 2)) < 0.2] = 0.5
    return {"noisy ground truth": (noisy, probabilities), "mean pose": (mean_pose + wrists + rng.normal(0, 5, (
        count, 1, 3)), probabilities), "hands swapped": (swapped, probabilities[:, ::-1]),
        "missing joints (NaN)": (missing, probabilities), "hand probabilities 0.5": (noisy, ties)}


def _image_relative(rows: dict, joints: np.ndarray) -> dict:
    uv = joints[..., :2] / joints[..., 2:3] * rows["focal"][:, None] + rows["princpt"][:, None]
    own_wrist = np.concatenate([joints[:, [20] * 21, 2], joints[:, [41] * 21, 2]], axis=1)
    return {"joints_img_px": uv, "joints_rel_depth_mm": joints[..., 2] - own_wrist,
            "rel_root_depth_mm": np.nan_to_num(joints[:, 41, 2] - joints[:, 20, 2])}


# --- ours ----------------------------------------------------------------------------------------------------------

def _ours(rows: dict, joints: np.ndarray, probabilities: np.ndarray, protocol: str, human: set | None) -> dict:
    keys = list(rows["key"])
    metadata = {"dataset": "interhand26m", "split": "test"}
    if protocol.startswith("mmpose"):
        arrays, form = {**_image_relative(rows, joints), "hand_type_prob": probabilities}, "image_relative"
    else:
        arrays, form = {"joints_cam_mm": joints, "hand_type_prob": probabilities}, "camera"
    file = PredictionFile("parity", metadata, keys, None, arrays, form)
    selection = parse_selection(protocol)
    metrics, _, _ = score_file(file, rows, match_rows(file, rows, "split"), protocol_mask(protocol, rows, human),
                               "interhand26m", "gt", selection)
    return {"MPJPE all": metrics["mpjpe"]["all"], "MPJPE single": metrics["mpjpe"]["single"],
            "MPJPE interacting": metrics["mpjpe"]["interacting"], "MRRPE": metrics["mrrpe"],
            "handedness": metrics["handedness_accuracy"]}


# --- theirs --------------------------------------------------------------------------------------------------------

def _mmpose(classes, rows: dict, joints: np.ndarray, probabilities: np.ndarray, interacting_only: bool) -> dict:
    metric_class, dataset_class = classes
    dataset = object.__new__(dataset_class)
    dataset.use_gt_root_depth = True
    dataset.metainfo = {"num_keypoints": 42, "dataset_name": "interhand3d"}
    dataset.cameras, dataset.joints = {}, {}
    metric = metric_class()
    image = _image_relative(rows, joints)
    keypoints = np.concatenate([image["joints_img_px"], image["joints_rel_depth_mm"][..., None]], -1)
    samples = []
    for i in range(len(rows["key"])):
        if interacting_only and rows["hand_type"][i] != "interacting":
            continue
        capture = str(i)
        dataset.cameras[capture] = {"campos": {"0": [0.0, 0.0, 0.0]}, "camrot": {"0": np.eye(3).tolist()},
                                    "focal": {"0": rows["focal"][i].tolist()},
                                    "princpt": {"0": rows["princpt"][i].tolist()}}
        dataset.joints[capture] = {"0": {"world_coord": rows["joints_cam_mm"][i].tolist()}}
        ann = {"id": int(rows["annotation_id"][i]), "image_id": i, "joint_valid": rows["joint_valid_raw"][i].tolist(),
               "hand_type": rows["hand_type"][i], "hand_type_valid": int(rows["hand_type_valid"][i]),
               "bbox": [0, 0, 10, 10]}
        info = dataset.parse_data_info({"raw_ann_info": ann, "raw_img_info": {
            "capture": i, "camera": "0", "frame_idx": 0, "img_path": ""}})
        samples.append({"pred_instances": {"keypoints": keypoints[i][None].astype(np.float32),
                                           "hand_type": (probabilities[i] > 0.5).astype(int)[None],
                                           "rel_root_depth": np.float32(image["rel_root_depth_mm"][i])},
                        "gt_instances": {"keypoints_cam": info["keypoints_cam"],
                                         "keypoints_visible": info["keypoints_visible"]},
                        **{name: info[name] for name in ("hand_type", "hand_type_valid", "abs_depth", "focal",
                                                         "principal_pt")}})
    metric.process([], samples)
    figures = metric.compute_metrics(metric.results)
    return {"MPJPE all": figures["MPJPE_all"], "MPJPE single": figures["MPJPE_single"],
            "MPJPE interacting": figures["MPJPE_interacting"], "MRRPE": figures["MRRPE"],
            "handedness": figures["HandednessAcc"]}


def _write_interhand_annotations(folder: Path, rows: dict, human: list[int]) -> None:
    """InterHand2.6M's test annotation files (data, camera, joint_3d, MANO) and aid_human_annot_test.txt."""
    annotations = folder / "data" / "InterHand26M" / "annotations" / "test"
    annotations.mkdir(parents=True)
    images, anns, cameras, joints = [], [], {}, {}
    for i in range(len(rows["key"])):
        images.append({"id": i, "width": WIDTH, "height": HEIGHT, "file_name": f"{i}.jpg", "capture": i,
                       "seq_name": "s", "camera": "0", "frame_idx": 0})
        anns.append({"id": int(rows["annotation_id"][i]), "image_id": i, "hand_type": rows["hand_type"][i],
                     "joint_valid": [[v] for v in rows["joint_valid_raw"][i].tolist()],
                     "hand_type_valid": int(rows["hand_type_valid"][i])})
        cameras[str(i)] = {"campos": {"0": [0.0, 0.0, 0.0]}, "camrot": {"0": np.eye(3).tolist()},
                           "focal": {"0": rows["focal"][i].tolist()}, "princpt": {"0": rows["princpt"][i].tolist()}}
        # joint_3d's validity: every joint (the released files validate in 3D every joint the annotation does)
        joints[str(i)] = {"0": {"world_coord": rows["joints_cam_mm"][i].tolist(), "joint_valid": [1] * 42}}
    for name, content in (("data", {"images": images, "annotations": anns}), ("camera", cameras),
                          ("joint_3d", joints), ("MANO_NeuralAnnot", {})):
        (annotations / f"InterHand2.6M_test_{name}.json").write_text(json.dumps(content))
    (folder / "data" / "InterHand26M" / "aid_human_annot_test.txt").write_text("".join(f"{a}\n" for a in human))
    (folder / "main").mkdir()


def _interwild(module, folder: Path, rows: dict, joints: np.ndarray) -> dict:
    previous = os.getcwd()
    os.chdir(folder / "main")  # InterWild reads ../data/InterHand26M/...
    try:
        dataset = module.InterHand26M(None, "test")
    finally:
        os.chdir(previous)
    ih26m_names = list(dataset.joint_set["joints_name"])
    mano_order = [ih26m_names.index(name) for name in _mano_names()]
    row_of = {int(a): i for i, a in enumerate(rows["annotation_id"])}
    outs = []
    for entry in dataset.datalist:
        predicted = joints[row_of[entry["aid"]]][mano_order] / 1000  # MANO order, metres
        outs.append({"rmano_joint_cam": predicted[:21], "lmano_joint_cam": predicted[21:],
                     "rmano_mesh_cam": np.zeros((1, 3)), "lmano_mesh_cam": np.zeros((1, 3)),
                     "mano_mesh_cam_target": np.zeros((2, 3)), "rel_trans": predicted[21] - predicted[0],
                     "bb2img_trans": np.eye(3)[:2], "rhand_bbox": np.array([0.0, 0, 1, 1]),
                     "lhand_bbox": np.array([0.0, 0, 1, 1])})
    result = dataset.evaluate(outs, 0)
    recorder = _NumpyRecorder()
    module.np = recorder
    try:
        _quiet(dataset.print_eval_result, result)
    finally:
        module.np = np
    # its np.mean calls, in order: 42 + 42 per-joint means, box IoU, MRRPE, 4 MPVPE/RRVE, MPJPE all, single, inter
    figures = recorder.means[84:]
    return {"MPJPE all": figures[-3], "MPJPE single": figures[-2], "MPJPE interacting": figures[-1],
            "MRRPE": figures[1], "handedness": None, "frames": len(dataset.datalist)}


def _quiet(function, *args):
    """Run their printing function silently (np.mean of its empty MPVPE lists warns)."""
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(*args)


# --- the comparison ------------------------------------------------------------------------------------------------

def _difference(ours, theirs, protocol: str) -> float | None:
    """|ours - theirs|; None where both are unscored, or mmpose's empty group (its keypoint_epe returns 0.0 where
    no keypoint is valid, we say not scored: docs/protocols.md); inf where only one side has a figure."""
    if ours is None and theirs == 0.0 and protocol.startswith("mmpose"):
        return None
    if ours is None or theirs is None or not np.isfinite(theirs):
        return None if (ours is None) == (theirs is None or not np.isfinite(theirs)) else float("inf")
    return abs(float(ours) - float(theirs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mmpose", required=True, help="open-mmlab/mmpose: a checkout or a bare git directory")
    parser.add_argument("--interwild", required=True, help="facebookresearch/InterWild: a checkout or git directory")
    parser.add_argument("--samples", type=int, default=600)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = _split(args.samples, rng)
    human = sorted(rng.choice(rows["annotation_id"], args.samples * 2 // 3, replace=False).tolist())
    results = []
    with tempfile.TemporaryDirectory(prefix="protocol-parity-") as scratch:
        mmpose_source, interwild_source = _Source(args.mmpose, Path(scratch)), _Source(args.interwild, Path(scratch))
        mmpose = _load_mmpose(mmpose_source)
        interwild = _load_interwild(interwild_source)
        _write_interhand_annotations(Path(scratch) / "ih", rows, human)
        image_wh = np.stack([rows["width"], rows["height"]], 1)
        dropped = rows["joint_valid"] - hand_box_validity(rows["joint_valid"], rows["joints_cam_mm"], rows["focal"],
                                                          rows["princpt"], image_wh)
        print(f"{args.samples} frames, {len(human)} in the H list; InterWild's box rule drops "
              f"{int((dropped.reshape(-1, 2, 21) > 0).any(-1).sum())} hands")
        for name, (joints, probabilities) in _predictions(rows, rng).items():
            for protocol in ("mmpose", "mmpose:interacting", "interwild"):
                if protocol == "interwild":
                    theirs = _interwild(interwild, Path(scratch) / "ih", rows, joints)
                else:
                    theirs = _mmpose(mmpose, rows, joints, probabilities, protocol.endswith("interacting"))
                ours = _ours(rows, joints, probabilities, protocol, set(human))
                for figure, value in ours.items():
                    theirs_value = theirs[figure]
                    theirs_value = None if theirs_value is None else float(theirs_value)
                    results.append({"predictions": name, "protocol": protocol, "figure": figure, "ours": value,
                                    "theirs": theirs_value, "difference": _difference(value, theirs_value, protocol)})
    _print(results, mmpose_source.commit, interwild_source.commit)


def _print(results: list[dict], mmpose_commit: str, interwild_commit: str) -> None:
    def shown(value):
        return "–" if value is None else f"{value:.6f}"

    print(f"mmpose {mmpose_commit}, InterWild {interwild_commit}")
    print(f"| {'predictions':<22} | {'protocol':<18} | {'figure':<17} | {'ours':>12} | {'theirs':>12} | diff |")
    print("|" + "---|" * 6)
    for row in results:
        print(f"| {row['predictions']:<22} | {row['protocol']:<18} | {row['figure']:<17} | {shown(row['ours']):>12} | "
              f"{shown(row['theirs']):>12} | {shown(row['difference'])} |")
    differences = [row["difference"] for row in results if row["difference"] is not None]
    worst = max(differences) if differences else 0.0
    print(f"largest difference {worst:.3g} over {len(differences)} figures (mm; handedness a fraction); ours are "
          "metrics.json's, rounded to 4 decimals (<= 5e-5); mmpose computes in float32; '–' both: not scored; "
          "ours '–' against mmpose 0.0: its empty group")
    print(json.dumps({"benchmark": "protocol_parity", "mmpose": mmpose_commit, "interwild": interwild_commit,
                      "figures": len(differences), "max_abs_difference": worst,
                      "unmatched": sum(1 for row in results if row["difference"] == float("inf"))}))


if __name__ == "__main__":
    main()
