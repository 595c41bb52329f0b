"""Builds the two C extensions, both against the system libjpeg-turbo: region-of-interest JPEG decoding for
the CPU loader, and the shard writer's lossless progressive → baseline re-encoding (`--jpeg baseline`).

Everything else is in pyproject.toml. The extensions are optional: without a compiler or the libjpeg
headers the install goes on, the loader decodes whole frames (interhand.loaders.decode.REGION_DECODING) and
`interhand shards` needs `--jpeg source` (interhand.preprocess.shard_writer.REENCODING).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(f"interhand.{package}.{name}", [f"interhand/{package}/{name}.c"], libraries=["jpeg"],
                             include_dirs=["interhand"], depends=["interhand/_jpeg_errors.h"],
                             extra_compile_args=["-O2"], optional=True)
                   for package, name in (("loaders", "_jpeg_region"), ("preprocess", "_jpeg_baseline"))])
