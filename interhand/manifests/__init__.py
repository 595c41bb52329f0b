"""Parquet manifests of the shards: schema, writing, reading, querying (issue 3: preprocess + manifests)."""
