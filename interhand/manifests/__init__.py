"""Parquet manifests of the shards: schema, writing, reading, querying."""
