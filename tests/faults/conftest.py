import json
import os
from pathlib import Path

import pytest

BATCH = int(os.environ.get("FAULT_BATCH", "200"))


@pytest.fixture(scope="session")
def fault_report():
    """Outcomes of every scenario, written to $RUN_DIR/faults.json for the README table."""
    outcomes = []
    yield outcomes
    path = Path(os.environ["RUN_DIR"]) / "faults.json"
    path.write_text(json.dumps({"batch": BATCH, "scenarios": [o.as_dict() for o in outcomes]}, indent=2))


@pytest.fixture
def record(fault_report):
    def add(outcome):
        fault_report.append(outcome)
        print(outcome)
        return outcome

    return add
