"""Render the timings table of docs/benchmarks.md from the benchmarks' recorded JSON lines.

Every benchmark prints one JSON line last; the figures a run is quoted by are kept, one line per benchmark run,
in docs/benchmarks/results.jsonl (keys: `benchmark`, `command`, `what`, `figures`, `ratios`, `goal`, `machine`,
`date`, `commit`). This script writes the table between the two marker comments of docs/benchmarks.md, so the
table is never edited by hand (tests/test_docs.py checks that it is this script's output):

    python bench/render_timings.py            # rewrite the table
    python bench/render_timings.py --check    # exit 1 if the table is not the rendering of the JSON lines
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs" / "benchmarks" / "results.jsonl"
PAGE = RESULTS.parent.with_suffix(".md")  # docs/benchmarks.md, beside the folder of its results
BEGIN = "<!-- timings: begin (bench/render_timings.py writes this table from docs/benchmarks/results.jsonl) -->"
END = "<!-- timings: end -->"


def _pairs(values: dict) -> str:
    return "; ".join(f"{name} {value}" for name, value in values.items())


def render(lines: list[dict]) -> str:
    """The Markdown table of the recorded runs, one row per JSON line, in the file's order."""
    rows = ["| benchmark | what | figures | ratios (goal) | machine, date, commit |", "|---|---|---|---|---|"]
    for run in lines:
        goal = f"(goal {run['goal']})" if run.get("goal") else ""
        ratios = " ".join(part for part in (_pairs(run.get("ratios", {})), goal) if part)
        rows.append(f"| `{run['command']}` | {run['what']} | {_pairs(run['figures'])} | {ratios} | "
                    f"{run['machine']}, {run['date']}, {run['commit']} |")
    return "\n".join(rows) + "\n"


def read_results(path: Path = RESULTS) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def rendered_page(page: str, table: str) -> str:
    """`page` with the text between the markers replaced by `table`."""
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the table is up to date")
    args = parser.parse_args()
    page = PAGE.read_text()
    new = rendered_page(page, render(read_results()))
    if args.check:
        if new != page:
            print(f"{PAGE.relative_to(REPO)}: the timings table differs from {RESULTS.relative_to(REPO)}; "
                  "run python bench/render_timings.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
