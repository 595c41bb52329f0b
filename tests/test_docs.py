"""The documents cannot drift: the timings table and the full-size table are renderings of the recorded benchmark
lines, and the README stays a page (at most 300 lines) whose every link to docs/ resolves."""

import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("render_timings", ROOT / "bench" / "render_timings.py")
render_timings = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(render_timings)


def test_the_timings_table_is_the_rendering_of_the_recorded_results():
    page = render_timings.PAGE.read_text()
    assert page == render_timings.rendered_page(page, render_timings.render(render_timings.read_results()))


def test_every_recorded_run_names_its_machine_date_and_commit():
    for run in render_timings.read_results():
        assert run["machine"] and re.fullmatch(r"\d{4}-\d{2}-\d{2}", run["date"]), run["benchmark"]
        assert re.fullmatch(r"[0-9a-f]{7,40}", run["commit"]), run["benchmark"]


def test_the_readme_is_a_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 300


def test_every_relative_link_of_the_readme_and_docs_resolves():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links {target}"


def test_every_experiment_names_its_commit_config_and_command():
    entries = sorted((ROOT / "docs" / "experiments").glob("20*.md"))
    assert entries
    for entry in entries:
        text = entry.read_text()
        for field in ("Commit:", "Config:", "Command:"):
            assert field in text, f"{entry.name} lacks {field}"


def test_the_full_size_table_is_the_rendering_of_its_recorded_run():
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "bench" / "bench_scale.py")
    bench_scale = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "bench"))  # bench_scale imports bench/common.py
    try:
        spec.loader.exec_module(bench_scale)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    page = (ROOT / "docs/benchmarks.md").read_text()
    section = page[page.index("## Full size"):]
    recorded = re.search(r"\]\((benchmarks/scale-[\w-]+\.jsonl)\)", section).group(1)
    saved = json.loads((ROOT / "docs" / recorded).read_text().strip().splitlines()[-1])
    assert bench_scale.markdown_table(saved) in section
