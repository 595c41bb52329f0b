"""docs/scoring.md's "Scoring your own model" examples run as written, and their four files score alike."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from interhand.cli import main
from interhand.eval.score_file import read_rows

SCORING = Path(__file__).resolve().parents[2] / "docs/scoring.md"


def _examples() -> list[str]:
    section = SCORING.read_text().split("# Scoring your own model", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def _model_outputs(rows: dict) -> dict:
    """What the examples take as "your model's outputs": the ground truth plus noise, in every form."""
    joints_cam_mm = rows["joints_cam_mm"] + np.random.default_rng(0).normal(0.0, 3.0, rows["joints_cam_mm"].shape)
    index, roots = np.arange(len(rows["key"])), rows["root_joint_index"].astype(int)
    own = np.where(np.arange(42)[None] < 21, roots[:, :1], roots[:, 1:])
    wrists = np.take_along_axis(joints_cam_mm, own[..., None], axis=1)
    uv = joints_cam_mm[..., :2] / joints_cam_mm[..., 2:3] * rows["focal"][:, None] + rows["princpt"][:, None]
    depth = joints_cam_mm[..., 2]
    return {"keys": list(rows["key"]), "annotation_ids": rows["annotation_id"], "joints_cam_mm": joints_cam_mm,
            "joints_cam_rel_mm": joints_cam_mm - wrists,
            "rel_root_cam_mm": joints_cam_mm[index, roots[:, 1]] - joints_cam_mm[index, roots[:, 0]],
            "joints_img_px": uv, "joints_depth_mm": depth, "joints_rel_depth_mm": depth - wrists[..., 2],
            "rel_root_depth_mm": depth[index, roots[:, 1]] - depth[index, roots[:, 0]],
            "hand_type_prob": np.stack([np.isin(rows["hand_type"], ("right", "interacting")),
                                        np.isin(rows["hand_type"], ("left", "interacting"))], axis=1).astype(float)}


def test_the_readme_examples_write_files_that_score_alike(synth_ih26m_shards, synth_ih26m_root, tmp_path, monkeypatch):
    examples = _examples()
    assert len(examples) == 4
    outputs = _model_outputs(read_rows(synth_ih26m_shards / "test"))
    monkeypatch.chdir(tmp_path)
    for example in examples:
        exec(example, dict(outputs))
    files = ["mine.parquet", "mine.json", "mine_relative.npz", "mine_25d.npz"]
    result = CliRunner().invoke(main, ["score", *files, "--shards", str(synth_ih26m_shards.parent.parent),
                                       "--split", "test", "--protocol", "all,human_annot", "--vis", "0",
                                       "--data", str(synth_ih26m_root)])
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in (tmp_path / "score" / "comparison.csv").read_text().splitlines()[1:]]
    names = ("mine", "mine.json", "mine_relative.npz", "mine_25d.npz")
    assert [(row[0], row[1]) for row in rows] == [(name, protocol) for protocol in ("all", "human_annot")
                                                  for name in names]
    mpjpe = {(row[0], row[1]): float(row[5]) for row in rows}
    assert all(row[4] == "0" for row in rows)  # no prediction missing
    # The same poses in three forms score the same; the 2.5D one with RootNet's wrist depths nearly so.
    same = [value for (name, protocol), value in mpjpe.items() if protocol == "all" and name != "mine_25d.npz"]
    assert max(same) - min(same) < 0.02 and 3.0 < same[0] < 10.0
    assert abs(mpjpe[("mine_25d.npz", "all")] - same[0]) < 1.0
