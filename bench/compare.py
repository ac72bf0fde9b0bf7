"""One line per result file (bench/tune's experiments): what changed and its figures.

python -m bench.compare FILE.json ...
"""

import json
import sys
from pathlib import Path


def _figure(runs, what, field):
    run = next((run for run in runs if run["what"] == what and run["connections"] == 32), None)
    return f"{run[field]:.0f}" if run else "-"


def main(paths):
    print(
        "| experiment | changed | POST /tasks/ req/s @32 | p99 ms | /healthz req/s @32 | +workers req/s | e2e tasks/s |"
    )
    print("|---|---|--:|--:|--:|--:|--:|")
    for path in paths:
        results = json.loads(Path(path).read_text())
        runs = [run for run in results["http"] if run["variant"] == "project"]
        e2e = next((run for run in results["e2e"] if run["variant"] == "project"), None)
        print(
            f"| {Path(path).stem} | {results.get('label') or '(project settings)'} "
            f"| {_figure(runs, 'POST /tasks/', 'rps')} | {_figure(runs, 'POST /tasks/', 'p99_ms')} "
            f"| {_figure(runs, 'GET /healthz', 'rps')} | {_figure(runs, 'POST /tasks/ +workers', 'rps')} "
            f"| {e2e['tasks_per_s'] if e2e else '-'} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
