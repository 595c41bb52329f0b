"""The `interhand` command: help on every subcommand, config errors that name the field."""

from __future__ import annotations

from pathlib import Path

import click
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
    result = CliRunner().invoke(main, ["contact-sheet", str(synth_stb_root), "--split", "val",
                                       "--out", str(tmp_path / "s.png")])
    assert result.exit_code == 1
    assert "STB has no val split; it has train, test" in result.output and "Traceback" not in result.output


# --- one vocabulary ---

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_tables() -> tuple[list[list[str]], list[list[str]]]:
    """(subcommand rows, concept rows) of README's "One name per concept" section, cells stripped."""
    text = README.read_text().split("## One name per concept", 1)[1].split("\n## ", 1)[0]
    tables, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip("|").split("|")])
        elif current:
            tables.append([row for row in current[2:]])  # header and rule dropped
            current = []
    assert len(tables) == 2, "expected the subcommand table and the concept table"
    return tables[0], tables[1]


def _names(command) -> tuple[set[str], set[str], set[str]]:
    """(options shown in --help, hidden spellings, argument metavars) of a click command."""
    shown, hidden, arguments = set(), set(), set()
    for parameter in command.params:
        if isinstance(parameter, click.Argument):
            arguments.add(parameter.make_metavar(click.Context(command)) if parameter.metavar
                          else parameter.name.upper())
            continue
        aliases = getattr(parameter, "aliases", set())
        for opt in parameter.opts + parameter.secondary_opts:
            (hidden if opt in aliases else shown).add(opt)
    return shown, hidden, arguments


def test_readme_subcommand_table_is_the_cli():
    rows, _ = _readme_tables()
    listed = {row[0].strip("`"): row[1] for row in rows}
    assert set(listed) == set(main.commands)
    for name, command in main.commands.items():
        assert listed[name] == command.get_short_help_str(limit=200), name


def test_readme_concept_table_is_the_cli():
    _, rows = _readme_tables()
    every_alias, every_name = set(), set()
    for concept, name, commands, aliases in rows:
        name = name.strip("`")
        every_name.add(name)
        aliases = {alias.strip("` ") for alias in aliases.split(",") if alias.strip()}
        every_alias |= aliases
        accepted = set()
        for command_name in (part.strip() for part in commands.split(",")):
            shown, hidden, arguments = _names(main.commands[command_name])
            assert name in (shown if name.startswith("--") else arguments), (concept, command_name)
            assert not aliases & shown, (concept, command_name, aliases & shown)
            accepted |= hidden
        assert aliases <= accepted, (concept, aliases - accepted)
    for command_name, command in main.commands.items():
        shown, _, _ = _names(command)
        # no old spelling is still documented anywhere, unless it is now another concept's name (--out, --workers)
        assert not shown & (every_alias - every_name), (command_name, shown & every_alias)


def test_no_help_shows_an_empty_default():
    runner = CliRunner()
    for name in main.commands:
        output = runner.invoke(main, [name, "--help"], terminal_width=200).output
        assert '[default: ""]' not in output and "[default: ]" not in output, name


def _parse(command: str, args: list[str]) -> dict:
    return main.commands[command].make_context(command, args).params


def test_the_originals_spellings_are_hidden_aliases():
    params = _parse("eval", ["--annot_subset", "machine_annot", "--test_epoch", "7", "--test_set", "test"])
    assert (params["annot_subset"], params["test_epoch"], params["split"]) == ("machine_annot", 7, "test")
    help_text = CliRunner().invoke(main, ["eval", "--help"]).output
    assert "--annot-subset" in help_text and "--annot_subset" not in help_text and "--test_set" not in help_text
    assert _parse("train", ["--gpu", "0-3", "--annot_subset", "human_annot"])["launch_gpu"] == "0-3"


def test_the_launch_config_keeps_its_own_option_names_and_nests_in_a_config_file(tmp_path):
    """LaunchConfig is flat on the command line (--gpu, --nnodes, ...) and `launch:` in a config file."""
    from interhand.cli import build_config
    from interhand.config import EvalConfig, TrainConfig

    for command in ("train", "eval"):
        shown, _, _ = _names(main.commands[command])
        assert {"--gpu", "--cpu-processes", "--nnodes", "--node-rank", "--master-addr", "--master-port"} <= shown
        assert not any(name.startswith("--launch") for name in shown)
    with main.commands["train"].make_context("train", ["--nnodes", "2", "--node-rank", "1"]) as context:
        config = build_config(TrainConfig, dict(context.params))
    assert (config.launch.nnodes, config.launch.node_rank, config.launch.gpu) == (2, 1, "")
    config_file = tmp_path / "eval.yaml"
    config_file.write_text('launch: {gpu: "0-3", cpu_processes: 2}\n')
    with main.commands["eval"].make_context("eval", ["--cpu-processes", "3"]) as context:
        config = build_config(EvalConfig, dict(context.params), config_file)
    assert (config.launch.gpu, config.launch.cpu_processes) == ("0-3", 3)  # the file, then the command line
    result = CliRunner().invoke(main, ["train", "--nnodes", "2", "--node-rank", "2"])
    assert result.exit_code == 2 and "node_rank=2" in result.output
    config_file.write_text('gpu: "0-3"\nworkers: 0\n')  # the spelling of files written before the nesting
    result = CliRunner().invoke(main, ["eval", "--config", str(config_file)])
    said = " ".join(result.output.split())
    assert result.exit_code == 2 and "launch: {gpu: ...}" in said and "loader: {workers: ...}" in said


def test_old_spellings_still_work():
    params = _parse("shards", ["--root", ".", "--subset", "human_annot", "--out", "x"])
    assert (params["data"], params["annot_subset"], params["shards"]) == (".", "human_annot", "x")
    params = _parse("eval", ["--root", "gt", "--output", "run", "--workers", "3", "--backend", "reference",
                             "--loader-accept-incomplete"])
    assert (params["root_source"], params["run_dir"], params["loader_threads"], params["loader_backend"],
            params["loader_accept_incomplete"]) == ("gt", "run", 3, "reference", True)
    params = _parse("train", ["--loader-batch-size", "4", "--loader-workers", "0", "--output", "run"])
    assert (params["loader_batch_size"], params["loader_threads"], params["run_dir"]) == (4, 0, "run")
    params = _parse("preview-batch", [".", "--out", "x.png", "--workers", "1", "--loader-workers", "2"])
    assert params["threads"] == 2


def test_a_fields_former_name_is_a_hidden_option_of_every_command_that_has_the_field():
    """The CLI's hidden old spellings of renamed fields come from the config's own aliases (one table)."""
    from interhand.config import EvalConfig, LoaderConfig, PreprocessConfig, TrainConfig, field_aliases

    for command, config_class, prefix in (("shards", PreprocessConfig, ""), ("train", TrainConfig, ""),
                                          ("eval", EvalConfig, ""), ("train", LoaderConfig, "loader-"),
                                          ("preview-batch", LoaderConfig, "")):
        shown, hidden, _ = _names(main.commands[command])
        for alias in field_aliases(config_class):
            assert f"--{prefix}{alias}".replace("_", "-") in hidden, (command, alias)


def test_eval_and_train_share_the_loader_options_with_evals_own_defaults():
    """EvalConfig nests a LoaderConfig: the same option names as train, eval's defaults (batch 32, unaugmented)."""
    from interhand.cli import build_config
    from interhand.config import EvalConfig, config_from_dict

    train_shown, _, _ = _names(main.commands["train"])
    eval_shown, _, _ = _names(main.commands["eval"])
    loader_options = {"--batch-size", "--loader-threads", "--loader-backend", "--loader-device",
                      "--accept-incomplete", "--loader-roi-decode"}
    assert loader_options <= train_shown and loader_options <= eval_shown
    assert not {"--loader-augment", "--loader-box", "--loader-seed", "--loader-shuffle-buffer"} & eval_shown
    with main.commands["eval"].make_context("eval", ["--root-source", "gt", "--loader-threads", "0"]) as context:
        config = build_config(EvalConfig, dict(context.params))
    loader = config.loader
    assert (loader.batch_size, loader.threads, loader.augment, loader.box) == (32, 0, False, "gt")
    from_file = config_from_dict(EvalConfig, {"loader": {"threads": 1}})
    assert (from_file.loader.batch_size, from_file.loader.augment, from_file.loader.box) == (32, False, "rootnet")
    with pytest.raises(ValueError, match="loader.augment=True"):
        config_from_dict(EvalConfig, {"loader": {"augment": True}})


def test_a_folder_given_as_root_source_says_where_folders_go(tmp_path):
    result = CliRunner().invoke(main, ["eval", "--root", str(tmp_path)])
    assert result.exit_code == 2 and "--root-source" in result.output and "--data" in result.output


def test_train_given_a_split_folder_says_which_shards_root_to_use(synth_ih26m_shards, tmp_path):
    shards_root = synth_ih26m_shards.parents[1]  # the fixture is <root>/interhand26m/all
    result = CliRunner().invoke(main, ["train", "--shards", str(synth_ih26m_shards / "train"),
                                       "--run-dir", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert f"--shards {shards_root}" in " ".join(result.output.split())
    result = CliRunner().invoke(main, ["eval", "--shards", str(shards_root), "--annot-subset", "machine_annot",
                                       "--run-dir", str(tmp_path / "run"), "--oracle"])
    assert result.exit_code == 2 and "interhand26m/all/val" in result.output and "interhand shards" in result.output
    result = CliRunner().invoke(main, ["train", "--shards", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_shards_data_folder_mistakes_say_what_to_do(tmp_path, synth_stb_root):
    runner = CliRunner()
    result = runner.invoke(main, ["shards", "--data", str(tmp_path / "missing"), "--shards", str(tmp_path / "s")])
    assert result.exit_code == 2 and "does not exist" in result.output
    result = runner.invoke(main, ["shards", "--data", str(tmp_path), "--shards", str(tmp_path / "s")])
    assert result.exit_code == 2 and "no annotations/ folder" in result.output and "Traceback" not in result.output
    result = runner.invoke(main, ["shards", "--data", str(synth_stb_root), "--dataset", "stb", "--annot-subset",
                                  "human_annot", "--shards", str(tmp_path / "s")])
    assert result.exit_code == 2 and "InterHand2.6M's" in result.output
    result = runner.invoke(main, ["eval", "--annot-subset", "human_annot", "--split", "val"])
    assert result.exit_code == 2 and "no human-annotated (H) val split" in " ".join(result.output.split())


def test_train_has_one_seed_from_the_command_line_or_the_config_file(tmp_path):
    from interhand.cli import train_config

    command = main.commands["train"]
    with command.make_context("train", ["--seed", "7"]) as context:
        assert train_config(dict(context.params)).loader.seed == 7
    config_file = tmp_path / "run.yaml"
    config_file.write_text("seed: 5\n")
    with command.make_context("train", []) as context:
        assert train_config(dict(context.params), config_file).loader.seed == 5
    config_file.write_text("seed: 5\nloader:\n  seed: 3\n")
    with command.make_context("train", []) as context:
        assert train_config(dict(context.params), config_file).loader.seed == 3
    with command.make_context("train", ["--seed", "9"]) as context:
        config = train_config(dict(context.params), config_file)
        assert (config.seed, config.loader.seed) == (9, 9)


def test_shards_and_eval_read_a_config_file_and_the_command_line_wins(synth_ih26m_root, synth_ih26m_shards, tmp_path):
    """Every job has a file face: `--config` on shards and eval as on train, with the dataclass field names."""
    import json

    import yaml

    runner = CliRunner()
    shards_file = tmp_path / "shards.yaml"
    shards_file.write_text(yaml.safe_dump({"data": str(synth_ih26m_root), "shards": str(tmp_path / "shards"),
                                           "split": "val", "shard_samples": 7}))
    result = runner.invoke(main, ["shards", "--config", str(shards_file), "--shard-samples", "5"])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "shards" / "interhand26m" / "all" / "val" / "dataset.json").read_text())
    assert (written["config"]["split"], written["config"]["shard_samples"]) == ("val", 5)  # file, then command line

    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text(yaml.safe_dump({"shards": str(synth_ih26m_shards.parent.parent),
                                         "run_dir": str(tmp_path / "run"),
                                         "split": "train", "root_source": "gt", "oracle": True, "vis": 0,
                                         "loader": {"threads": 0}}))
    result = runner.invoke(main, ["eval", "--config", str(eval_file), "--split", "test"])
    assert result.exit_code == 0, result.output
    assert "interhand26m all test" in result.output and "oracle" in result.output
    assert [path.name for path in (tmp_path / "run" / "result").iterdir()] == ["interhand26m_all_test_gt_oracle"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("no_such_field: 1\n")
    result = runner.invoke(main, ["eval", "--config", str(bad)])
    assert result.exit_code != 0 and "no_such_field" in result.output and "Traceback" not in result.output
