"""The set-up the Makefile promises: pillow-simd live (unless it could not be built), no torchvision."""

import importlib.util
import sys
from pathlib import Path

import PIL
import pytest


def test_pillow_simd_is_the_live_pil_unless_the_build_fell_back():
    marker = Path(sys.prefix) / "pillow-backend"
    if not marker.exists():
        pytest.skip("not running in the Makefile's .venv")
    if marker.read_text().strip() == "pillow":
        pytest.skip("pillow-simd could not be built on this machine; the set-up fell back to Pillow")
    # pillow-simd versions carry a .postN suffix; a later install of a package that depends on `pillow`
    # silently puts Pillow back (docs/setup.md), which this catches.
    assert ".post" in PIL.__version__, f"Pillow {PIL.__version__} is live instead of pillow-simd"


def test_torchvision_is_not_installed():
    assert importlib.util.find_spec("torchvision") is None
