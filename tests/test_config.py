"""The config files' face: current field names, and the former ones still read as the fields they became."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interhand.config import (
    EvalConfig,
    LaunchConfig,
    LoaderConfig,
    ModelConfig,
    PreprocessConfig,
    ScoreConfig,
    SynthConfig,
    TrainConfig,
    config_from_dict,
    config_to_dict,
    current_field_names,
    field_aliases,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# The same job written with today's names and with the names config files had before (issue #32's renaming).
NEW_AND_OLD = [
    (PreprocessConfig, "data: /d\nannot_subset: machine_annot\nshards: /s\nsplit: val\n",
     "root: /d\nsubset: machine_annot\nout: /s\nsplit: val\n"),
    (TrainConfig, "run_dir: /r\nepochs: 3\nloader: {threads: 0, batch_size: 4}\n",
     "output: /r\nepochs: 3\nloader: {workers: 0, batch_size: 4}\n"),
    (EvalConfig, "run_dir: /r\nroot_source: gt\nloader: {threads: 1}\n",
     "output: /r\nroot: gt\nloader: {workers: 1}\n"),
]


def test_the_renamed_fields_have_their_former_names_as_aliases():
    assert field_aliases(PreprocessConfig) == {"root": "data", "subset": "annot_subset", "out": "shards"}
    assert field_aliases(EvalConfig) == {"root": "root_source", "output": "run_dir"}
    assert field_aliases(TrainConfig) == {"output": "run_dir"}
    assert field_aliases(LoaderConfig) == {"workers": "threads"}


@pytest.mark.parametrize("config_class, new, old", NEW_AND_OLD, ids=lambda value: getattr(value, "__name__", ""))
def test_an_old_key_yaml_file_gives_the_same_config_as_the_new_key_one(config_class, new, old, tmp_path):
    from_new = config_from_dict(config_class, yaml.safe_load(new))
    from_old = config_from_dict(config_class, yaml.safe_load(old))
    assert from_old == from_new and from_new != config_class()
    saved = config_to_dict(from_new)  # a saved config.yaml is written with today's names and reads back the same
    assert set(saved).isdisjoint(field_aliases(config_class))
    assert config_from_dict(config_class, yaml.safe_load(yaml.safe_dump(saved))) == from_new


def test_the_cli_reads_an_old_key_config_file_as_the_new_key_one_and_its_options_still_win(tmp_path):
    from interhand.cli import main
    from interhand.cli_options import build_config

    for config_class, new, old, command in [(*NEW_AND_OLD[2], "eval"), (*NEW_AND_OLD[1], "train")]:
        configs = []
        for text in (new, old):
            path = tmp_path / "run.yaml"
            path.write_text(text)
            with main.commands[command].make_context(command, ["--run-dir", "/given"]) as context:
                configs.append(build_config(config_class, dict(context.params), path))
        assert configs[0] == configs[1] and configs[0].run_dir == "/given"


@pytest.mark.parametrize("config_class, values, said", [
    (PreprocessConfig, {"root": "/a", "data": "/b"}, "PreprocessConfig: both 'root' and its new name 'data' given"),
    (EvalConfig, {"loader": {"workers": 1, "threads": 2}}, "LoaderConfig: both 'workers' and its new name 'threads'"),
])
def test_a_field_given_under_both_names_is_refused_in_one_line(config_class, values, said):
    with pytest.raises(ValueError, match=said) as raised:
        config_from_dict(config_class, values)
    assert "\n" not in str(raised.value)


def test_a_recorded_config_reads_with_todays_names_in_the_same_order():
    recorded = {"dataset": "stb", "root": "/d", "subset": "all", "split": "test", "out": "/s"}
    assert list(current_field_names(PreprocessConfig, recorded).items()) == [
        ("dataset", "stb"), ("data", "/d"), ("annot_subset", "all"), ("split", "test"), ("shards", "/s")]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.name)
def test_the_shipped_config_files_use_todays_names(path):
    values = yaml.safe_load(path.read_text())
    assert current_field_names(TrainConfig, values) == values
    config_from_dict(TrainConfig, values)


# --- one parsing of config values (#28): every bad value or file is one line naming the field or the file's line ---

# (command, config class, config file, what the line says after "FILE: "): a value of the wrong type, or out of range.
BAD_VALUES = [
    ("train", TrainConfig, 'epochs: "3"\n', "epochs='3' is not an integer"),
    ("train", TrainConfig, "epochs: 1.5\n", "epochs=1.5 is not an integer"),
    ("train", TrainConfig, "epochs: true\n", "epochs=True is not an integer"),
    ("train", TrainConfig, "loader: 5\n", "loader=5 is not a mapping of LoaderConfig fields"),
    ("train", TrainConfig, "lr: fast\n", "lr='fast' is not a number"),
    ("train", TrainConfig, "lr: .nan\n", "lr=nan is not a finite number"),
    ("train", TrainConfig, 'loader: {augment: "no"}\n', "loader.augment='no' is not a boolean"),
    ("train", TrainConfig, "loader: {batch_size: 0}\n", "loader.batch_size=0 must be at least 1"),
    ("train", TrainConfig, "model: {amp: 1}\n", "model.amp=1 is not a boolean"),
    ("train", TrainConfig, "launch: {gpu: 0}\n", "launch.gpu=0 is not a string (quote it: '0')"),
    ("train", TrainConfig, "seed: 100000000000000000000\n", "seed=100000000000000000000 is not a 64-bit integer"),
    ("train", TrainConfig, "seed: -1\n", "seed=-1 must be at least 0"),
    ("shards", PreprocessConfig, "max_errors: '0.5'\n", "max_errors='0.5' is not a number"),
    ("shards", PreprocessConfig, "workers: two\n", "workers='two' is not an integer"),
    ("shards", PreprocessConfig, "shard_size: .inf\n", "shard_size=inf is not a string"),
    ("shards", PreprocessConfig, "shard_size: inf\n", "shard_size='inf' is not a size like 1GB"),
    ("shards", PreprocessConfig, "split: [train]\n", "split=['train'] is not one of train, val, test"),
    ("shards", PreprocessConfig, "data: \"a\\0b\"\n", "data='a\\x00b' holds a NUL character"),
    ("eval", EvalConfig, 'oracle: "false"\n', "oracle='false' is not a boolean: write true or false, unquoted"),
    ("eval", EvalConfig, "vis: 8.0\n", "vis=8.0 is not an integer"),
]


def _invoke(arguments: list[str]):
    from click.testing import CliRunner

    from interhand.cli import main

    result = CliRunner().invoke(main, arguments)
    assert result.exit_code in (1, 2) and "Traceback" not in result.output, result.output
    return result


@pytest.mark.parametrize("command, config_class, text, said", BAD_VALUES, ids=[row[2].strip() for row in BAD_VALUES])
def test_a_value_of_the_wrong_type_or_range_in_a_config_file_is_one_line_naming_the_file_and_field(
        command, config_class, text, said, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = _invoke([command, "--config", str(path)])
    assert result.output.startswith(f"Error: {path}: {said}") and result.output.count("\n") == 1, result.output
    with pytest.raises(ValueError) as raised:  # in-process: the same line, without the file
        config_from_dict(config_class, yaml.safe_load(text))
    assert str(raised.value).startswith(said) and "\n" not in str(raised.value)


_ALIAS_BOMB = "".join(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n"
                      for previous, name in zip("abcdefgh", "bcdefghi")).replace("*a", '"x"') + "epochs: *i\n"

# (command, config file, what the one line says after "FILE"): files that are not a mapping of config values.
BAD_FILES = [
    ("train", "a: !!python/object/apply:os.system ['touch PWNED']\n",
     ", line 1, column 4: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply"),
    ("train", "a: !!python/name:os.system\n", ", line 1, column 4: could not determine a constructor for the tag"),
    ("eval", "a: !!python/object/new:os.system ['touch PWNED']\n", ", line 1, column 4: could not determine"),
    ("shards", "split: [train,\n", ", line 2, column 1: while parsing a flow node; expected the node content"),
    ("train", "loader:\n\tbatch_size: 1\n", ", line 2, column 1: while scanning for the next token; found character"),
    ("train", _ALIAS_BOMB, ", line 2, column 8: alias *b: config files take no aliases"),
    ("train", "epochs: 3\nlr: 0.1\nepochs: 4\n", ", line 3, column 1: 'epochs' given twice"),
    ("train", "[" * 1000, ", line 1, column 17: nested more than 16 levels deep"),
    ("train", "epochs: 3\n---\nepochs: 4\n", ", line 2, column 1: expected a single document in the stream"),
    ("eval", "- oracle: true\n", ": expected a mapping of config fields, found a list"),
    ("eval", "oracle: true\x00\n", ": unacceptable character #x0000"),
    ("train", "epochs: 1" + "0" * 5000 + "\n", ": Exceeds the limit (4300 digits)"),
    ("train", "epochs: 3\n" + "#" * (2**20), ": a config file is at most 1048576 bytes (1 MiB)"),
]


@pytest.mark.parametrize("command, text, said", BAD_FILES, ids=[row[2].split(": ")[-1][:40] for row in BAD_FILES])
def test_a_config_file_that_is_not_a_mapping_of_values_is_one_line_naming_the_file_and_line(
        command, text, said, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = _invoke([command, "--config", str(path)])
    assert result.output.startswith(f"Error: {path}{said}") and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "PWNED").exists()


def test_a_json_config_file_is_read_as_json_and_a_key_given_twice_is_refused(tmp_path):
    from interhand.cli_options import read_config_file

    path = tmp_path / "run.json"
    path.write_text('{\n\t"epochs": 3,\n\t"lr": 1e-4,\n\t"loader": {"augment": false}\n}\n')  # tabs: fine in JSON
    config = config_from_dict(TrainConfig, read_config_file(path))
    assert (config.epochs, config.lr, config.loader.augment) == (3, 1e-4, False)
    path.write_text('{"epochs": 3,\n "epochs": 4}')
    result = _invoke(["train", "--config", str(path)])
    assert result.output == f"Error: {path}: 'epochs' given twice\n"


def test_the_values_yaml_writes_unquoted_are_read_as_their_types(tmp_path):
    from interhand.cli_options import read_config_file

    path = tmp_path / "run.yaml"
    path.write_text("lr: 1e-4\nlr_dec_factor: 3\nloader: {augment: no, roi_decode: false}\nmodel: {sigma: 2}\n")
    config = config_from_dict(TrainConfig, read_config_file(path))
    assert (config.lr, config.loader.augment, config.loader.roi_decode) == (1e-4, False, False)
    assert type(config.lr_dec_factor) is float and type(config.model.sigma) is float  # an integer for a float: a float
    assert config_from_dict(EvalConfig, {"oracle": False}).oracle is False


# (arguments, what the error line says): the command line's values go through the same checks.
BAD_OPTIONS = [
    (["shards", "--shard-size", "inf"], "shard_size='inf' is not a size like 1GB, 500MB or 64MiB"),
    (["shards", "--shard-size", "1e400"], "shard_size='1e400' is not a size"),
    (["train", "--lr", "inf"], "lr=inf is not a finite number"),
    (["train", "--lr", "nan"], "lr=nan is not a finite number"),
    (["synth", "out", "--human-fraction", "nan"], "human_fraction=nan is not a finite number"),
    (["synth", "out", "--seed", "-1"], "seed=-1 must be at least 0"),
    (["eval", "--seed", "-2"], "seed=-2 must be at least 0"),
]


@pytest.mark.parametrize("arguments, said", BAD_OPTIONS, ids=[" ".join(row[0]) for row in BAD_OPTIONS])
def test_a_bad_command_line_value_is_one_error_line_naming_the_field(arguments, said, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = _invoke(arguments)
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert result.exit_code == 2 and len(errors) == 1 and errors[0].startswith(f"Error: Invalid value: {said}"), errors
    assert not (tmp_path / "out").exists()


def _wrong_value(annotation: object) -> object:
    """A value of another type than `annotation`: what every field must refuse."""
    import dataclasses
    import typing

    if dataclasses.is_dataclass(annotation) or typing.get_origin(annotation) is tuple:
        return 5
    return {bool: "false", int: "3", float: "fast", str: 5}.get(annotation, "not-a-choice")


@pytest.mark.parametrize("config_class", [SynthConfig, PreprocessConfig, ModelConfig, LoaderConfig, LaunchConfig,
                                          TrainConfig, EvalConfig, ScoreConfig], ids=lambda cls: cls.__name__)
def test_every_field_of_every_config_refuses_a_value_of_another_type_naming_itself(config_class):
    import dataclasses
    import typing

    hints = typing.get_type_hints(config_class)
    for spec in dataclasses.fields(config_class):
        value = _wrong_value(hints[spec.name])
        with pytest.raises(ValueError, match=f"^{spec.name}={value!r} is not "):
            config_from_dict(config_class, {spec.name: value})
        with pytest.raises(ValueError, match=f"^{spec.name}="):  # built in Python: the same check
            config_class(**{spec.name: value})


def test_the_choice_tuples_other_modules_use_are_the_choices_the_fields_check():
    import typing

    from interhand import config

    pairs = [(SynthConfig, "dataset", config.SYNTH_DATASETS), (SynthConfig, "layout", config.SYNTH_LAYOUTS),
             (PreprocessConfig, "dataset", config.PREPROCESS_DATASETS),
             (PreprocessConfig, "annot_subset", config.PREPROCESS_SUBSETS),
             (PreprocessConfig, "split", config.PREPROCESS_SPLITS),
             (PreprocessConfig, "layout", config.PREPROCESS_LAYOUTS),
             (PreprocessConfig, "jpeg", config.PREPROCESS_JPEG), (ModelConfig, "loss", config.HEATMAP_LOSSES),
             (ModelConfig, "init", config.BACKBONE_INITS), (LoaderConfig, "backend", config.LOADER_BACKENDS),
             (LoaderConfig, "device", config.LOADER_DEVICES), (LoaderConfig, "box", config.LOADER_BOXES),
             (TrainConfig, "dataset", config.TRAIN_DATASETS), (TrainConfig, "annot_subset", config.PREPROCESS_SUBSETS),
             (EvalConfig, "dataset", config.TRAIN_DATASETS), (EvalConfig, "split", config.EVAL_SPLITS),
             (EvalConfig, "root_source", config.EVAL_ROOTS), (EvalConfig, "baseline", config.EVAL_BASELINES),
             (EvalConfig, "annot_subset", config.PREPROCESS_SUBSETS)]
    for config_class, name, choices in pairs:
        assert typing.get_args(typing.get_type_hints(config_class)[name]) == choices, (config_class.__name__, name)
