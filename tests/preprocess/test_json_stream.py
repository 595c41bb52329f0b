"""The streaming JSON walker decodes exactly what json.load does, whatever the chunk boundaries."""

from __future__ import annotations

import json

import pytest

from interhand.preprocess.json_stream import JsonStream, JsonStructureError, iter_array_items, iter_object_items

DOCUMENT = {"images": [{"id": i, "file_name": f"image{i}.jpg", "w": 334.125} for i in range(20)],
            "info": {"year": 2020, "note": "ü, \"quoted\""}, "annotations": [[1, 2.5e3, -7], [], {}, 123456789]}


@pytest.mark.parametrize("chunk_chars", [1, 7, 64, 1 << 20])
def test_walking_objects_and_arrays_decodes_every_value_at_any_chunk_size(tmp_path, chunk_chars):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps(DOCUMENT, indent=2, ensure_ascii=False), encoding="utf-8")
    decoded = {}
    with JsonStream(path, chunk_chars=chunk_chars) as stream:
        for key in stream.object():
            decoded[key] = list(iter_array_items(stream)) if key != "info" else dict(iter_object_items(stream))
    assert decoded == DOCUMENT


def test_a_truncated_file_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(json.dumps(DOCUMENT)[:-40])
    with pytest.raises(JsonStructureError, match="cut.json"):
        with JsonStream(path, chunk_chars=16) as stream:
            for key in stream.object():
                list(iter_array_items(stream)) if key != "info" else stream.skip()


def test_a_malformed_value_fails_without_reading_the_rest_of_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('[{"id": 1}, {"id": 2,, "x": 0}, ' + ", ".join(['{"id": 3}'] * 5000) + "]")
    with JsonStream(path, chunk_chars=64, max_value_chars=256) as stream:
        items = iter_array_items(stream)
        assert next(items) == {"id": 1}
        with pytest.raises(JsonStructureError, match="bad.json.*invalid or truncated"):
            next(items)
        assert stream._consumed + len(stream._buffer) < 2000  # stopped early, not at the end of the file
