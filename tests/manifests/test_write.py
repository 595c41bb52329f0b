"""The finished Parquet files are written a piece at a time (#31): `write_tables` holds one row group, never the
file's rows, and writes what one `pq.write_table` of the whole table would hold."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interhand.manifests import write


def test_pieces_are_written_in_whole_row_groups_and_read_back_as_the_whole_table(tmp_path, monkeypatch):
    monkeypatch.setattr(write, "ROW_GROUP_ROWS", 7)
    schema = pa.schema([pa.field("key", pa.string(), nullable=False), pa.field("value", pa.int64(), nullable=False)])
    whole = pa.table({"key": [f"k{i}" for i in range(18)], "value": list(range(18))}, schema=schema)
    pieces = [whole.slice(0, 3), whole.slice(3, 10), whole.slice(13, 0), whole.slice(13, 5)]
    path = write.write_tables(iter(pieces), tmp_path / "m.parquet", schema)
    metadata = pq.ParquetFile(path).metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [7, 7, 4]
    assert pq.read_table(path).equals(whole)
    assert write.write_tables([], tmp_path / "empty.parquet", schema).read_bytes() == \
        write.write_table(schema.empty_table(), tmp_path / "one_call.parquet", schema).read_bytes()


def test_a_null_in_a_required_column_of_any_piece_is_refused_and_no_file_is_left(tmp_path):
    schema = pa.schema([pa.field("value", pa.int64(), nullable=False)])
    pieces = [pa.table({"value": [1, 2]}), pa.table({"value": pa.array([3, None], pa.int64())})]
    with pytest.raises(ValueError, match="column value has 1 null value"):
        write.write_tables(pieces, tmp_path / "m.parquet", schema)
    assert list(tmp_path.iterdir()) == []
