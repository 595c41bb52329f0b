"""dataset.json: one type, written and read by `interhand.shard_format.dataset_json`."""

from __future__ import annotations

import json
import re

import pytest

from interhand.shard_format.dataset_json import load_dataset_json, read_dataset_json
from interhand.shard_format.names import DATASET_FILE


def test_a_written_dataset_json_reads_back_to_its_own_bytes(real_test_shards, synth_stb_shards):
    for folder in (real_test_shards, synth_stb_shards / "test"):
        record = read_dataset_json(folder)
        assert record.to_json() == (folder / DATASET_FILE).read_text()
        assert record.counts.samples == sum(shard.samples for shard in record.shards) > 0


def _delete(*path):
    def edit(record):
        for key in path[:-1]:
            record = record[key]
        del record[path[-1]]
    return edit


def _set(value, *path):
    def edit(record):
        for key in path[:-1]:
            record = record[key]
        record[path[-1]] = value
    return edit


DAMAGES = [
    (_delete("counts"), "`counts` is missing or not of type dict"),
    (_set("7", "counts", "samples"), "`counts.samples` is missing or not of type int"),
    (_set(-1, "counts", "errors"), "`counts.errors` is negative"),
    (_set(1, "complete"), "`complete` is missing or not of type bool"),
    (_set(True, "parts"), "`parts` is missing or not of type int"),
    (_set("0.1", "max_errors"), "`max_errors` is missing or not of type int or float"),
    (_delete("shards", 0, "sha256"), "`shards[0].sha256` is missing or not of type str"),
    (_set(None, "files", "manifest.parquet", "bytes"), "`files.manifest.parquet.bytes` is missing"),
    (_delete("files", "errors.parquet"), "`files` must record manifest.parquet, errors.parquet"),
]


@pytest.mark.parametrize("edit, said", DAMAGES, ids=[said for _, said in DAMAGES])
def test_a_key_missing_or_of_another_type_is_refused_in_one_line_naming_the_file(tmp_path, real_test_shards, edit,
                                                                                   said):
    record = json.loads((real_test_shards / DATASET_FILE).read_text())
    edit(record)
    path = tmp_path / DATASET_FILE
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f"^{path}: .*{re.escape(said)}.*damaged dataset.json") as raised:
        load_dataset_json(path)
    assert "\n" not in str(raised.value)

