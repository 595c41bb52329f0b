"""Contact sheets draw the frames `interhand shards` keeps, with each joint where its annotation puts it."""

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from interhand.shard_format.names import sample_key
from interhand.synth.contact_sheet import annotated_image, read_annotated_frames, write_contact_sheet
from interhand.vis import LEFT_RGB, RIGHT_RGB

from helpers import make_shards

# Which 21 joints are the right hand's, as each dataset's files order them (InterHand2.6M right first, STB/RHD
# left first), written out here rather than taken from the code under test.
_RIGHT_BLOCK = {"ih26m": range(0, 21), "stb": range(21, 42), "rhd": range(21, 42)}


def _joints_missing_their_colour(frame) -> list[int]:
    """Valid joints whose 3×3 neighbourhood in the drawn image lacks their hand's colour (right orange, left blue),
    but those within 5 px of a valid joint of the other hand (its dot, drawn after, may cover them)."""
    image = np.asarray(annotated_image(frame)).astype(int)
    right = np.isin(np.arange(42), _RIGHT_BLOCK[frame.key.split("-")[0]])
    missing = []
    for joint in np.flatnonzero(frame.joint_valid):
        others = frame.joints_img[frame.joint_valid & (right != right[joint])]
        if len(others) and np.linalg.norm(others - frame.joints_img[joint], axis=1).min() < 5:
            continue
        u, v = np.floor(frame.joints_img[joint]).astype(int)
        colour = RIGHT_RGB if right[joint] else LEFT_RGB
        if not np.all(image[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2] == colour, axis=-1).any():
            missing.append(int(joint))
    return missing


def _annotation_ids(root, split="test") -> list[int]:
    data = json.loads((root / "annotations" / split / f"InterHand2.6M_{split}_data.json").read_text())
    return [annotation["id"] for annotation in data["annotations"]]


def test_the_real_samples_are_read_and_drawn_where_their_annotations_put_them(real_ih26m_root):
    frames = read_annotated_frames(real_ih26m_root, "test")
    assert [frame.key for frame in frames] == [sample_key("interhand26m", "test", aid)
                                               for aid in _annotation_ids(real_ih26m_root)]
    for frame in frames:
        width, height = Image.open(frame.image_path).size
        uv = frame.joints_img[frame.joint_valid]
        assert len(uv) and np.all((uv >= 0) & (uv < [width, height]))
        assert _joints_missing_their_colour(frame) == [], frame.name


def test_the_same_seed_draws_the_same_sheet_and_another_seed_other_frames(real_ih26m_root, tmp_path):
    def sheet(seed: int, name: str) -> bytes:
        path = write_contact_sheet(real_ih26m_root, "test", count=2, columns=2, seed=seed, out_path=tmp_path / name)
        return path.read_bytes()

    first = sheet(0, "a.png")
    assert sheet(0, "b.png") == first
    # numpy's default_rng picks annotations {2, 3} of the four with seed 0 and {0, 2} with seed 3: the tiles differ
    # (their lowest 200 rows, below the title that names the seed).
    sheet(3, "c.png")
    tiles = [np.asarray(Image.open(tmp_path / name))[-200:] for name in ("a.png", "c.png")]
    assert tiles[0].shape == tiles[1].shape and not np.array_equal(*tiles)
    width, height = Image.open(tmp_path / "a.png").size
    assert width == 640 and height > 256  # 2 tiles of 256 px + gutters, in the 640 px minimum, under a title


def test_an_annotation_the_shards_reject_is_not_drawn(real_ih26m_root, tmp_path):
    root = shutil.copytree(real_ih26m_root, tmp_path / "InterHand2.6M")
    data_path = root / "annotations" / "test" / "InterHand2.6M_test_data.json"
    data = json.loads(data_path.read_text())
    data["annotations"][1]["bbox"][2] = 0  # no area: `interhand shards` rejects it
    data_path.write_text(json.dumps(data))
    kept = pq.read_table(make_shards(tmp_path / "shards", root, split="test", max_errors=0.5) / "manifest.parquet",
                         columns=["key"]).column("key").to_pylist()
    frames = read_annotated_frames(root, "test")
    assert len(kept) == 3 and sorted(frame.key for frame in frames) == sorted(kept)
    path = write_contact_sheet(root, "test", count=4, columns=4, seed=0, out_path=tmp_path / "sheet.png")
    assert Image.open(path).size[0] == 3 * 260  # three tiles and their gutters: the rejected one is left out


def test_synthetic_interhand_stb_and_rhd_frames_are_all_read_and_drawn(synth_ih26m_root, synth_stb_root,
                                                                        synth_rhd_root, tmp_path):
    cases = ((synth_ih26m_root, "val", "annotations/val/InterHand2.6M_val_data.json", "ih26m-val-"),
             (synth_stb_root, "test", "data/STB_test.json", "stb-test-"),
             (synth_rhd_root, "train", "data/RHD_training.json", "rhd-train-"))
    for root, split, annotation_file, prefix in cases:
        frames = read_annotated_frames(root, split)
        annotations = json.loads((root / annotation_file).read_text())["annotations"]
        assert len(frames) == len(annotations) and all(frame.key.startswith(prefix) for frame in frames)
        for frame in frames[:6]:
            assert _joints_missing_their_colour(frame) == [], frame.name
        path = write_contact_sheet(root, split, count=5, columns=3, seed=1, out_path=tmp_path / f"{root.name}.png")
        width, height = Image.open(path).size
        assert width == 3 * 260 and height > 2 * 256  # two rows of three columns under a title
