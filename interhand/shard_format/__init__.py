"""The one package behind SHARD_FORMAT.md: every byte layout and every name of a shard folder lives here.

The shard writer, the verifier, the loaders and the tests call it and never pack or unpack bytes themselves.
One module per concept:

- `version`       FORMAT_VERSION and the check every reader makes of it (§6)
- `names`         the split folder's path (`split_dir`), sample keys, shard, index and member names, the folder's
                  other files (§1, §3)
- `sample`        the data model: `Sample` (one joined annotation) and `SampleInfo` (its scalar fields)
- `ann_codec`     the `.ann` member: layout, `encode_ann_records`, `decode_ann` (§4)
- `records`       the `.json` member and the manifest's content columns, `encode_sample` / `decode_sample` (§4.2, §5)
- `dali_index`    the index beside each tar (§1); `json_numbers` prints the `.json` record's numbers
- `dataset_json`  a split folder's record and the check every reader opens a folder with (§1)

The names most callers need are re-exported here.
"""

from interhand.shard_format.ann_codec import (
    ANN_BYTES,
    ANN_DTYPE,
    ANN_FIELDS,
    ANN_FLOATS,
    ANN_LAYOUT,
    decode_ann,
    decode_ann_records,
    encode_ann_records,
)
from interhand.shard_format.dali_index import dali_index_text, read_dali_index
from interhand.shard_format.names import (
    ANN_MEMBER,
    CARD_FILE,
    CHECKSUMS_FILE,
    CROISSANT_FILE,
    DATASET_FILE,
    ERRORS_FILE,
    IMAGE_MEMBERS,
    JSON_MEMBER,
    KEY_PREFIX,
    MANIFEST_FILE,
    MAX_ANNOTATION_ID,
    PUBLISHED_FILES,
    RECORDED_FILES,
    WIDS_INDEX_FILE,
    check_plain_file_name,
    index_name,
    sample_key,
    shard_name,
    split_dir,
)
from interhand.shard_format.records import (
    IMAGE_ENCODINGS,
    RECORD_FIELDS,
    RECORD_FROM_ANN,
    ann_values,
    decode_sample,
    encode_json_records,
    encode_sample,
    record_values,
)
from interhand.shard_format.sample import HAND_TYPES, Sample, SampleInfo
from interhand.shard_format.version import FORMAT_VERSION, FormatVersionError, check_format_version

__all__ = [  # the re-exports above, by module
    "ANN_BYTES", "ANN_DTYPE", "ANN_FIELDS", "ANN_FLOATS", "ANN_LAYOUT", "decode_ann", "decode_ann_records",
    "encode_ann_records",
    "dali_index_text", "read_dali_index",
    "ANN_MEMBER", "CARD_FILE", "CHECKSUMS_FILE", "CROISSANT_FILE", "DATASET_FILE", "ERRORS_FILE", "IMAGE_MEMBERS",
    "JSON_MEMBER", "KEY_PREFIX", "MANIFEST_FILE", "MAX_ANNOTATION_ID", "PUBLISHED_FILES", "RECORDED_FILES",
    "WIDS_INDEX_FILE", "check_plain_file_name", "index_name", "sample_key", "shard_name", "split_dir",
    "IMAGE_ENCODINGS", "RECORD_FIELDS", "RECORD_FROM_ANN", "ann_values", "decode_sample", "encode_json_records",
    "encode_sample", "record_values",
    "HAND_TYPES", "Sample", "SampleInfo",
    "FORMAT_VERSION", "FormatVersionError", "check_format_version",
]
