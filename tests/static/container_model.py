"""The container flavour's files as data: .env files (tests/support/env_file.py), compose interpolation, paths."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.prod.yml"
APP_ROOT_IN_IMAGE = "/app"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}, $NAME; $$ escapes.
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def compose_variables(text: str) -> set[str]:
    """Every variable the compose file interpolates."""
    return {m["braced"] or m["bare"] for m in _INTERPOLATION.finditer(text) if not m["escaped"]}


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: defaults apply when unset (`-`) or also when empty (`:-`)."""

    def replace(match):
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        value, op = env.get(name), match["op"] or ""
        unset_or_empty = value is None or (op.startswith(":") and value == "")
        if op.endswith("-") and unset_or_empty:
            return match["arg"]
        if op.endswith("?") and unset_or_empty:
            raise ValueError(f"required variable {name} is missing: {match['arg']}")
        return value or ""

    return _INTERPOLATION.sub(replace, text)


def load_compose(env: dict[str, str]) -> dict:
    """The compose file as deploy/compose/up hands it to compose: when the env file names no
    certificate for nginx, up exports the private pair it makes (deploy/lib/site-tls.sh)."""
    if not env.get("NGINX_TLS_CERT"):
        env = {**env, "NGINX_TLS_CERT": ".run/tls/site.crt", "NGINX_TLS_KEY": ".run/tls/site.key"}
    return yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), env))


def repo_script(container_path: str) -> Path:
    """/app/deploy/bin/web in the image is deploy/bin/web in the checkout."""
    assert container_path.startswith(APP_ROOT_IN_IMAGE + "/"), container_path
    return REPO / container_path.removeprefix(APP_ROOT_IN_IMAGE + "/")
