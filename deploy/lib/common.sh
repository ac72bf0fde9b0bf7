# Sourced by every deploy/ script: locates the project, loads .env, activates the venv.
# Real environment variables win over .env, as in the Django settings.

APP_ROOT=${APP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export APP_ROOT
ENV_FILE=${ENV_FILE:-$APP_ROOT/.env}
export ENV_FILE

die() { printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }
say() { printf '==> %s\n' "$*" >&2; }

# Settings whose one default is their line in .env.example (every env file is made from it):
# a missing one stops with a clear message instead of a second default written here.
require_settings() {
  local name
  for name in "$@"; do
    [ -n "${!name:-}" ] || die "$name is not set: copy its line from .env.example into $ENV_FILE"
  done
}

# The one reader of env files in the project (Django reads only its environment). Plain
# KEY=value lines: systemd's EnvironmentFile= and compose's env_file read the same file, and
# they treat quotes, backslashes, $, # and spaces each their own way, so a value holding one
# is refused here (install, upgrade and every deploy/bin script load the file through this)
# instead of meaning something else under systemd or compose.
# A variable already set in the environment keeps its value.
load_env_file() {
  local file=$1 line key value number=0
  [ -f "$file" ] || return 0
  [ -r "$file" ] || die "$file exists but this user ($(id -un)) cannot read it"
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    case "$line" in '' | '#'*) continue ;; esac
    key=${line%%=*}
    value=${line#*=}
    [[ $line == *=* && $key =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] ||
      die "$file:$number: not a KEY=value line"
    [[ $value =~ [[:space:]\'\"\`\\\$#] ]] &&
      die "$file:$number: $key's value holds a quote, space, backslash, \$ or #, which systemd and compose read differently; write it plain (no quotes)"
    [ -n "${!key+set}" ] || export "$key=$value"
  done <"$file"
}
load_env_file "$ENV_FILE"

# The virtual environment built from requirements/*.lock (.venv here, /opt/venv in the image).
# The default, this checkout's .venv, is not exported: an empty VENV_DIR= line of the env
# file exported the name, and the default then followed into the scripts of another
# checkout (deploy/install runs a release's deploy/bin/migrate, whose venv is its own
# .venv): there it named a venv that does not exist and `python` was not found.
if [ -z "${VENV_DIR:-}" ]; then
  export -n VENV_DIR
  VENV_DIR=$APP_ROOT/.venv
fi
if [ -x "$VENV_DIR/bin/python" ]; then
  export PATH="$VENV_DIR/bin:$PATH"
fi
export PYTHONPATH="$APP_ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings}
export PYTHONUNBUFFERED=1

# Runtime state of the native runner: logs, sockets, pids, rendered configs.
RUN_DIR=${RUN_DIR:-$APP_ROOT/.run}
export RUN_DIR
