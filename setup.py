"""Builds the one C extension: region-of-interest JPEG decoding for the CPU loader (libjpeg-turbo).

Everything else is in pyproject.toml. The extension is optional: without a compiler or the libjpeg
headers the install goes on and the loader decodes whole frames (interhand.loaders.decode.REGION_DECODING).
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("interhand.loaders._jpeg_region", ["interhand/loaders/_jpeg_region.c"],
                             libraries=["jpeg"], extra_compile_args=["-O2"], optional=True)])
