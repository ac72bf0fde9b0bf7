"""The tests' reader of env files. Every file the project ships keeps to plain KEY=value
lines (deploy/lib/common.sh refuses anything else), so splitting at the first = is exact."""

from pathlib import Path


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key] = value
    return values
