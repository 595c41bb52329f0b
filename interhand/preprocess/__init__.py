"""Offline jobs: COCO-format annotations + images → webdataset shards + Parquet manifests."""
