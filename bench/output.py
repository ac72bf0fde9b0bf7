"""Where a benchmark's results go: the JSON file, its picture beside it (.svg), and the
markdown summary printed."""

import json


def save(results, out, chart, markdown, seconds=None):
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    chart(results, out.with_suffix(".svg"))
    print(markdown(results))
    took = "" if seconds is None else f" in {seconds} s"
    print(f"\nwrote {out} and {out.with_suffix('.svg')}{took}")
