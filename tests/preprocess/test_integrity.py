"""A finished shard folder is exactly what its dataset.json says, or no reader accepts it.

One table of edits to a finished folder (what an accident or an attacker does), each with the line that
`interhand verify` must print; the edits that every reader must refuse when it opens the folder are checked
against both loaders and eval too. Every refusal is one line, never a traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from interhand.cli import main
from interhand.config import EVAL_LOADER, EvalConfig, LoaderConfig
from interhand.eval.predictions import PredictionFile, write_predictions
from interhand.eval.score_file import read_rows
from interhand.eval.split_folder import open_split
from interhand.loaders.build import build_loader
from interhand.manifests.read import read_errors, read_manifest
from interhand.manifests.write import write_errors, write_manifest
from interhand.preprocess import verify as verify_module
from interhand.preprocess.publish import SPEC_FILE, published_texts
from interhand.preprocess.tar_writer import ustar_header
from interhand.preprocess.verify import verify_shard_dir
from interhand.shard_format.ann_codec import ANN_FLOATS, ANN_LAYOUT
from interhand.shard_format.dataset_json import file_sha256, load_dataset_json
from interhand.shard_format.names import PUBLISHED_FILES, RECORDED_FILES
from interhand.shard_format.version import FORMAT_VERSION

_TAR = "val-000000.tar"


def _dataset(folder: Path) -> dict:
    return json.loads((folder / "dataset.json").read_text())


def _edit_dataset(folder: Path, change) -> None:
    dataset = _dataset(folder)
    change(dataset)
    (folder / "dataset.json").write_text(json.dumps(dataset, indent=1))


def _reseal(folder: Path) -> None:
    """What a forger who knows the format does after an edit: recompute every digest dataset.json records."""
    def change(dataset: dict) -> None:
        for name in RECORDED_FILES:
            dataset["files"][name] = {"bytes": (folder / name).stat().st_size, "sha256": file_sha256(folder / name)}
        for shard in dataset["shards"]:
            shard.update(bytes=(folder / shard["name"]).stat().st_size, sha256=file_sha256(folder / shard["name"]))
    _edit_dataset(folder, change)


def _edit_published(name: str, change):
    """`change` (text -> text) applied to one of the folder's published files, then SHA256SUMS recomputed over the
    folder as `sha256sum` would: what passes `sha256sum -c` and every digest check."""
    def edit(folder: Path) -> None:
        path = folder / name
        edited = change(path.read_text())
        assert edited != path.read_text()
        path.write_text(edited)
        lines = (folder / "SHA256SUMS").read_text().splitlines()
        (folder / "SHA256SUMS").write_text("".join(f"{file_sha256(folder / line[66:])}  {line[66:]}\n"
                                                   for line in lines))
    return edit


def _wids_shard_1_at_shard_0(text: str) -> str:
    index = json.loads(text)
    index["shardlist"][1]["url"] = index["shardlist"][0]["url"]
    return json.dumps(index, indent=1) + "\n"


def _edit_manifest(folder: Path, column: str, change) -> None:
    table = read_manifest(folder)
    values = table[column].to_pylist()
    values[0] = change(values[0])
    write_manifest(table.set_column(table.schema.get_field_index(column), column,
                                    pa.array(values, table.schema.field(column).type)), folder / "manifest.parquet")


def _rows_reversed(folder: Path) -> None:
    """The manifest's rows stored last to first (SHARD_FORMAT.md §5: shard order, then position), digests resealed."""
    table = read_manifest(folder)
    write_manifest(table.take(pa.array(range(table.num_rows - 1, -1, -1))), folder / "manifest.parquet")
    _reseal(folder)


def _joints_plus_100_mm(folder: Path) -> None:
    _edit_manifest(folder, "joints_cam_mm", lambda joints: [[value + 100 for value in joint] for joint in joints])


def _hand_type(folder: Path) -> None:
    _edit_manifest(folder, "hand_type", lambda hand: "left" if hand != "left" else "right")


def _forge_errors(folder: Path) -> None:
    errors = read_errors(folder).to_pylist()
    errors.append({"source_file": "x.json", "annotation_id": 7, "key": "", "capture": -1, "camera": "", "hand_type": "",
                   "stage": "annotation", "reason": "forged"})
    write_errors(errors, folder / "errors.parquet")


def _edit_ann(folder: Path, change, row_index: int = 0) -> None:
    """`change` (a float32 record, edited in place) applied to one sample's `.ann`, with its CRC in the manifest and
    all digests resealed."""
    row = read_manifest(folder).to_pylist()[row_index]
    path = folder / row["shard"]
    data = bytearray(path.read_bytes())
    record = np.frombuffer(bytes(data[row["ann_offset"]:row["ann_offset"] + row["ann_size"]]), "<f4").copy()
    assert record.size == ANN_FLOATS
    change(record)
    data[row["ann_offset"]:row["ann_offset"] + row["ann_size"]] = record.tobytes()
    path.write_bytes(bytes(data))
    _edit_manifest(folder, "ann_crc32", lambda _: zlib.crc32(record.tobytes()))
    _reseal(folder)


def _ann_of_another_version(folder: Path) -> None:
    """The first sample's `.ann` says format version 1."""
    _edit_ann(folder, lambda record: record.__setitem__(0, 1.0))


def _absent_hand_not_zeroed(folder: Path) -> None:
    """A right-hand sample's `.ann` gets a left wrist depth of 71.3 mm (what version 3 kept from the release)."""
    offset, _ = ANN_LAYOUT["joints_cam_mm"]
    row = read_manifest(folder, columns=["left_present"])["left_present"].to_pylist().index(0)
    _edit_ann(folder, lambda record: record.__setitem__(offset + 41 * 3 + 2, 71.3), row)


def _older_version(folder: Path) -> None:
    _edit_dataset(folder, lambda dataset: dataset.update(format_version=3))


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _symlinked_tar(folder: Path) -> None:
    outside = folder.parent / "outside.tar"
    (folder / _TAR).rename(outside)
    (folder / _TAR).symlink_to(outside)


def _manifest_shard_outside(folder: Path) -> None:
    _edit_manifest(folder, "shard", lambda _: "../outside.tar")
    _reseal(folder)


def _set_shard(key: str, value):
    return lambda folder: _edit_dataset(folder, lambda dataset: dataset["shards"][0].update({key: value}))


def _set_count(key: str, change):
    return lambda folder: _edit_dataset(
        folder, lambda dataset: dataset["counts"].update({key: change(dataset["counts"][key])}))


def _move_a_sample_between_shards(folder: Path) -> None:
    """dataset.json's per-shard counts changed so that their sum, and so `counts`, still hold."""
    def change(dataset: dict) -> None:
        dataset["shards"][0]["samples"] -= 1
        dataset["shards"][1]["samples"] += 1
    _edit_dataset(folder, change)


def _drop_last_shard_and_its_counts(folder: Path) -> None:
    """dataset.json lists 1 of its 2 shards and `counts` is cut to match: only the manifest still holds them all."""
    def change(dataset: dict) -> None:
        dropped = dataset["shards"].pop()
        dataset["counts"]["samples"] -= dropped["samples"]
        dataset["counts"]["input_annotations"] -= dropped["samples"]
        dataset["counts"]["shards"] -= 1
    _edit_dataset(folder, change)


def _symlinked_dataset_json(folder: Path) -> None:
    """dataset.json replaced by a symlink to an identical copy outside the folder."""
    outside = folder.parent / "outside-dataset.json"
    shutil.copyfile(folder / "dataset.json", outside)
    (folder / "dataset.json").unlink()
    (folder / "dataset.json").symlink_to(outside)


def _swap_index_entries(member: str):
    """The first two samples of val-000000.idx exchange their `member` entry's offset and size: both stay inside
    the tar and every count holds; tar, manifest and dataset.json untouched."""
    def edit(folder: Path) -> None:
        index = folder / "val-000000.idx"
        lines = index.read_text().splitlines()
        first, second = lines[1].split(), lines[2].split()
        at = first.index(member) + 1
        first[at:at + 2], second[at:at + 2] = second[at:at + 2], first[at:at + 2]
        index.write_text("\n".join([lines[0], " ".join(first), " ".join(second), *lines[3:]]) + "\n")
    return edit


def _set_index_offset(offset: str):
    """The first sample's first entry (its `.ann`) in val-000000.idx gets `offset`."""
    def edit(folder: Path) -> None:
        index = folder / "val-000000.idx"
        lines = index.read_text().splitlines()
        fields = lines[1].split()
        fields[1] = offset
        index.write_text("\n".join([lines[0], " ".join(fields), *lines[2:]]) + "\n")
    return edit


# (case, edit, what verify says). The folder-level cases (marked True) are refused by every reader at open.
TAMPER_CASES = [
    ("manifest content column +100 mm", _joints_plus_100_mm, "manifest.parquet: ", True),
    ("manifest hand_type", _hand_type, "manifest.parquet: ", True),
    ("manifest content column +100 mm, digests resealed", lambda f: (_joints_plus_100_mm(f), _reseal(f)),
     "manifest column joints_cam_mm of ih26m-val-", False),
    ("manifest hand_type, digests resealed", lambda f: (_hand_type(f), _reseal(f)), "manifest hand_type ", False),
    ("manifest byte flipped, same size", lambda folder: _flip_byte(folder / "manifest.parquet"),
     "manifest.parquet: SHA-256 differs", True),
    ("dataset.json samples count", _set_count("samples", lambda n: n + 1), "`counts` says tars: 2, samples: 49", True),
    ("dataset.json lists 1 of its 2 shards", lambda folder: _edit_dataset(folder, lambda d: d["shards"].pop()),
     "`shards` lists tars: 1, samples: 40; `counts` says tars: 2, samples: 48", True),
    ("dataset.json lists 1 of its 2 shards, counts cut to match", _drop_last_shard_and_its_counts,
     "counts samples = 40", True),
    ("manifest rows stored out of order, digests resealed", _rows_reversed, "manifest.parquet: row 0 is out of order",
     False),
    ("a sample moved between dataset.json's shards", _move_a_sample_between_shards, f"{_TAR} holds 39 samples",
     False),
    ("symlinked dataset.json", _symlinked_dataset_json, "dataset.json: a symlink or not a regular file", True),
    ("two samples' .ann entries swapped in the index", _swap_index_entries("ann"),
     "val-000000.idx: DALI index not matching the manifest", False),
    ("two samples' image entries swapped in the index", _swap_index_entries("jpg"),
     "val-000000.idx: DALI index not matching the manifest", False),
    ("dataset.json input count", _set_count("input_annotations", lambda n: n + 5), "counts input_annotations", False),
    ("errors.parquet deleted", lambda folder: (folder / "errors.parquet").unlink(), "errors.parquet: listed in", True),
    ("errors.parquet forged", _forge_errors, "errors.parquet: ", False),
    ("errors.parquet byte flipped, same size", lambda folder: _flip_byte(folder / "errors.parquet"),
     "errors.parquet: SHA-256 differs", False),
    ("errors.parquet forged, digests resealed", lambda f: (_forge_errors(f), _reseal(f)), "counts errors", False),
    ("unlisted extra tar", lambda folder: shutil.copyfile(folder / _TAR, folder / "val-000099.tar"),
     "val-000099.tar: not a file of this folder", False),
    (".ann of another format version", _ann_of_another_version,
     f"format_version 1 found, this code reads {FORMAT_VERSION}", False),
    ("an absent hand's value in the .ann, digests resealed", _absent_hand_not_zeroed,
     "breaks the absent-hand rule (hand_present from joint_valid_raw", False),
    ("a version-3 folder", _older_version,
     f"format_version 3 found, this code reads {FORMAT_VERSION}; re-run `interhand shards`", True),
    ("absurd per-shard count", _set_shard("samples", 10**12), "`shards` lists tars: 2, samples: 1000000000008", True),
    ("absolute shard name", _set_shard("name", "/etc/hostname"), "is not a plain file name", True),
    ("shard name with ..", _set_shard("name", "../val-000000.tar"), "is not a plain file name", True),
    ("shard name with a separator", _set_shard("index", "sub/val-000000.idx"), "is not a plain file name", True),
    ("symlinked tar", _symlinked_tar, "a symlink or not a regular file", True),
    ("a member's size 10**12 in the manifest, digests resealed",
     lambda folder: (_edit_manifest(folder, "json_size", lambda _: 10**12), _reseal(folder)),
     "size 1000000000000", False),
    ("truncated tar", lambda folder: os.truncate(folder / _TAR, (folder / _TAR).stat().st_size - 512),
     "bytes, dataset.json records", True),
    ("manifest shard column outside", _manifest_shard_outside, "is not a plain file name", False),
    ("run that failed --max-errors", lambda folder: _edit_dataset(folder, lambda d: d.update(complete=False)),
     "did not complete", True),
    ("dataset.json not JSON", lambda folder: (folder / "dataset.json").write_bytes(b"\xff{"), "not valid UTF-8 JSON",
     True),
    # The published files are derived from dataset.json: regenerated and compared, whatever SHA256SUMS says.
    ("croissant.json edited, SHA256SUMS recomputed",
     _edit_published("croissant.json", lambda text: text.replace('"sc:Float"', '"sc:Text"', 1)),
     "croissant.json: line ", False),
    ("the card's license edited, SHA256SUMS recomputed",
     _edit_published("README.md", lambda text: text.replace("license: cc-by-nc-4.0", "license: cc-by-4.0", 1)),
     "README.md: line 2 differs from the text dataset.json implies", False),
    ("shardindex.json points shard 1 at shard 0's tar, SHA256SUMS recomputed",
     _edit_published("shardindex.json", _wids_shard_1_at_shard_0), "shardindex.json: line ", False),
    ("the folder's format document says another unit, SHA256SUMS recomputed",
     _edit_published("SHARD_FORMAT.md", lambda text: text.replace(" mm", " cm", 1)),
     "SHARD_FORMAT.md: line ", False),
]


@pytest.fixture
def val_copy(tmp_path, ih26m_val_shards) -> Path:
    """A copy of the val shards laid out as eval looks for them: SHARDS/interhand26m/all/val."""
    copy = tmp_path / "shards" / "interhand26m" / "all" / "val"
    shutil.copytree(ih26m_val_shards, copy, ignore=shutil.ignore_patterns(".work"))
    assert _dataset(copy)["shards"][0]["name"] == _TAR
    return copy


def test_a_clean_folder_verifies_and_verify_prints_its_dataset_json_digest(val_copy):
    assert verify_shard_dir(val_copy) == []
    result = CliRunner().invoke(main, ["verify", str(val_copy)])
    assert result.exit_code == 0 and file_sha256(val_copy / "dataset.json") in result.output


def test_rows_out_of_order_are_named_and_every_shard_is_still_checked_in_position_order(val_copy):
    # verify streams the manifest a shard at a time when it is stored in order (#31: no Python object per row of a
    # 1.36 M-row train manifest); rows out of order are one problem, and the members, contents and indexes are
    # still checked shard by shard in position order, so nothing else is reported.
    _rows_reversed(val_copy)
    problems = verify_shard_dir(val_copy)
    assert problems[0].startswith("manifest.parquet: row 0 is out of order"), problems
    assert not [problem for problem in problems if ".tar" in problem or ".idx" in problem or "column" in problem
                or "hand_type" in problem or "holds" in problem]  # shard checks clean; the published files' digests
    # (SHA256SUMS, croissant.json's manifest digest) follow the resealed manifest and are reported, as they should be


def test_two_worker_processes_report_what_one_does_in_the_same_order(val_copy):
    # `verify --workers N` checks the shards in N processes; the problems of every shard come back in shard order.
    _swap_index_entries("ann")(val_copy)  # the first shard's index
    last = val_copy / _dataset(val_copy)["shards"][-1]["name"]
    _flip_byte(last)  # the last shard's bytes
    serial = verify_shard_dir(val_copy)
    assert len(serial) >= 2 and serial[0].startswith("val-000000.idx") and last.name in serial[-1]
    assert verify_shard_dir(val_copy, workers=2) == serial
    result = CliRunner().invoke(main, ["verify", str(val_copy), "--workers", "2"])
    assert result.exit_code == 1 and f"{len(serial)} problem(s)" in result.output


def _tar_edit(change):
    """`change` (the first shard's bytes -> new bytes) applied, then every digest resealed: only the walk through
    the tar can tell."""
    def edit(folder: Path) -> None:
        path = folder / _TAR
        path.write_bytes(change(path.read_bytes()))
        _reseal(folder)
        lines = (folder / "SHA256SUMS").read_text().splitlines()
        (folder / "SHA256SUMS").write_text("".join(f"{file_sha256(folder / line[66:])}  {line[66:]}\n"
                                                   for line in lines))
    return edit


def _member_added(data: bytes) -> bytes:
    """A member the manifest does not list, with the writer's own header, before the end-of-archive blocks."""
    end = len(data.rstrip(b"\0")) + (-len(data.rstrip(b"\0")) % 512)
    extra = ustar_header("val-999999.txt", 5) + b"hello" + bytes(507)
    return data[:end] + extra + data[end:]


def _header_mtime_changed(data: bytes) -> bytes:
    """The first member's header with another mtime (and its checksum): tarfile reads it as before."""
    header = bytearray(data[:512])
    header[136:148] = b"%011o\0" % 1234567
    header[148:156] = b" " * 8
    header[148:155] = b"%06o\0" % sum(header)
    return bytes(header) + data[512:]


def test_a_clean_shard_is_checked_in_one_pass_without_a_tar_walk(val_copy, monkeypatch):
    # #31: verify lays each shard out from its manifest rows and compares (2.2x faster than tarfile's walk); the
    # walk runs only where the bytes differ from that layout, to say what is there.
    def walk(*args):
        raise AssertionError("the tarfile walk ran on a clean shard")
    monkeypatch.setattr(verify_module, "_check_tar", walk)
    assert verify_shard_dir(val_copy) == []


@pytest.mark.parametrize("change, said", [
    (_member_added, f"{_TAR}: member val-999999.txt is not in the manifest"),
    (_header_mtime_changed, f"{_TAR}: every member reads as the manifest says, but the tar is not byte for byte"),
    (lambda data: data + bytes(512), f"{_TAR}: every member reads as the manifest says, but the tar is not byte for"),
])
def test_a_tar_not_laid_out_as_written_is_walked_and_named(val_copy, change, said):
    _tar_edit(change)(val_copy)
    problems = verify_shard_dir(val_copy)
    assert [problem for problem in problems if problem.startswith(_TAR)] == [problem for problem in problems
                                                                               if said in problem], problems
    assert any(said in problem for problem in problems), problems


@pytest.mark.parametrize("case, edit, said, at_open", TAMPER_CASES, ids=[case[0] for case in TAMPER_CASES])
def test_verify_catches_every_edit_in_one_line(val_copy, case, edit, said, at_open):
    edit(val_copy)
    result = CliRunner().invoke(main, ["verify", str(val_copy)])
    assert result.exit_code == 1 and said in result.output, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)  # click's exit, no error


@pytest.mark.parametrize("case, edit, said, at_open", [case for case in TAMPER_CASES if case[3]],
                         ids=[case[0] for case in TAMPER_CASES if case[3]])
def test_every_reader_refuses_a_folder_that_is_not_what_dataset_json_says(val_copy, case, edit, said, at_open):
    edit(val_copy)
    for backend in ("reference", "dali"):  # the check is before DALI builds a pipeline
        with pytest.raises((ValueError, FileNotFoundError), match=said) as raised:
            build_loader(val_copy, LoaderConfig(backend=backend, device="cpu", augment=False))
        assert "\n" not in str(raised.value)
    with pytest.raises((ValueError, FileNotFoundError), match=said):
        open_split(EvalConfig(shards=str(val_copy.parents[2]), split="val", root_source="gt"))


_PUBLISHED_EDITS = [case for case in TAMPER_CASES if "SHA256SUMS recomputed" in case[0]]


@pytest.mark.parametrize("case, edit, said, at_open", _PUBLISHED_EDITS, ids=[case[0] for case in _PUBLISHED_EDITS])
def test_an_edited_published_file_is_one_problem_naming_it(val_copy, case, edit, said, at_open):
    edit(val_copy)
    problems = verify_shard_dir(val_copy)
    assert len(problems) == 1 and problems[0].startswith(said.split(":")[0] + ": "), problems


def test_verify_regenerates_every_published_file(val_copy):
    assert set(published_texts(load_dataset_json(val_copy / "dataset.json"))) == {*PUBLISHED_FILES, SPEC_FILE}


def test_a_folder_without_its_format_document_is_one_problem_and_readers_do_not_care(val_copy):
    """A folder written before the format document travelled with it: verify names the missing file (and SHA256SUMS,
    which does not list it); loaders read it as before."""
    (val_copy / SPEC_FILE).unlink()
    sums = val_copy / "SHA256SUMS"
    sums.write_text("".join(line for line in sums.read_text().splitlines(keepends=True)
                            if not line.endswith(f"  {SPEC_FILE}\n")))
    assert verify_shard_dir(val_copy) == [
        f"{SPEC_FILE}: missing (a folder written before interhand wrote it; re-run `interhand shards` to rewrite it)",
        f"SHA256SUMS does not list {SPEC_FILE}"]
    assert len(build_loader(val_copy, LoaderConfig(backend="reference", augment=False))) > 0


def test_an_incomplete_run_is_read_only_when_accepted(val_copy):
    _edit_dataset(val_copy, lambda dataset: dataset.update(complete=False))
    loader = build_loader(val_copy, LoaderConfig(backend="reference", augment=False, accept_incomplete=True))
    assert len(loader) > 0
    assert CliRunner().invoke(main, ["verify", str(val_copy), "--accept-incomplete"]).output.count("did not") == 0
    open_split(EvalConfig(shards=str(val_copy.parents[2]), split="val", root_source="gt",
                              loader=replace(EVAL_LOADER, accept_incomplete=True)))


def test_eval_refuses_shards_of_another_dataset_and_an_empty_split(val_copy, stb_test_shards):
    wrong = val_copy.parents[2] / "interhand26m" / "all" / "test"
    shutil.copytree(stb_test_shards, wrong)
    with pytest.raises(ValueError, match="shards of stb/all/test, but eval was asked for interhand26m/all/test"):
        open_split(EvalConfig(shards=str(val_copy.parents[2]), split="test", root_source="gt"))
    _edit_dataset(val_copy, lambda dataset: (dataset.update(shards=[]), dataset["counts"].update(samples=0, shards=0)))
    write_manifest(read_manifest(val_copy).slice(0, 0), val_copy / "manifest.parquet")  # as many rows as counts says
    _reseal(val_copy)
    with pytest.raises(ValueError, match="the split has no samples"):
        open_split(EvalConfig(shards=str(val_copy.parents[2]), split="val", root_source="gt"))


def _first_key(folder: Path) -> str:
    return read_manifest(folder, columns=["key"])["key"][0].as_py()


# Edits of val-000000.idx alone (tar, manifest and dataset.json untouched), and what both loaders say when they open
# the folder: the index, its line and the sample.
INDEX_EDITS = [
    ("two samples' .ann entries swapped", _swap_index_entries("ann"), "has `ann "),
    ("two samples' image entries swapped", _swap_index_entries("jpg"), "has `jpg "),
    ("offset before the tar", _set_index_offset("-512"), "has `ann -512 "),
    ("offset past the tar", _set_index_offset(str(10**12)), f"has `ann {10**12} "),
    ("offset not an integer", _set_index_offset("12x"), "has `ann 12x "),
]


@pytest.mark.parametrize("case, edit, said", INDEX_EDITS, ids=[case[0] for case in INDEX_EDITS])
def test_both_loaders_refuse_an_index_that_is_not_the_manifests_naming_the_sample(val_copy, case, edit, said):
    edit(val_copy)
    expected = f"val-000000.idx: sample {_first_key(val_copy)} \\(line 2\\) {said}.* where the manifest has"
    for backend in ("reference", "dali"):  # at open: nothing is served, DALI never reads the index
        with pytest.raises(ValueError, match=expected) as raised:
            build_loader(val_copy, LoaderConfig(backend=backend, device="cpu", augment=False, threads=0))
        assert "\n" not in str(raised.value)


@pytest.mark.parametrize("offset", ["-512", str(10**12)])
def test_an_index_forged_with_its_manifest_still_never_reads_outside_the_tar(val_copy, offset):
    """Index, manifest and dataset.json's digests rewritten together (what `verify` cannot see either): the offsets
    agree, and each loader still refuses to read outside the tar."""
    _set_index_offset(offset)(val_copy)
    _edit_manifest(val_copy, "ann_offset", lambda _: int(offset))
    _reseal(val_copy)
    said = f"val-000000.idx: sample {_first_key(val_copy)}.ann at offset {offset} .* lies outside"
    with pytest.raises(ValueError, match=said):  # DALI would read it itself: checked first
        build_loader(val_copy, LoaderConfig(backend="dali", device="cpu", augment=False))
    loader = build_loader(val_copy, LoaderConfig(backend="reference", augment=False, threads=0))
    with pytest.raises(ValueError, match=said):  # when it first reads the tar
        next(iter(loader))


def _eval(val_copy: Path, run_dir: Path, *options: str):
    return CliRunner().invoke(main, ["eval", "--shards", str(val_copy.parents[2]), "--split", "val", "--oracle",
                                     "--root-source", "gt", "--run-dir", str(run_dir), "--loader-threads", "0",
                                     *options])


def _error_lines(output: str) -> list[str]:
    assert "Traceback" not in output, output
    return [line for line in output.splitlines() if line.startswith("Error:")]


_EVAL_REFUSALS = [
    ("two samples' .ann entries swapped in the index", _swap_index_entries("ann"), "val-000000.idx: sample "),
    ("dataset.json lists 1 of its 2 shards", lambda folder: _edit_dataset(folder, lambda d: d["shards"].pop()),
     "`shards` lists tars: 1, samples: 40"),
    ("dataset.json lists 1 of its 2 shards, counts cut to match", _drop_last_shard_and_its_counts,
     "manifest.parquet: 48 rows, but dataset.json's counts samples = 40"),
    ("a version-3 folder", _older_version, "format_version 3 found, this code reads 4; re-run `interhand shards`"),
]
_EVAL_REFUSAL_IDS = ["swapped index entries", "fewer shards than counts", "fewer shards, counts cut", "version 3"]


@pytest.mark.parametrize("case, edit, said", _EVAL_REFUSALS, ids=_EVAL_REFUSAL_IDS)
def test_eval_refuses_in_one_line_and_scores_nothing(val_copy, tmp_path, case, edit, said):
    edit(val_copy)
    result = _eval(val_copy, tmp_path / "run")
    errors = _error_lines(result.output)
    assert result.exit_code == 1 and len(errors) == 1 and said in errors[0], result.output
    assert not (tmp_path / "run" / "result").exists()


@pytest.mark.parametrize("case, edit, said", _EVAL_REFUSALS[1:], ids=_EVAL_REFUSAL_IDS[1:])
def test_score_refuses_in_one_line_and_scores_nothing(val_copy, tmp_path, case, edit, said):
    """A prediction file for every sample of the clean folder (the ground truth itself), scored after the edit."""
    path = _ground_truth_predictions(val_copy, tmp_path)
    edit(val_copy)
    result = _score(path, val_copy, tmp_path / "score")
    errors = _error_lines(result.output)
    assert result.exit_code == 1 and len(errors) == 1 and said in errors[0], result.output
    assert not (tmp_path / "score").exists()


def test_an_edited_index_stops_the_loaders_but_not_score_which_reads_the_manifest_alone(val_copy, tmp_path):
    """Scoring joins predictions to the manifest (its SHA-256 checked) and draws overlays from the manifest's offsets;
    it never reads an index, so it does not pay ~8 µs a sample to check them (#31); a loader still refuses."""
    path = _ground_truth_predictions(val_copy, tmp_path)
    _swap_index_entries("ann")(val_copy)
    result = _score(path, val_copy, tmp_path / "score")
    assert result.exit_code == 0 and not _error_lines(result.output), result.output
    config = EvalConfig(shards=str(val_copy.parents[2]), split="val", root_source="gt")
    folder = open_split(config, indexes=False)
    assert not folder.indexes_checked
    with pytest.raises(ValueError, match=f"val-000000.idx: sample {_first_key(val_copy)} \\(line 2\\)"):
        build_loader(folder, LoaderConfig(backend="reference", augment=False, threads=0))  # checked when served


def _ground_truth_predictions(folder: Path, tmp_path: Path) -> Path:
    rows = read_rows(folder)
    arrays = {"joints_cam_mm": rows["joints_cam_mm"], "hand_type_prob": np.ones((len(rows["key"]), 2))}
    return write_predictions(tmp_path / "p.parquet", PredictionFile(
        "", {"dataset": "interhand26m", "split": "val"}, list(rows["key"]), None, arrays, "camera"))


def _score(path: Path, folder: Path, out_dir: Path):
    return CliRunner().invoke(main, ["score", str(path), "--shards", str(folder.parents[2]), "--out-dir",
                                     str(out_dir), "--vis", "0"])


@pytest.mark.parametrize("name", ["../x", "../../../x", "a/b", "..", "/tmp/x"])
def test_eval_refuses_a_run_name_that_is_not_a_plain_name_and_writes_nothing(val_copy, tmp_path, name):
    before = sorted(tmp_path.rglob("*"))
    result = _eval(val_copy, tmp_path / "run", "--run-name", name)
    errors = _error_lines(result.output)
    assert result.exit_code == 2 and len(errors) == 1 and "must be a plain name" in errors[0], result.output
    assert sorted(tmp_path.rglob("*")) == before
