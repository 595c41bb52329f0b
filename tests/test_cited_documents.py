"""Every document the code and docs cite is in the repository, so a clone can follow each reference."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("interhand/**/*.py"), *ROOT.glob("interhand/**/*.c"), *ROOT.glob("tests/**/*.py"),
                  *ROOT.glob("bench/*.py"), *ROOT.glob("scripts/*"), *ROOT.glob("*.md"), *ROOT.glob("docs/**/*.md"),
                  *ROOT.glob("configs/*"),
                  ROOT / "Makefile", ROOT / "setup.py"])
# Documents that live outside the repository: citing them leaves a clone with a dangling reference.
OUTSIDE = re.compile(r"interhand_format\.md|STYLE\.md|stack_notes\.md|\bissue \d+\b")
MARKDOWN_NAME = re.compile(r"[\w./-]+\.md\b")


@pytest.mark.parametrize("path", SOURCES, ids=[str(path.relative_to(ROOT)) for path in SOURCES])
def test_every_cited_markdown_file_exists_and_nothing_outside_the_repository_is_cited(path):
    if path == Path(__file__).resolve() or not path.is_file():
        return
    text = path.read_text(errors="replace")
    assert not OUTSIDE.search(text), f"{path.relative_to(ROOT)} cites {OUTSIDE.search(text).group()}, not in a clone"
    for name in set(MARKDOWN_NAME.findall(text)):
        candidates = [ROOT / name, path.parent / name]
        assert any(candidate.is_file() for candidate in candidates), \
            f"{path.relative_to(ROOT)} names {name}, which is not in the repository"
