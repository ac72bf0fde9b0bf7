"""Writes the fault-injection results into the reliability table of docs/delivery.md.

Usage: python tests/faults/report.py RESULTS_JSON MARKDOWN_FILE  (make test-faults runs it)
"""

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"


def table(results):
    lines = [
        f"Batch: {results['batch']} tasks per scenario over HTTP through nginx; "
        f"run {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, {platform.system()} {platform.release()}.",
        "",
        "| Scenario | Accepted (202) | Completed | Failed | Lost | Run twice (bound) | 503 during outage "
        "| Other answers | Left in queue | Settled after (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in results["scenarios"]:
        lines.append(
            f"| {s['scenario']} | {s['accepted']} | {s['completed']} | {s['failed']} | **{s['lost']}** "
            f"| {s['duplicated']} ({s['duplicate_bound']}) | {s['refused']} "
            f"| {s['server_errors'] + len(s['unexpected'])} | {sum(s['queue_left'])} | {s['recovery_seconds']} |"
        )
    return "\n".join(lines)


def main(results_path, markdown_path):
    results = json.loads(Path(results_path).read_text())
    document = Path(markdown_path).read_text()
    head, _, rest = document.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        sys.exit(f"{markdown_path} has no {BEGIN} marker")
    Path(markdown_path).write_text(f"{head}{BEGIN}\n{table(results)}\n{END}{tail}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
