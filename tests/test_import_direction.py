"""The layout of docs/code_layout.md: a module may import only from entries listed above it; cli.py imports
everything."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "interhand"
ORDER = ["config", "outputs", "progress", "skeleton", "vis", "shard_format", "geometry", "model", "manifests",
         "preprocess", "loaders", "runtime", "train", "eval", "synth", "predict", "cli_options", "cli"]


def _entry(module_path: Path) -> str | None:
    parts = module_path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0] if parts[0] in ORDER else None


def _imported_entries(module_path: Path) -> set[str]:
    tree = ast.parse(module_path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name.split(".")[1] for name in names if name.startswith("interhand.") and name.split(".")[1] in ORDER}


def test_modules_import_only_from_entries_above_them():
    violations = []
    for module_path in sorted(PACKAGE.rglob("*.py")):
        entry = _entry(module_path)
        if entry is None:
            continue
        for imported in _imported_entries(module_path):
            if imported != entry and ORDER.index(imported) > ORDER.index(entry):
                violations.append(f"{module_path.relative_to(PACKAGE)} imports interhand.{imported}")
    assert not violations, "\n".join(violations)


def test_nothing_imports_the_cli():
    """Only the package's entry point (`python -m interhand`, as the console script) calls it."""
    importers = [p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).as_posix() not in ("cli.py", "__main__.py")
                 and "cli" in _imported_entries(p)]
    assert not importers


def test_eval_does_not_import_preprocess():
    """Scoring reads shards, never the dataset readers: what both need lives below them (manifests)."""
    importers = [p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "eval").rglob("*.py")
                 if "preprocess" in _imported_entries(p)]
    assert not importers
