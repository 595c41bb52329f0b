"""Constants shared by the tests (importable as `helpers`; fixtures live in the conftest.py files)."""

from pathlib import Path

from interhand.config import PreprocessConfig, SynthConfig
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
    config = PreprocessConfig(root=str(root), out=str(out), progress=False, **options)
    run(config, ["test"])
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
            run(config, ["test"])
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
