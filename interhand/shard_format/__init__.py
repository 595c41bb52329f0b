"""The one package behind SHARD_FORMAT.md: every byte layout and every name of a shard folder lives here.

The shard writer, the verifier, the loaders and the tests call it and never pack or unpack bytes themselves.
One module per concept; import a name from the module that holds it:

- `version`       FORMAT_VERSION and the check every reader makes of it (§6)
- `names`         the split folder's path (`split_dir`), sample keys, shard, index and member names, the folder's
                  other files (§1, §3)
- `sample`        the data model: `Sample` (one joined annotation) and `SampleInfo` (its scalar fields)
- `ann_codec`     the `.ann` member: layout, `encode_ann_records`, `decode_ann` (§4)
- `records`       the `.json` member and the manifest's content columns, `encode_sample` / `decode_sample` (§4.2, §5)
- `dali_index`    the index beside each tar (§1); `json_numbers` prints the `.json` record's numbers
- `dataset_json`  a split folder's record and the check every reader opens a folder with (§1)

Re-exported here are only the format's front door, what a first reader of a shard folder needs: the version and
its check, the data model (`Sample`), where a split folder lies (`split_dir`) and one sample's round trip
(`encode_sample` / `decode_sample`). The package's own modules and the rest of `interhand` import from the
submodules.
"""

from interhand.shard_format.names import split_dir
from interhand.shard_format.records import decode_sample, encode_sample
from interhand.shard_format.sample import Sample
from interhand.shard_format.version import FORMAT_VERSION, check_format_version

__all__ = ["FORMAT_VERSION", "check_format_version", "Sample", "split_dir", "encode_sample", "decode_sample"]
