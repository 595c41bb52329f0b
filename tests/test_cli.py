"""The `interhand` command: help on every subcommand, config errors that name the field."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import SynthConfig


def test_every_subcommand_has_help_text():
    runner = CliRunner()
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        first_line = " ".join(command.help.split("\n")[0].split())
        assert first_line and first_line in " ".join(result.output.split())


def test_synth_help_shows_the_config_fields_own_help():
    result = CliRunner().invoke(main, ["synth", "--help"])
    assert "--frames" in result.output and "time frames per split" in result.output
    assert "[default: 48]" in result.output


def test_bad_dataset_name_lists_the_valid_choices(tmp_path):
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "x"), "--dataset", "freihand"])
    assert result.exit_code == 2
    assert "interhand26m" in result.output and "stb" in result.output and "rhd" in result.output


def test_out_of_range_value_names_the_field(tmp_path):
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "x"), "--human-fraction", "2"])
    assert result.exit_code == 2 and "human_fraction" in result.output


def test_config_validation_raises_value_error_naming_the_field():
    with pytest.raises(ValueError, match="layout='v2'"):
        SynthConfig(layout="v2")
    with pytest.raises(ValueError, match="frames=0"):
        SynthConfig(frames=0)


def test_synth_and_contact_sheet_commands_run_end_to_end(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["synth", str(tmp_path / "rhd"), "--dataset", "rhd", "--frames", "3"])
    assert result.exit_code == 0, result.output
    assert "training 3" in result.output or "training" in result.output
    sheet = tmp_path / "sheet.png"
    result = runner.invoke(main, ["contact-sheet", str(tmp_path / "rhd"), "--split", "train", "--out", str(sheet)])
    assert result.exit_code == 0, result.output
    assert sheet.stat().st_size > 1000


def test_contact_sheet_on_a_missing_split_is_one_clear_error(tmp_path, synth_stb_root):
    result = CliRunner().invoke(main, ["contact-sheet", str(synth_stb_root), "--split", "val", "--out", str(tmp_path / "s.png")])
    assert result.exit_code == 1
    assert "STB_val.json not found" in result.output and "Traceback" not in result.output
