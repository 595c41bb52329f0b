"""Constants shared by the tests (importable as `helpers`; fixtures live in the conftest.py files)."""

import tracemalloc
from pathlib import Path

import numpy as np

from interhand.config import PreprocessConfig, SynthConfig
from interhand.loaders.augment import AugmentParams, draw_augment_params_array, params_to_array
from interhand.preprocess.run import run, shard_dir

REAL_SAMPLES = Path(__file__).parent / "data" / "interhand26m_real"
SYNTH_SEED = 0
# Small but complete: two captures, a ring of four cameras (one gray), every hand type in each capture.
SYNTH_IH26M = SynthConfig(dataset="interhand26m", seed=SYNTH_SEED, frames=12, captures=2, cameras=4)
# One capture, one camera, 7 frames: 7 samples a split.
SYNTH_IH26M_7 = SynthConfig(dataset="interhand26m", seed=SYNTH_SEED, frames=7, captures=1, cameras=1)
SYNTH_STB = SynthConfig(dataset="stb", seed=SYNTH_SEED, frames=6)
SYNTH_RHD = SynthConfig(dataset="rhd", seed=SYNTH_SEED, frames=8)


def make_shards(out: Path, root: Path, **options) -> Path:
    """Run `interhand shards` in-process and return the shard directory."""
    config = PreprocessConfig(data=str(root), shards=str(out), progress=False, **options)
    run(config)
    return shard_dir(config)


class _Stopped(Exception):
    pass


def run_unfinished(config: PreprocessConfig, monkeypatch) -> Path:
    """Run `config` as if killed after its last shard, before the end of the split: every shard written and recorded
    in .work/, no manifest, dataset.json or SHA256SUMS yet (a finished run removes .work/). Returns the folder."""
    import interhand.preprocess.run as run_module

    def stop(*args, **kwargs):
        raise _Stopped

    with monkeypatch.context() as patch:
        patch.setattr(run_module, "_finalize_locked", stop)
        try:
            run(config)
        except _Stopped:
            pass
    return shard_dir(config)


def parse_skeleton_txt(text: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Inverse of `interhand.skeleton.skeleton_txt`: reads back the skeleton.txt files synth writes; raises
    ValueError naming the bad line."""
    rows: dict[int, tuple[str, int]] = {}
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 3:
            raise ValueError(f"skeleton.txt line {line_number}: expected 'name id parent_id', got {line!r}")
        rows[int(fields[1])] = (fields[0], int(fields[2]))
    if sorted(rows) != list(range(len(rows))):
        raise ValueError(f"skeleton.txt: joint ids are not 0..{len(rows) - 1}")
    return tuple(rows[i][0] for i in range(len(rows))), tuple(rows[i][1] for i in range(len(rows)))


# --- loader parity: two loaders on the same shards and the same augmentation parameters ---

# Targets and masks come from the same `.ann` records and parameters through the same host code in every loader:
# they agree to float32 rounding (the reference loader's geometry runs in float64).
TARGET_TOLERANCE = 1e-4
TARGET_FIELDS = ("joints_voxel", "joint_valid", "rel_root_depth_bins", "root_valid", "hand_type", "hand_type_valid",
                 "patch_to_flipped_img")
# Hand-picked parameters every parity test covers: flips, rotations past ±45°, a crop that leaves the frame, colour.
FIXED_PARAMS = [AugmentParams(), AugmentParams(flip=True), AugmentParams(rot_deg=75.0),
                AugmentParams(rot_deg=-90.0, flip=True), AugmentParams(scale=0.75, shift_x=0.15, shift_y=-0.15),
                AugmentParams(colour=(0.8, 1.2, 1.05), rot_deg=20.0)]


def params_table(count: int, seed: int) -> np.ndarray:
    """(count, 8) float32 augmentation parameters, one row a sample: FIXED_PARAMS first, then random draws."""
    table = draw_augment_params_array(np.random.default_rng(seed), count)
    for index, params in enumerate(FIXED_PARAMS[:count]):
        table[index] = params_to_array(params)
    return table


def table_params_source(table: np.ndarray, batch_size: int):
    """A DALI external source (batch callable) handing out the rows of `table` in order, `batch_size` a call,
    wrapping round: read unshuffled, sample i of the split gets row i in the first epoch."""
    position = {"next": 0}

    def next_batch() -> list[np.ndarray]:
        rows = [table[(position["next"] + k) % len(table)] for k in range(batch_size)]
        position["next"] += batch_size
        return rows

    return next_batch


def fixed_params_dali_loader(shards, table: np.ndarray, batch_size: int, device: str, **spec_options):
    """A DALI loader over `shards` (a `shard_list`) on `device` ("cpu" or "gpu"), unshuffled, with sample keys,
    sample i augmented with row i of `table`; `spec_options` go to `DaliPipelineSpec` (box, roi_decode, ...)."""
    from interhand.loaders.dali_loader import DaliLoader
    from interhand.loaders.dali_pipeline import DaliPipelineSpec

    spec = DaliPipelineSpec(shards.paths, shards.index_paths, batch_size=batch_size, num_threads=2, device=device,
                            with_keys=True, **spec_options)
    return DaliLoader(spec, table_params_source(table, batch_size))


def compare_batches(left, right):
    """Walk two loaders' batches in step and check that they hold the same samples (keys) with the same targets,
    masks and parameters (to TARGET_TOLERANCE). Returns (samples seen, the absolute difference of every image value,
    a flat float tensor on the CPU): the images' tolerances are the caller's, they depend on the decoders."""
    import torch

    seen, differences = 0, []
    for left_batch, right_batch in zip(left, right, strict=True):
        assert left_batch.keys == right_batch.keys
        for name in TARGET_FIELDS:
            torch.testing.assert_close(getattr(left_batch, name), getattr(right_batch, name), atol=TARGET_TOLERANCE,
                                       rtol=0, msg=lambda message: f"{name}: {message}")
        if left_batch.params is not None and right_batch.params is not None:
            torch.testing.assert_close(left_batch.params, right_batch.params, atol=0, rtol=0)
        difference = left_batch.image.cpu().int() - right_batch.image.cpu().int()
        differences.append(difference.abs().float().flatten())
        seen += len(left_batch.keys)
    return seen, torch.cat(differences)


def score_refused(path: Path, shards_root: Path, out_dir: Path, *options: str) -> tuple[str, int]:
    """`interhand score PATH` that must be refused: exit 1, one line naming the file, no traceback, no output folder.
    Returns (the line, the peak bytes tracemalloc saw allocated while it ran)."""
    from click.testing import CliRunner

    from interhand.cli import main

    tracemalloc.start()
    try:
        result = CliRunner().invoke(main, ["score", str(path), "--shards", str(shards_root), *options,
                                           "--out-dir", str(out_dir)])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    output = result.output.strip()
    assert result.exit_code == 1, output
    assert "Traceback" not in output and len(output.splitlines()) == 1 and str(path) in output, output
    assert not out_dir.exists()
    return output, peak
