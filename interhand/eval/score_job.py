"""`interhand score`: score prediction files (anyone's model) on a split's shards, under several protocols.

For each file and each protocol (a named protocol of eval/protocols.py on a subset of frames: all test frames,
the H subset given by its annotation-id list, interacting frames only) it writes
OUT/<name>/<protocol>/{metrics.json, report.txt, per_sample.parquet} and the figures `interhand eval` draws,
computed by the same evaluator (eval/score_file.py) under the protocol's rules; then OUT/comparison.{txt,csv} (a row
per protocol and file) and one OUT/comparison_<protocol>.png putting the files side by side.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from interhand import __version__
from interhand.config import (
    EVAL_LOADER,
    EVAL_SPLITS,
    SINGLE_HAND_PROTOCOLS,
    TRAIN_DATASETS,
    EvalConfig,
    PreprocessConfig,
    ScoreConfig,
    current_field_names,
)
from interhand.eval.plots import figure_title, write_figures
from interhand.eval.prediction_readers import split_sample_bound
from interhand.eval.predictions import PredictionFile, PredictionFileError, read_predictions
from interhand.eval.protocols import ProtocolSelection, parse_selection
from interhand.eval.report import format_report
from interhand.eval.score_file import (
    SplitRows,
    match_rows,
    open_rows,
    protocol_mask,
    score_file,
)
from interhand.eval.score_tables import format_score_table, plot_score_comparison, score_table_csv
from interhand.eval.split_folder import open_split
from interhand.manifests.aid_list import parse_aid_list
from interhand.manifests.split_folder import SplitFolder
from interhand.outputs import make_folder, write_json, write_text
from interhand.runtime.folder_lock import run_folder_lock
from interhand.shard_format.dataset_json import DatasetJson
from interhand.shard_format.names import MANIFEST_FILE
from interhand.shard_format.version import FORMAT_VERSION

__all__ = ["ScoreTarget", "run", "read_prediction_files", "score_target", "parse_protocols"]


def parse_protocols(values: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Repeated and comma-separated protocol names → a tuple without repeats, in the given order."""
    names = [name.strip() for value in values for name in str(value).split(",") if name.strip()]
    return tuple(dict.fromkeys(names)) or ("all",)


def _resolved(config: ScoreConfig, files: list[PredictionFile]) -> tuple[str, str]:
    """(dataset, split): the ones asked for, else the files'; a file naming another is refused."""
    dataset = config.dataset or files[0].metadata["dataset"]
    split = config.split or files[0].metadata["split"]
    for predictions in files:
        named = (predictions.metadata["dataset"], predictions.metadata["split"])
        if named != (dataset, split):
            raise PredictionFileError(f"{predictions.path}: predictions for {'/'.join(named)}, but scoring "
                                      f"{dataset}/{split} (refused: they would be scored against other frames)")
    if dataset not in TRAIN_DATASETS or split not in EVAL_SPLITS:
        raise PredictionFileError(f"{files[0].path}: dataset {dataset!r} / split {split!r} are not ones the shards "
                                  f"hold ({', '.join(TRAIN_DATASETS)} / {', '.join(EVAL_SPLITS)})")
    return dataset, split


def _root_source(config: ScoreConfig, predictions: PredictionFile, selection: ProtocolSelection | None = None) -> str:
    """The image_relative form's wrist depths: --root-source, else the protocol's (mmpose, interwild: gt), else the
    file's, else RootNet (the original's)."""
    protocol_default = selection.protocol.root_depth_default if selection is not None else None
    return config.root_source or protocol_default or predictions.metadata.get("root_source") or "rootnet"


def _human_ids(config: ScoreConfig, shard_dir: Path, dataset: DatasetJson, split: str) -> set[int] | None:
    """The H-subset annotation ids (None: every sample of human_annot shards is in it)."""
    subset = dataset.subset
    if subset == "human_annot":
        return None
    if subset == "machine_annot":
        raise ValueError(f"{shard_dir}: machine_annot shards hold no H-subset sample; "
                         "score the all or human_annot shards")
    if config.aid_list:
        path = Path(config.aid_list)
    else:
        recorded = str(current_field_names(PreprocessConfig, dataset.config).get("data", ""))  # before #32: `root`
        if not config.data and os.sep not in recorded.rstrip(os.sep):  # since #29 the folder's name alone, no path
            raise ValueError(f"--protocol human_annot needs the H-subset id list, aid_human_annot_{split}.txt of the "
                             f"dataset folder, which {shard_dir}/dataset.json names only ({recorded!r}): pass --data "
                             "DATASET_FOLDER or --aid-list FILE (annotation ids, one per line)")
        path = Path(config.data or recorded) / f"aid_human_annot_{split}.txt"
        if not path.is_file():
            raise ValueError(f"--protocol human_annot needs the H-subset id list: {path} does not exist; pass "
                             "--aid-list FILE (annotation ids, one per line) or --data DATASET_FOLDER")
    if not path.is_file():
        raise ValueError(f"annotation id list not found: {path}")
    return parse_aid_list(path)


_COMPARISON_FILE = re.compile(r"comparison(\.txt|\.csv|_\w+\.png)")  # _write_comparison's names


def _labels(files: list[PredictionFile]) -> list[str]:
    """One folder-safe name per file: its `name`, else its stem; where those repeat, the file name, then the
    parent folder and the file name."""
    def named(default):
        return [re.sub(r"[^A-Za-z0-9._-]+", "_", predictions.metadata.get("name") or default(Path(predictions.path)))
                .strip("._") or "predictions" for predictions in files]

    for default in (lambda path: path.stem, lambda path: path.name, lambda path: f"{path.parent.name}_{path.name}"):
        labels = named(default)
        if len(set(labels)) == len(labels):
            taken = [label for label in labels if _COMPARISON_FILE.fullmatch(label)]
            if taken:  # OUT/<label>/ would take the name of the side-by-side table (or figure) OUT/<label>
                raise PredictionFileError(f"a prediction file is named {taken[0]!r}, the name of the side-by-side "
                                          f"file OUT/{taken[0]}; give it another `name` in its metadata")
            return labels
    raise PredictionFileError(f"two prediction files have the same name ({', '.join(labels)}); give each a "
                              "distinct `name` in its metadata")


@dataclass
class ScoreTarget:
    """Checked prediction files and the shards they are for."""

    files: list[PredictionFile]
    dataset: str
    annot_subset: str
    split: str


def read_prediction_files(config: ScoreConfig, paths: list[Path]) -> ScoreTarget:
    """Read and check the files; the dataset, subset and split to score (asked for, else the files')."""
    bound = split_sample_bound(paths, config.shards, config.dataset, config.annot_subset, config.split)
    files = [read_predictions(Path(path), bound) for path in paths]  # no file inflates more than its split holds
    dataset, split = _resolved(config, files)
    if dataset != "interhand26m" and set(config.protocols) - set(SINGLE_HAND_PROTOCOLS):
        raise ValueError(f"protocols {list(config.protocols)}: only {', '.join(SINGLE_HAND_PROTOCOLS)} apply to "
                         f"{dataset} (the others are InterHand2.6M's)")
    return ScoreTarget(files, dataset, config.annot_subset or files[0].metadata.get("annot_subset") or "all", split)


def run(config: ScoreConfig, paths: list[Path]) -> dict[str, dict[str, dict]]:
    """Score every file under every protocol; returns {name: {protocol: metrics.json content}}."""
    return score_target(config, read_prediction_files(config, paths))


def score_target(config: ScoreConfig, target: ScoreTarget) -> dict[str, dict[str, dict]]:
    """`run` on files already read (`read_prediction_files`)."""
    files, dataset, annot_subset, split = target.files, target.dataset, target.annot_subset, target.split
    selections = {protocol: parse_selection(protocol) for protocol in config.protocols}
    roots = {_root_source(config, predictions, selection) for predictions in files for selection in selections.values()
             if predictions.form == "image_relative"}
    eval_config = EvalConfig(dataset=dataset, shards=config.shards, annot_subset=annot_subset, split=split,
                             root_source="rootnet" if "rootnet" in roots else "gt", run_dir=config.out_dir,
                             loader=replace(EVAL_LOADER, accept_incomplete=config.accept_incomplete))
    split_folder = open_split(eval_config, indexes=False)  # scoring reads the manifest, never an index
    with run_folder_lock(Path(config.out_dir), "score", "another --out-dir"):  # one scoring job per output folder
        return _score_locked(config, target, split_folder, selections)


def _score_locked(config: ScoreConfig, target: ScoreTarget, split_folder: SplitFolder,
                  selections: dict[str, ProtocolSelection]) -> dict[str, dict[str, dict]]:
    files, dataset, annot_subset, split = target.files, target.dataset, target.annot_subset, target.split
    shard_dir = split_folder.path
    rows = open_rows(shard_dir)  # the ground truth is read a chunk at a time, by score_file
    human, masks = _protocol_masks(config, split_folder, rows, split)
    results: dict[str, dict[str, dict]] = {}
    for label, predictions in zip(_labels(files), files):
        row_index = match_rows(predictions, rows, str(shard_dir / MANIFEST_FILE))
        results[label] = {}
        for protocol, mask in masks.items():
            selection = selections[protocol]
            folder = Path(config.out_dir) / label / selection.folder
            make_folder(folder, within=config.out_dir)
            metrics, per_sample, overlay_rows = score_file(predictions, rows, row_index, mask, dataset,
                                                           _root_source(config, predictions, selection), selection,
                                                           folder / "per_sample.parquet")
            metrics.update(_identity(predictions, dataset, annot_subset, split, selection, shard_dir))
            if selection.subset == "human_annot" and human is not None:
                metrics["counts"]["human_ids_not_in_shards"] = len(human) - int(mask.sum())
            write_json(folder / "metrics.json", metrics, indent=1, sort_keys=True)
            write_text(folder / "report.txt", _report(metrics, label))
            write_figures(_without_empty_groups(metrics), per_sample, overlay_rows, shard_dir, folder,
                          figure_title(f"{label}, protocol {protocol}: {metrics['counts']['samples']} of "
                                       f"{metrics['counts']['protocol_samples']} samples predicted", metrics),
                          config.vis, dataset)
            results[label][protocol] = metrics
    _write_comparison(Path(config.out_dir), results)
    return results


def _protocol_masks(config: ScoreConfig, split_folder: SplitFolder, rows: SplitRows, split: str
                    ) -> tuple[set | None, dict]:
    """(the H-subset ids or None, {protocol: (rows,) bool}); a protocol that selects no sample is an error."""
    shard_dir = split_folder.path
    subsets = {protocol: parse_selection(protocol).subset for protocol in config.protocols}
    human = _human_ids(config, shard_dir, split_folder.dataset, split) if "human_annot" in subsets.values() else None
    every = np.ones(len(rows["hand_type"]), dtype=bool)
    masks = {protocol: every if subsets[protocol] == "human_annot" and human is None
             else protocol_mask(protocol, rows, human) for protocol in config.protocols}
    for protocol, mask in masks.items():
        if not mask.any():
            what = "interacting frame" if subsets[protocol] == "interacting" else "annotation id of the list"
            raise ValueError(f"{shard_dir}: protocol {protocol} selects none of its {len(mask)} samples (no {what})")
    return human, masks


def _without_empty_groups(metrics: dict) -> dict:
    """metrics for the figures: without the per-joint bars of a group the protocol has no sample of (the
    single-hand group of the interacting protocol)."""
    if "mpjpe_per_joint" not in metrics:
        return metrics
    return {**metrics, "mpjpe_per_joint": {group: table for group, table in metrics["mpjpe_per_joint"].items()
                                           if metrics["counts"].get(f"{group}_samples", 1)}}


def _identity(predictions: PredictionFile, dataset: str, annot_subset: str, split: str, selection: ProtocolSelection,
              shard_dir: Path) -> dict:
    return {"dataset": dataset, "annot_subset": annot_subset, "split": split, "protocol": selection.label,
            "protocol_definition": selection.definition(),
            "checkpoint": predictions.metadata.get("source") or predictions.path, "predictions": predictions.path,
            "form": predictions.form, "shards": str(shard_dir), "shard_format_version": FORMAT_VERSION,
            "package_version": __version__}


def _report(metrics: dict, label: str) -> str:
    """eval's report, its first line (speed) replaced by what was scored and what was missing."""
    counts = metrics["counts"]
    missing = counts["missing_predictions"]
    head = (f"{label}: {metrics['dataset']} {metrics['annot_subset']} {metrics['split']}, protocol "
            f"{metrics['protocol']}: {counts['samples']} of {counts['protocol_samples']} samples scored"
            + (f"; {missing} WITHOUT a prediction, left out of every figure (e.g. "
               f"{', '.join(metrics['missing_prediction_keys'])})" if missing else "")
            + f"; {metrics['form']} form from {metrics['predictions']}"
            + (f" ({metrics['checkpoint']})" if metrics["checkpoint"] != metrics["predictions"] else "")
            + f", root depth: {metrics['root_source']}")
    body = format_report(metrics, 0.0, counts["samples"]).split("\n", 1)[1]
    notes = "".join(f"{name} not scored: {why}\n" for name, why in metrics.get("not_scored", {}).items())
    definition = "".join(f"  {field}: {text}\n" for field, text in metrics["protocol_definition"].items())
    return head + "\n" + notes + body.rstrip("\n") + f"\n\nprotocol {metrics['protocol']}:\n" + definition


def _write_comparison(out_dir: Path, results: dict[str, dict[str, dict]]) -> None:
    write_text(out_dir / "comparison.txt", format_score_table(results))
    write_text(out_dir / "comparison.csv", score_table_csv(results))
    protocols = list(dict.fromkeys(protocol for by_protocol in results.values() for protocol in by_protocol))
    for protocol in protocols:
        plot_score_comparison({label: by_protocol[protocol] for label, by_protocol in results.items()},
                              out_dir / f"comparison_{parse_selection(protocol).folder}.png")
