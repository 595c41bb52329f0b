"""A generic dataclass → click adapter: one option per config field, and a config built back from the options.

`--help` shows each field's own help text and default, and a bad value is a `click.BadParameter` naming the
value and the allowed choices. The command line's vocabulary (which option name a field gets, which other
spellings it also accepts) is the caller's `flags` table; a field's former names come from the config itself
(`interhand.config.field_aliases`), so that config files and the command line accept the same old names.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path

import click
import yaml

from interhand.config import check_field_values, config_from_dict, current_field_names

__all__ = ["Flag", "option", "config_options", "config_file_option", "build_config", "read_config_file",
           "ConfigFileError", "CONFIG_FILE_LIMIT", "EXISTING_DIR", "EXISTING_FILE"]

CONFIG_FILE_LIMIT = 2**20  # bytes of a --config file (docs/cli.md): the shipped ones are under 2 KB
_CONFIG_DEPTH_LIMIT = 16  # nesting of a --config file; a config's is 2 (train: loader: {...})


class _Option(click.Option):
    """An option that also accepts other spellings (our old names, the original repository's) without
    showing them in `--help` or in error messages: one documented name per concept."""

    def __init__(self, *args, aliases: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.aliases = set(aliases)

    def _shown(self, method, *args):
        opts, secondary = self.opts, self.secondary_opts
        self.opts = [opt for opt in opts if opt not in self.aliases]
        self.secondary_opts = [opt for opt in secondary if opt not in self.aliases]
        try:
            return method(*args)
        finally:
            self.opts, self.secondary_opts = opts, secondary

    def get_help_record(self, ctx):
        return self._shown(super().get_help_record, ctx)

    def get_error_hint(self, ctx) -> str:
        return self._shown(super().get_error_hint, ctx)


def option(*decls: str, aliases: tuple[str, ...] = (), **kwargs):
    """`click.option` whose `aliases` are accepted but hidden (flag aliases: '--old/--no-old')."""
    hidden = tuple(name for alias in aliases for name in alias.split("/"))
    return click.option(*decls, *aliases, cls=_Option, aliases=hidden, **kwargs)


@dataclasses.dataclass(frozen=True)
class Flag:
    """How one config field appears on the command line: its option name, hidden spellings, click type."""

    name: str
    aliases: tuple[str, ...] = ()
    type: object = None


EXISTING_DIR = click.Path(exists=True, file_okay=False)
EXISTING_FILE = click.Path(exists=True, dir_okay=False)


def _click_type(annotation: object) -> object:
    if typing.get_origin(annotation) is typing.Literal:
        return click.Choice([str(choice) for choice in typing.get_args(annotation)])
    return annotation if annotation in (int, float, str, bool) else str


def _options(config_class: type, prefix: str, exclude: tuple[str, ...], defaults=None, flag_prefix: str = "") -> list:
    """(parameter name, option name, type, default, help, alias options) per field. A nested config's fields are
    parameters `<field>_<subfield>` with options `--<field>-<subfield>`, or `--<subfield>` when the field's
    metadata says `flat` (TrainConfig.launch: --gpu). A field's former names (its `aliases` metadata, which
    config files also accept) are hidden options spelled alike (`--root`, nested `--loader-workers`). Defaults
    are those of `defaults` (an instance; a config's own defaults when None), so a nested config shows its
    field's default (eval's loader: batch 32)."""
    hints = typing.get_type_hints(config_class)
    defaults = config_class() if defaults is None else defaults
    options = []
    for spec in dataclasses.fields(config_class):
        if spec.name in exclude or prefix + spec.name in exclude:
            continue
        annotation = hints[spec.name]
        if dataclasses.is_dataclass(annotation):
            inner_flag_prefix = flag_prefix if spec.metadata.get("flat") else f"{flag_prefix}{spec.name}-"
            options += _options(annotation, f"{prefix}{spec.name}_", exclude, getattr(defaults, spec.name),
                                inner_flag_prefix)
            continue
        names = (spec.name, *spec.metadata.get("aliases", ()))
        spelled = ["--" + (flag_prefix + name).replace("_", "-") for name in names]
        options.append((prefix + spec.name, spelled[0], annotation, getattr(defaults, spec.name),
                        spec.metadata.get("help", ""), tuple(spelled[1:])))
    return options


def config_options(config_class: type, exclude: tuple[str, ...] = (), flags: dict | None = None):
    """Decorator: one option per dataclass field (help and default from the field).

    The option's name comes from `flags` (field or flattened nested field → Flag: the command line's
    vocabulary), else `--field-name`; fields that are configs themselves become `--<field>-<subfield>` options
    (e.g. `--model-resnet-type`), or keep the subfield's own name when flat (`--gpu`, of `launch`). The Flag's
    aliases and the field's former names are accepted but hidden. Empty-string defaults are not shown (the help
    says what empty means).
    """
    flags = flags or {}

    def decorate(command):
        for name, option_name, annotation, default, help_text, former in reversed(_options(config_class, "", exclude)):
            flag = flags.get(name) or Flag(option_name)
            decl = flag.name
            aliases = tuple(alias for alias in dict.fromkeys((*flag.aliases, *former)) if alias != decl)
            if annotation is bool and "/" not in decl:
                decl = f"{decl}/--no-{decl[2:]}"
                aliases = tuple(f"{alias}/--no-{alias[2:]}" for alias in aliases)
            command = option(decl, name, aliases=aliases, type=flag.type or _click_type(annotation),
                             default=None if default == "" else default,  # None: not given, the field's default
                             show_default=default != "", help=help_text)(command)
        return command

    return decorate


def _nest(config_class: type, values: dict, prefix: str = "") -> dict:
    """Flat option values (`model_resnet_type`) → nested dicts ({"model": {"resnet_type": ...}})."""
    hints = typing.get_type_hints(config_class)
    nested = {}
    for spec in dataclasses.fields(config_class):
        if dataclasses.is_dataclass(hints[spec.name]):
            inner = _nest(hints[spec.name], values, f"{prefix}{spec.name}_")
            if inner:
                nested[spec.name] = inner
        elif values.get(prefix + spec.name) is not None:
            nested[spec.name] = values[prefix + spec.name]
    return nested


class ConfigFileError(click.ClickException):
    """A --config file that cannot be used: one line naming it, exit status 2 like a bad option (no usage text:
    the fault is in the file)."""

    exit_code = 2


class _ConfigLoader(yaml.SafeLoader):
    """YAML's safe loader (no tag builds a Python object: `!!python/...` is an error) that also refuses aliases
    (`*name`: a few hundred bytes of nested aliases expand to gigabytes), a key given twice, nesting deeper than
    _CONFIG_DEPTH_LIMIT, and reads `1e-4` as a float, as YAML 1.2 and JSON do (YAML 1.1 would read a string)."""

    _depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, f"alias *{event.anchor}: config files take no aliases; "
                                              "write the value out", event.start_mark)
        if self._depth >= _CONFIG_DEPTH_LIMIT:
            raise yaml.composer.ComposerError(None, None, f"nested more than {_CONFIG_DEPTH_LIMIT} levels deep",
                                              self.peek_event().start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        mapping = super().construct_mapping(node, deep)
        if len(mapping) < len(node.value):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node)
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"{key!r} given twice", key_node.start_mark)
                seen.add(key)
        return mapping


_ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float",
                                    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                                    list("-+0123456789"))


def _unique_members(pairs: list) -> dict:
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise ValueError(f"{twice[0]!r} given twice")
    return dict(pairs)


def read_config_file(path: Path) -> dict:
    """A --config file's mapping (YAML, or JSON when named *.json), or ConfigFileError: one line naming the
    file, and for a syntax error, a tag, an alias or a key given twice, its line and column. Files over
    CONFIG_FILE_LIMIT bytes are refused before they are parsed."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(CONFIG_FILE_LIMIT + 1)
    except OSError as error:
        raise ConfigFileError(f"{path}: cannot read the config file ({error.strerror or error})") from None
    if len(data) > CONFIG_FILE_LIMIT:
        raise ConfigFileError(f"{path}: a config file is at most {CONFIG_FILE_LIMIT} bytes (1 MiB); "
                                   "this one is larger")
    try:
        text = data.decode("utf-8")
        if Path(path).suffix.lower() == ".json":
            loaded = json.loads(text, object_pairs_hook=_unique_members)
        else:
            loaded = yaml.load(text, Loader=_ConfigLoader)  # _ConfigLoader is a SafeLoader
    except UnicodeDecodeError as error:
        raise ConfigFileError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except json.JSONDecodeError as error:
        raise ConfigFileError(f"{path}, line {error.lineno}, column {error.colno}: {error.msg}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        said = "; ".join(part for part in (error.context, error.problem) if part)
        raise ConfigFileError(f"{path}, line {mark.line + 1}, column {mark.column + 1}: {said}") from None
    except yaml.YAMLError as error:  # ReaderError: a control character
        raise ConfigFileError(f"{path}: {' '.join(str(error).split())}") from None
    except (ValueError, RecursionError) as error:  # a key given twice (JSON), a 5000-digit integer, deep JSON
        said = "nested too deeply" if isinstance(error, RecursionError) else " ".join(str(error).split())
        raise ConfigFileError(f"{path}: {said}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigFileError(f"{path}: expected a mapping of config fields, found a {type(loaded).__name__}")
    return loaded


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged.get(key) or {}, value) if isinstance(value, dict) else value
    return merged


def build_config(config_class: type, values: dict, config_file: Path | None = None, also_given: tuple[str, ...] = ()):
    """Construct a config from option values, turning its ValueError into a click error naming the field.

    With `config_file` (YAML or JSON, nested like the dataclasses; `read_config_file`), the file gives the values
    and only the options typed on the command line (and `also_given`) override it (timm's idea: file defaults,
    flags win). An error the file causes by itself (it cannot be read, a value has the wrong type, the values it
    gives are refused without any option) is one line naming the file (ConfigFileError, exit 2); one an
    option causes, a click.BadParameter (exit 2).
    """
    context = click.get_current_context(silent=True)
    if config_file is not None and context is not None:
        given = {name: value for name, value in values.items() if name in also_given
                 or context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    else:
        given = values
    nested = _nest(config_class, given)
    if config_file is not None:
        try:
            loaded = current_field_names(config_class, read_config_file(config_file))  # a file's old names too
            check_field_values(config_class, loaded)  # before the merge, so that the error names the file
        except ValueError as error:
            raise ConfigFileError(f"{config_file}: {error}") from None
        nested = _merge(loaded, nested)
    try:
        return config_from_dict(config_class, nested)
    except ValueError as error:
        if config_file is not None and str(error) == _refusal(config_class, loaded):
            raise ConfigFileError(f"{config_file}: {error}") from None
        raise click.BadParameter(str(error)) from error


def _refusal(config_class: type, values: dict) -> str | None:
    """What config_from_dict says of `values` alone (a config file's), None when it builds."""
    try:
        config_from_dict(config_class, values)
    except ValueError as error:
        return str(error)
    return None


def config_file_option(config_class: type):
    """`--config FILE`: a YAML/JSON file of the job's config fields (nested like the dataclass), as a run's saved
    config.yaml or dataset.json's `config` holds them; options typed on the command line win."""
    return click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        help=f"YAML/JSON file of {config_class.__name__} fields, named and nested as in a run's "
                             "config.yaml; command-line options win")
