"""Contact sheets read annotations back from the files, real or synthetic."""

import numpy as np
from PIL import Image

from interhand.synth.contact_sheet import read_annotated_frames, write_contact_sheet


def test_contact_sheet_reads_the_real_samples_and_their_joints_land_in_the_image(real_ih26m_root, tmp_path):
    frames = read_annotated_frames(real_ih26m_root, "test")
    assert len(frames) == 4
    for frame in frames:
        width, height = Image.open(frame.image_path).size
        uv = frame.joints_img[frame.joint_valid]
        assert np.all((uv >= 0) & (uv < [width, height]))
    path = write_contact_sheet(real_ih26m_root, "test", count=4, columns=2, seed=0, out_path=tmp_path / "real.png")
    width, height = Image.open(path).size
    assert width >= 2 * 256 and height > 2 * 256  # 2×2 tiles with captions, under a title


def test_contact_sheet_draws_synthetic_interhand_stb_and_rhd(synth_ih26m_root, synth_stb_root, synth_rhd_root, tmp_path):
    for root, split in ((synth_ih26m_root, "val"), (synth_stb_root, "test"), (synth_rhd_root, "train")):
        path = write_contact_sheet(root, split, count=5, columns=3, seed=1, out_path=tmp_path / f"{root.name}.png")
        sheet = np.asarray(Image.open(path))
        assert sheet.shape[0] > 2 * 256 and sheet.shape[1] >= 3 * 256 and sheet.std() > 10
