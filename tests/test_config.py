"""The config files' face: current field names, and the former ones still read as the fields they became."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interhand.config import (
    EvalConfig,
    LoaderConfig,
    PreprocessConfig,
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
