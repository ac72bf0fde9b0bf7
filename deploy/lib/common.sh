# Sourced by every deploy/ script: locates the project, loads .env, activates the venv.
# Real environment variables win over .env, as in the Django settings.

APP_ROOT=${APP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
export APP_ROOT
ENV_FILE=${ENV_FILE:-$APP_ROOT/.env}
export ENV_FILE

source "$(dirname "${BASH_SOURCE[0]}")/env-file.sh"  # die, load_env_file
say() { printf '==> %s\n' "$*" >&2; }

# Settings whose one default is their line in .env.example (every env file is made from it):
# a missing one stops with a clear message instead of a second default written here.
require_settings() {
  local name
  for name in "$@"; do
    [ -n "${!name:-}" ] || die "$name is not set: copy its line from .env.example into $ENV_FILE"
  done
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
