"""Tiny helpers that read settings from the environment (12-factor).

The environment is all they read: whoever starts the process loads the env file into it
(deploy/bin/* through deploy/lib/common.sh, systemd's EnvironmentFile=, compose's env_file),
so the file has one reader in the project. A missing or placeholder value for a required
setting stops start-up with one line that names the variable, instead of a traceback deep
inside Django or kombu.
"""

import os
import sys

PLACEHOLDER_PREFIX = "change-me"
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


EX_CONFIG = 78  # sysexits.h: supervisors can tell "fix the configuration" from a crash


class ConfigError(SystemExit):
    """Ends start-up with a one-line message on stderr and exit status 78."""

    def __init__(self, message: str):
        self.message = f"configuration error: {message}"
        print(self.message, file=sys.stderr)
        super().__init__(EX_CONFIG)


def required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set (see .env.example; deploy/bin/manage loads .env)")
    if value.startswith(PLACEHOLDER_PREFIX) or f":{PLACEHOLDER_PREFIX}" in value:
        raise ConfigError(f"{name} still holds the placeholder from .env.example; set a real value")
    return value


def string(name: str, default: str) -> str:
    """An empty value (NAME= in .env) means the default, as in the deploy scripts."""
    return os.environ.get(name) or default


def boolean(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if not raw:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (use true or false)")


def integer(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None


def words(name: str, default: str) -> list[str]:
    """A comma- or space-separated list."""
    return string(name, default).replace(",", " ").split()
