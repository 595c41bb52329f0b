"""`interhand compare` over a run folder holding metrics.json files that are not an evaluation's (#28): one line
naming the file, exit code 1, no traceback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from interhand.cli import main

GOOD = {"split": "val", "checkpoint": "oracle", "mpjpe": {"all": 2.4, "single": 2.3, "interacting": 2.5},
        "mrrpe": 3.1, "handedness_accuracy": 1.0}

CASES = {
    "{}": ("{}", "not an evaluation's metrics.json"),
    "not JSON": ("{'mpjpe': ", "not readable JSON"),
    "not UTF-8": (b"\xff\xfe{}", "not readable JSON"),
    "a list": ("[1, 2]", "a JSON list"),
    "mpjpe without all": (json.dumps({**GOOD, "mpjpe": {"single": 2.0}}), "not an evaluation's metrics.json"),
    "a string as a figure": (json.dumps({**GOOD, "mrrpe": "3.1"}), "mrrpe not a number or null"),
    "true as MPJPE": (json.dumps({**GOOD, "mpjpe": {**GOOD["mpjpe"], "all": True}}), "mpjpe.all not a number"),
    "deeply nested": ("[" * 100_000 + "]" * 100_000, "not readable JSON"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_metrics_json_that_is_not_an_evaluations_is_one_line_naming_it(case, tmp_path):
    content, message = CASES[case]
    (tmp_path / "result" / "good").mkdir(parents=True)
    (tmp_path / "result" / "good" / "metrics.json").write_text(json.dumps(GOOD))
    path = tmp_path / "result" / "bad" / "metrics.json"
    path.parent.mkdir()
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(main, ["compare", str(tmp_path)])
    output = result.output.strip()
    assert result.exit_code == 1 and "Traceback" not in output and len(output.splitlines()) == 1, output
    assert str(path) in output and message in output, output


def test_good_metrics_are_still_compared(tmp_path):
    (tmp_path / "result" / "good").mkdir(parents=True)
    (tmp_path / "result" / "good" / "metrics.json").write_text(json.dumps(GOOD))
    result = CliRunner().invoke(main, ["compare", str(tmp_path)])
    assert result.exit_code == 0 and "good" in result.output and "2.40" in result.output
