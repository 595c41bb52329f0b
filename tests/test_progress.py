"""Progress reporting: a bar on a terminal, a few plain lines in a log, the same calls for both."""

from __future__ import annotations

import io

from click.testing import CliRunner
from tqdm import tqdm

from interhand.cli import main
from interhand.progress import PlainProgress, progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_plain_line_per_tenth_not_one_per_update():
    log = io.StringIO()
    with progress(total=200, desc="eval val", unit="img", file=log, every_s=3600) as bar:
        assert isinstance(bar, PlainProgress)
        for _ in range(200):
            bar.update(1)
            bar.set_postfix(loss=0.5)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in log.getvalue()
    assert lines[0].startswith("eval val: 20/200 (10%) img") and "img/s" in lines[0] and "ETA" in lines[0]
    assert lines[-1].startswith("eval val: 200/200 (100%) img") and "loss=0.5" in lines[-1]


def test_a_log_gets_a_line_every_interval_without_a_total():
    log = io.StringIO()
    bar = progress(desc="read", unit="ann", file=log, every_s=0.0)
    bar.update(3)
    bar.update(4)
    bar.close()
    assert log.getvalue().splitlines()[-1].startswith("read: 7 ann") and len(log.getvalue().splitlines()) == 2


def test_a_terminal_gets_tqdms_bar_and_disabled_is_silent():
    terminal = _Terminal()
    bar = progress(total=5, desc="x", file=terminal)
    assert isinstance(bar, tqdm)
    bar.update(5)
    bar.close()
    assert "5/5" in terminal.getvalue()
    quiet = io.StringIO()
    with progress(total=5, file=quiet, enabled=False) as bar:
        bar.update(5)
    assert quiet.getvalue() == ""


def test_verify_reports_progress_in_samples(synth_ih26m_shards):
    result = CliRunner().invoke(main, ["verify", str(synth_ih26m_shards / "val")])
    assert result.exit_code == 0, result.output
    assert "verify val: " in result.output and "sample/s" in result.output and "all shards verify" in result.output


def test_eval_reports_progress_in_images(synth_ih26m_shards, tmp_path):
    result = CliRunner().invoke(main, ["eval", "--shards", str(synth_ih26m_shards.parents[1]), "--oracle",
                                       "--run-dir", str(tmp_path), "--vis", "0", "--batch-size", "8"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("eval val: ")]
    assert lines and "img/s" in lines[-1] and "(100%)" in lines[-1]


def test_entry_points_show_the_librarys_warnings_on_stderr_as_plain_lines():
    """The library logs (train: a snapshot passed over on --continue); the CLI and each torchrun worker call
    `show_warnings` first, so the line reaches the person running the job, as it is."""
    import subprocess
    import sys

    code = ("from interhand.progress import show_warnings; import logging; show_warnings(); "
            "logging.getLogger('interhand.train.run').warning('snapshot_3.pth.tar: unreadable checkpoint'); "
            "logging.getLogger('interhand.train.run').info('not shown')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr == "snapshot_3.pth.tar: unreadable checkpoint\n" and result.stdout == ""
