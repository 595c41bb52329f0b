"""Offline jobs: COCO-format annotations + images → webdataset tar shards + Parquet manifests.

sources/      one streaming reader per data source (interhand26m, stb, rhd, coco) → Sample / Rejection
json_stream   walks multi-GB JSON files with bounded memory
ingest        stream the records once: spill them to disk, keep per-sample numbers and the rejections
spill         the spill files' format: per sample its .ann record + pickled SampleInfo
plan          order, shard cuts, per-shard plan hashes
shard_writer  one shard: tar (*.tar.tmp → rename), DALI index, manifest/errors fragments
tar_writer    the byte-identical ustar writer the shards are written with
images        each image's checks and what is stored for it (--jpeg baseline re-encoding)
run           `interhand shards`: parts, workers, resume, finalize (dataset.json last)
verify        `interhand verify`: every shard against dataset.json and the manifest
"""
