"""The `interhand` command. Each command builds its config and calls one `run` function.

Options are generated from the config dataclasses, so `--help` shows each field's own help text and
defaults, and a bad value is a `click.BadParameter` naming the value and the allowed choices.
Heavy modules (torch, DALI) are imported inside the commands so that `--help` stays instant.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path

import click

from interhand import __version__
from interhand.config import SynthConfig

__all__ = ["main"]


def _click_type(annotation: object) -> object:
    if typing.get_origin(annotation) is typing.Literal:
        return click.Choice([str(choice) for choice in typing.get_args(annotation)])
    return annotation if annotation in (int, float, str, bool) else str


def config_options(config_class: type, exclude: tuple[str, ...] = ()):
    """Decorator: one `--field-name` option per dataclass field (help and default from the field)."""

    def decorate(command):
        hints = typing.get_type_hints(config_class)
        for spec in reversed(dataclasses.fields(config_class)):
            if spec.name in exclude:
                continue
            flag = "--" + spec.name.replace("_", "-")
            annotation = hints[spec.name]
            if annotation is bool:
                flag = f"{flag}/--no-{spec.name.replace('_', '-')}"
            command = click.option(flag, spec.name, type=_click_type(annotation), default=spec.default,
                                   show_default=True, help=spec.metadata.get("help", ""))(command)
        return command

    return decorate


def build_config(config_class: type, values: dict):
    """Construct a config, turning its ValueError into a click error that names the field."""
    names = {spec.name for spec in dataclasses.fields(config_class)}
    try:
        return config_class(**{key: value for key, value in values.items() if key in names})
    except ValueError as error:
        raise click.BadParameter(str(error)) from error


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="interhand")
def main() -> None:
    """3D interacting hand pose on InterHand2.6M, STB and RHD: synthetic data, shards, loaders,
    InterNet training and evaluation."""


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@config_options(SynthConfig)
@click.option("--overwrite", is_flag=True, help="replace OUT if it already exists")
def synth(out: Path, overwrite: bool, **values) -> None:
    """Write a synthetic dataset to OUT, byte for byte in the real on-disk format.

    OUT plays the role of the original repository's data/<dataset> folder: for InterHand2.6M it gets
    images/, annotations/ (v1.0 and/or v0.0 layout), rootnet_output/ and the H-subset id lists;
    for STB and RHD, data/ (parsed COCO json, PNG images, skeleton.txt) and rootnet_output/.
    Frames are rendered from the 3D joints (two articulated hands, depth-tested) through each camera.
    """
    from interhand.synth.run import run

    config = build_config(SynthConfig, values)
    summary = run(config, out, overwrite=overwrite)
    click.echo(summary)


@main.command("contact-sheet")
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", default="train", show_default=True, help="split to draw (STB/RHD: train or test)")
@click.option("--count", default=12, show_default=True, type=click.IntRange(1, 200), help="frames to draw")
@click.option("--columns", default=4, show_default=True, type=click.IntRange(1, 20), help="frames per row")
@click.option("--seed", default=0, show_default=True, help="which frames are picked")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="PNG file to write")
def contact_sheet(root: Path, split: str, count: int, columns: int, seed: int, out_path: Path) -> None:
    """Draw frames of a dataset in its on-disk format with their annotations (skeleton, bbox, hand type).

    ROOT is a dataset folder (InterHand2.6M v1.0 layout, STB or RHD, as `interhand synth` writes
    them or as released). Annotations are read back from the files, so the sheet shows what a loader sees.
    """
    from interhand.synth.contact_sheet import write_contact_sheet

    try:
        path = write_contact_sheet(root, split, count=count, columns=columns, seed=seed, out_path=out_path)
    except (FileNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"wrote {path}")


# --- model commands (model issue) ---


def _parse_bbox(context, parameter, value: str) -> tuple[float, float, float, float]:
    try:
        numbers = tuple(float(part) for part in value.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != 4 or numbers[2] <= 0 or numbers[3] <= 0:
        raise click.BadParameter(f"{value!r} is not x,y,w,h: four numbers, original-image px, w and h > 0")
    return numbers


@main.command()
@click.option("--checkpoint", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="our checkpoint or the original repository's snapshot_N.pth.tar")
@click.option("--image", "image_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="input image")
@click.option("--bbox", required=True, callback=_parse_bbox,
              help="hand box x_min,y_min,width,height in image px (squared and enlarged x1.25 as the original)")
@click.option("--out", "out_dir", default=Path("."), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="folder for result_2d.png and result_3d.png")
@click.option("--device", default="cpu", show_default=True, help="torch device, e.g. cpu or cuda:0")
def predict(checkpoint: Path, image_path: Path, bbox: tuple, out_dir: Path, device: str) -> None:
    """Run InterNet on one hand box of one image (the original demo).

    Writes the 2D skeleton overlay and a 3D plot (x, y in image px, z in mm relative to the right wrist,
    left hand offset by the predicted root depth) and prints the joints as one JSON object.
    """
    import json

    from interhand.model.predict import run

    try:
        result = run(checkpoint, image_path, bbox, out_dir, device=device)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(result))




if __name__ == "__main__":
    main()
