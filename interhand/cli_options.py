"""A generic dataclass → click adapter: one option per config field, and a config built back from the options.

`--help` shows each field's own help text and default, and a bad value is a `click.BadParameter` naming the
value and the allowed choices. The command line's vocabulary (which option name a field gets, which other
spellings it also accepts) is the caller's `flags` table; a field's former names come from the config itself
(`interhand.config.field_aliases`), so that config files and the command line accept the same old names.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import click

from interhand.config import config_from_dict, current_field_names

__all__ = ["Flag", "option", "config_options", "config_file_option", "build_config", "EXISTING_DIR", "EXISTING_FILE"]


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


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged.get(key) or {}, value) if isinstance(value, dict) else value
    return merged


def build_config(config_class: type, values: dict, config_file: Path | None = None, also_given: tuple[str, ...] = ()):
    """Construct a config from option values, turning its ValueError into a click error naming the field.

    With `config_file` (YAML or JSON, nested like the dataclasses), the file gives the values and only
    the options typed on the command line (and `also_given`) override it (timm's idea: file defaults, flags win).
    """
    context = click.get_current_context(silent=True)
    if config_file is not None and context is not None:
        given = {name: value for name, value in values.items() if name in also_given
                 or context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    else:
        given = values
    try:
        nested = _nest(config_class, given)
        if config_file is not None:
            import yaml

            loaded = yaml.safe_load(Path(config_file).read_text()) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{config_file}: expected a mapping of config fields")
            nested = _merge(current_field_names(config_class, loaded), nested)  # a file's old names too
        return config_from_dict(config_class, nested)
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


def config_file_option(config_class: type):
    """`--config FILE`: a YAML/JSON file of the job's config fields (nested like the dataclass), as a run's saved
    config.yaml or dataset.json's `config` holds them; options typed on the command line win."""
    return click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        help=f"YAML/JSON file of {config_class.__name__} fields, named and nested as in a run's "
                             "config.yaml; command-line options win")
