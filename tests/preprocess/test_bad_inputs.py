"""One row per kind of bad or ambiguous input value, for every reader: each becomes errors.parquet rows naming
exactly the samples it affects (never a traceback, never a silently wrong sample); the rest of the split is
written and samples + errors = inputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from interhand.config import PreprocessConfig
from interhand.preprocess.run import run, shard_dir


def _load(path: Path):
    return json.loads(path.read_text())


def _save(path: Path, value) -> None:
    path.write_text(json.dumps(value))  # NaN and Infinity are written as JSON's non-standard literals


def _ih(root: Path, kind: str, folder: str = "test") -> Path:
    """An InterHand2.6M test-split file: v1.0 layout (annotations/test/), or v0.0 (folder = the subset)."""
    return root / "annotations" / folder / f"InterHand2.6M_test_{kind}.json"


def _edit_annotation(field: str, value, index: int = 0):
    """`_set` on the InterHand2.6M data file."""
    def edit(root: Path):
        data = _load(_ih(root, "data"))
        affected = _set(field, value, index)(data)
        _save(_ih(root, "data"), data)
        return affected
    return edit


def _image_of(data: dict, annotation: dict) -> dict:
    return next(image for image in data["images"] if image["id"] == annotation["image_id"])


def _edit_image(field: str, value):
    """The image of the first annotation gets `field` = value (a callable: of the old value; None: removed)."""
    def edit(root: Path):
        data = _load(_ih(root, "data"))
        annotation = data["annotations"][0]
        image = _image_of(data, annotation)
        if value is None:
            del image[field]
        else:
            image[field] = value(image[field]) if callable(value) else value
        _save(_ih(root, "data"), data)
        return {annotation["id"]}
    return edit


def _first_image_path(root: Path) -> tuple[dict, Path]:
    data = _load(_ih(root, "data"))
    annotation = data["annotations"][0]
    image = _image_of(data, annotation)
    return annotation, root / "images" / "test" / image["file_name"]


def _duplicate_image_id(root: Path):
    data = _load(_ih(root, "data"))
    annotation = data["annotations"][0]
    image = _image_of(data, annotation)
    data["images"].append(dict(image, file_name=data["images"][-1]["file_name"]))  # the same id, another picture
    _save(_ih(root, "data"), data)
    return {a["id"] for a in data["annotations"] if a["image_id"] == image["id"]}


def _frame_annotations(root: Path, capture: int, frame: int, folder: str = "test") -> set:
    data = _load(_ih(root, "data", folder))
    images = {image["id"] for image in data["images"] if (image["capture"], image["frame_idx"]) == (capture, frame)}
    return {a["id"] for a in data["annotations"] if a["image_id"] in images}


def _duplicate_frame(kind: str, folder: str = "test"):
    """The first frame of the joint_3d (or MANO) file listed twice, the second copy moved a little."""
    def edit(root: Path):
        table = _load(_ih(root, kind, folder))
        capture = next(iter(table))
        frame, entry = next(iter(table[capture].items()))
        moved = json.loads(json.dumps(entry).replace(".", "1.", 1))  # any other number: which one is right?
        frames = [(frame, entry), (frame, moved)] + [item for item in table[capture].items() if item[0] != frame]
        path = _ih(root, kind, folder)
        path.write_text("{" + ",".join(
            f"{json.dumps(c)}:" + ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in frames) + "}"
                                   if c == capture else json.dumps(value))
            for c, value in table.items()) + "}")
        return _frame_annotations(root, int(capture), int(frame), folder)
    return edit


def _joint_3d_coordinate(value: float, axis: int = 0):
    """The first joint_3d frame's joint 3 gets `value` as its `axis` world coordinate (every camera's annotation of
    that frame is affected)."""
    def edit(root: Path):
        table = _load(_ih(root, "joint_3d"))
        capture = next(iter(table))
        frame = next(iter(table[capture]))
        table[capture][frame]["world_coord"][3][axis] = value
        _save(_ih(root, "joint_3d"), table)
        return _frame_annotations(root, int(capture), int(frame))
    return edit


def _mano_nan(root: Path):
    table = _load(_ih(root, "MANO_NeuralAnnot"))
    capture = next(iter(table))
    frame = next(f for f, entry in table[capture].items() if entry and entry.get("right"))
    table[capture][frame]["right"]["pose"][5] = float("nan")
    _save(_ih(root, "MANO_NeuralAnnot"), table)
    return _frame_annotations(root, int(capture), int(frame))


def _rootnet(root: Path, change):
    path = root / "rootnet_output" / "rootnet_interhand2.6m_output_test.json"
    items = _load(path)
    affected = change(items)
    _save(path, items)
    return affected


def _rootnet_nan(root: Path):
    def change(items):
        items[2]["abs_depth"][0] = float("nan")
        return {items[2]["annot_id"]}
    return _rootnet(root, change)


def _rootnet_duplicate(root: Path):
    def change(items):
        items.append(dict(items[1], abs_depth=[500.0, 500.0]))
        return {items[1]["annot_id"]}
    return _rootnet(root, change)


def _camera_nan(root: Path):
    data = _load(_ih(root, "data"))
    image = _image_of(data, data["annotations"][0])
    cameras = _load(_ih(root, "camera"))
    cameras[str(image["capture"])]["focal"][image["camera"]][0] = float("inf")
    _save(_ih(root, "camera"), cameras)
    return {a["id"] for a in data["annotations"] if any(
        i["id"] == a["image_id"] and (i["capture"], i["camera"]) == (image["capture"], image["camera"])
        for i in data["images"])}


def _symlinked_image(root: Path):
    annotation, path = _first_image_path(root)
    outside = root.parent / "elsewhere.jpg"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(outside)
    return {annotation["id"]}


def _symlinked_folder(root: Path):
    annotation, path = _first_image_path(root)
    outside = root.parent / "elsewhere"
    shutil.move(str(path.parent), str(outside))
    path.parent.symlink_to(outside, target_is_directory=True)
    data = _load(_ih(root, "data"))
    folder = str(Path(next(i for i in data["images"] if i["id"] == annotation["image_id"])["file_name"]).parent)
    images = {i["id"] for i in data["images"] if str(Path(i["file_name"]).parent) == folder}
    return {a["id"] for a in data["annotations"] if a["image_id"] in images}


def _single_hand(dataset: str, change):
    """An edit of the synthetic STB or RHD test annotations (`change(data)` returns the affected ids)."""
    def edit(root: Path):
        path = root / "data" / ("STB_test.json" if dataset == "stb" else "RHD_evaluation.json")
        data = _load(path)
        affected = change(data)
        _save(path, data)
        return affected
    return edit


def _set(field: str, value, index: int = 1):
    """A change of a COCO-style file: annotation `index`'s `field` (a path into it, e.g. 'joint_valid.3.0') set to
    `value`; returns the affected id (-1 where the id itself is made unusable)."""
    def change(data):
        annotation = data["annotations"][index]
        target, steps = annotation, [int(step) if step.isdigit() else step for step in field.split(".")]
        for step in steps[:-1]:
            target = target[step]
        target[steps[-1]] = value
        return {annotation["id"]} if isinstance(annotation["id"], int) else {-1}
    return change


def _single_image(field: str, value):
    def change(data):
        annotation = data["annotations"][0]
        image = _image_of(data, annotation)
        image[field] = value
        return {a["id"] for a in data["annotations"] if a["image_id"] == image["id"]}
    return change


def _stb_rootnet_nan(root: Path):
    path = root / "rootnet_output" / "rootnet_stb_output.json"
    items = _load(path)
    items[0]["abs_depth"] = float("inf")
    _save(path, items)
    return {items[0]["annot_id"]}


def _coco_root(tmp_path: Path, real_ih26m_root: Path) -> Path:
    root = tmp_path / "coco"
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    image = next((real_ih26m_root / "images").rglob("*.jpg"))
    for name in ("hand.jpg", "other.jpg"):
        (root / "images" / name).write_bytes(image.read_bytes())
    keypoints = [v for j in range(21) for v in (10.0 + j, 20.0 + j, 2)]
    annotation = {"image_id": 1, "bbox": [10, 20, 30, 40], "keypoints": keypoints, "hand_type": "left"}
    _save(root / "annotations" / "test.json", {
        "images": [{"id": 1, "file_name": "hand.jpg", "width": 334, "height": 512},
                   {"id": 2, "file_name": "other.jpg", "width": 334, "height": 512}],
        "annotations": [dict(annotation, id=5), dict(annotation, id=6), dict(annotation, id=7, image_id=2)]})
    return root


def _coco(change):
    def edit(root: Path):
        path = root / "annotations" / "test.json"
        data = _load(path)
        affected = change(data)
        _save(path, data)
        return affected
    return edit


def _coco_duplicate_image(data):
    data["images"].append(dict(data["images"][0], file_name="other.jpg"))
    return {5, 6}


def _coco_nan_visibility(data):
    data["annotations"][0]["keypoints"][2] = float("nan")
    return {5}


BAD_INPUTS = [
    # (case, dataset / base folder, edit → affected annotation ids, reason expected in each of their rows)
    ("image id listed twice", "real", _duplicate_image_id, "appears 2 times in"),
    ("joint_3d frame listed twice", "real", _duplicate_frame("joint_3d"), "appears 2 times in"),
    ("MANO frame listed twice", "synth", _duplicate_frame("MANO_NeuralAnnot"), "appears 2 times in"),
    ("v0.0: joint_3d frame listed twice", "synth-v0", _duplicate_frame("joint_3d", "all"), "appears 2 times in"),
    ("NaN joint_valid", "real", _edit_annotation("joint_valid.3.0", float("nan")), "joint_valid must be 0 or 1"),
    ("joint_valid 7", "real", _edit_annotation("joint_valid.5.0", 7), "joint_valid must be 0 or 1: 5=7"),
    ("hand_type_valid 0.5", "real", _edit_annotation("hand_type_valid", 0.5), "hand_type_valid 0.5 is not an integer"),
    ("hand_type_valid 3", "real", _edit_annotation("hand_type_valid", 3), "hand_type_valid must be 0 or 1"),
    ("NaN bbox", "real", _edit_annotation("bbox.1", float("nan")), "non-finite bbox_raw"),
    ("joint at 1e30 mm", "real", _joint_3d_coordinate(1e30), "joints_world_mm beyond ±100000 mm at joint(s) "),
    ("synthetic joint at 1e30 mm", "synth", _joint_3d_coordinate(1e30), "beyond ±100000 mm at joint(s) "),
    ("STB joint at -1e30 mm", "stb", _single_hand("stb", _set("joint_cam.4.0", -1e30)),
     "joints_world_mm beyond ±100000 mm at joint(s) "),
    ("STB valid joint behind the camera", "stb", _single_hand("stb", _set("joint_cam.4.2", -20.0)),
     "joints_cam_mm depth <= 0 (behind the camera) at valid joint(s) "),
    ("inf camera", "real", _camera_nan, "non-finite parameters in the camera file"),
    ("NaN RootNet depth", "synth", _rootnet_nan, "non-finite (NaN or inf) RootNet output"),
    ("RootNet annot_id listed twice", "synth", _rootnet_duplicate, "appears 2 times in"),
    ("NaN MANO pose", "synth", _mano_nan, "non-finite (NaN or inf) MANO parameters"),
    ("width '334px'", "real", _edit_image("width", "334px"), "width '334px' is not an integer"),
    ("fractional height", "real", _edit_image("height", 512.5), "height 512.5 is not an integer"),
    ("image without a width", "real", _edit_image("width", None), "lacks the field 'width'"),
    ("subject past int32", "real", _edit_image("subject", 2 ** 31), "does not fit the 32-bit integers"),
    ("fractional annotation id", "real", _edit_annotation("id", 2000020.7),
     "annotation id 2000020.7 is not an integer"),
    ("fractional image_id", "real", _edit_annotation("image_id", 326750.5), "image_id 326750.5 is not an integer"),
    ("id longer than a key", "real", _edit_annotation("id", 1234567890), "longer than the 9 digits of a sample key"),
    ("file_name with ..", "real", _edit_image("file_name", lambda name: f"../test/{name}"), "not a relative path"),
    ("absolute file_name", "real", _edit_image("file_name", lambda name: f"/{name}"), "not a relative path"),
    ("file_name not UTF-8", "real", _edit_image("file_name", lambda name: name + "\ud800"), "is not valid UTF-8"),
    ("image symlinked outside", "real", _symlinked_image, "resolves outside"),
    ("image folder symlinked outside", "real", _symlinked_folder, "resolves outside"),
    ("STB joint_valid 7", "stb", _single_hand("stb", _set("joint_valid.4", 7)), "joint_valid must be 0 or 1"),
    ("STB inf RootNet depth", "stb", _stb_rootnet_nan, "non-finite (NaN or inf) RootNet output"),
    ("STB seq_name with ..", "stb", _single_hand("stb", _single_image("seq_name", "..")), "not a relative path"),
    ("STB width '640px'", "stb", _single_hand("stb", _single_image("width", "640px")), "is not an integer"),
    ("RHD fractional id", "rhd", _single_hand("rhd", _set("id", 3.5)), "annotation id 3.5 is not an integer"),
    ("COCO image id listed twice", "coco", _coco(_coco_duplicate_image), "image id 1 appears 2 times in"),
    ("COCO NaN visibility", "coco", _coco(_coco_nan_visibility), "non-finite (NaN or inf) keypoint visibility"),
]


@pytest.mark.parametrize("case, base, edit, reason", BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
def test_each_bad_input_is_an_error_row_for_exactly_the_samples_it_affects(
        case, base, edit, reason, tmp_path, real_ih26m_root, synth_ih26m_root, synth_stb_root, synth_rhd_root):
    sources = {"real": ("interhand26m", real_ih26m_root), "synth": ("interhand26m", synth_ih26m_root),
               "synth-v0": ("interhand26m", synth_ih26m_root), "stb": ("stb", synth_stb_root),
               "rhd": ("rhd", synth_rhd_root)}
    layout = {"layout": "v0.0"} if base == "synth-v0" else {}
    if base == "coco":
        dataset, root = "coco", _coco_root(tmp_path, real_ih26m_root)
    else:
        dataset, root = sources[base][0], tmp_path / "root"
        shutil.copytree(sources[base][1], root, symlinks=True)
    affected = edit(root)
    config = PreprocessConfig(dataset=dataset, data=str(root), split="test", shards=str(tmp_path / "out"),
                              progress=False, max_errors=1.0, **layout)
    summary = run(config)
    errors = pq.read_table(shard_dir(config) / "errors.parquet").to_pylist()
    assert sorted(row["annotation_id"] for row in errors) == sorted(affected), errors
    assert all(reason in row["reason"] for row in errors), errors
    assert summary.samples + summary.errors == summary.inputs and summary.samples > 0



def test_bad_input_rows_hold_paths_relative_to_the_dataset_folder(tmp_path, real_ih26m_root):
    """Whatever the reason, a row names files as the manifest does (SHARD_FORMAT.md §5), never where they were read."""
    root = tmp_path / "root"
    shutil.copytree(real_ih26m_root, root, symlinks=True)
    rejected = _duplicate_frame("joint_3d")(root)  # annotation rows naming the joint_3d file
    data = _load(_ih(root, "data"))
    last = next(a for a in reversed(data["annotations"]) if a["id"] not in rejected)
    path = root / "images" / "test" / _image_of(data, last)["file_name"]
    (root.parent / "elsewhere.jpg").write_bytes(path.read_bytes())  # an image row naming the image and the folder
    path.unlink()
    path.symlink_to(root.parent / "elsewhere.jpg")
    config = PreprocessConfig(data=str(root), split="test", shards=str(tmp_path / "out"), progress=False,
                              max_errors=1.0)
    run(config)
    errors = pq.read_table(shard_dir(config) / "errors.parquet").to_pylist()
    assert {row["stage"] for row in errors} == {"annotation", "image"}
    for row in errors:
        assert str(tmp_path) not in row["source_file"] + row["reason"], row
        assert os.path.lexists(root / row["source_file"]), row


def test_errors_per_camera_come_from_errors_parquet_alone(tmp_path, synth_ih26m_root):
    """Bad annotations planted on several cameras (a joint_valid of 7, a missing image): duckdb counts them per
    capture and camera, and reads each one's hand_type, from errors.parquet without the sources."""
    duckdb = pytest.importorskip("duckdb")
    root = tmp_path / "root"
    shutil.copytree(synth_ih26m_root, root, symlinks=True)
    data = _load(_ih(root, "data"))
    images = {image["id"]: image for image in data["images"]}
    chosen, cameras = [], set()
    for annotation in data["annotations"]:  # one annotation per camera, up to four cameras
        image = images[annotation["image_id"]]
        if image["camera"] not in cameras and len(cameras) < 4:
            cameras.add(image["camera"])
            chosen.append((annotation, image))
    assert len(chosen) >= 2
    affected = set()
    for number, (annotation, image) in enumerate(chosen):
        if number % 2:  # every annotation of the image
            (root / "images" / "test" / image["file_name"]).unlink()
            affected |= {other["id"] for other in data["annotations"] if other["image_id"] == image["id"]}
        else:
            annotation["joint_valid"][4] = [7]
            affected.add(annotation["id"])
    _save(_ih(root, "data"), data)
    config = PreprocessConfig(data=str(root), split="test", shards=str(tmp_path / "out"), progress=False,
                              max_errors=1.0)
    run(config)
    errors = str(shard_dir(config) / "errors.parquet")
    rows = duckdb.sql(f"SELECT annotation_id, capture, camera, hand_type FROM '{errors}' ORDER BY ALL").fetchall()
    assert sorted(row[0] for row in rows) == sorted(affected)
    by_id = {annotation["id"]: annotation for annotation in data["annotations"]}
    for annotation_id, capture, camera, hand_type in rows:
        image = images[by_id[annotation_id]["image_id"]]
        assert (capture, camera, hand_type) == (image["capture"], str(image["camera"]),
                                                by_id[annotation_id]["hand_type"])
    per_camera = duckdb.sql(f"SELECT capture, camera, count(*) FROM '{errors}' GROUP BY ALL ORDER BY ALL").fetchall()
    expected: dict = {}
    for annotation_id in affected:
        image = images[by_id[annotation_id]["image_id"]]
        place = (image["capture"], str(image["camera"]))
        expected[place] = expected.get(place, 0) + 1
    assert per_camera == sorted((capture, camera, count) for (capture, camera), count in expected.items())


def test_stb_error_rows_have_no_capture_or_camera_but_their_hand_type(tmp_path, synth_stb_root):
    root = tmp_path / "root"
    shutil.copytree(synth_stb_root, root, symlinks=True)
    affected = _single_hand("stb", _set("joint_valid.4", 7))(root)
    config = PreprocessConfig(dataset="stb", data=str(root), split="test", shards=str(tmp_path / "out"),
                              progress=False, max_errors=1.0)
    run(config)
    errors = pq.read_table(shard_dir(config) / "errors.parquet").to_pylist()
    assert [row["annotation_id"] for row in errors] == sorted(affected)
    assert all((row["capture"], row["camera"]) == (-1, "") and row["hand_type"] in ("right", "left") for row in errors)
