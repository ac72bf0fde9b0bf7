# Sourced by common.sh, and by the suites (tests/run, bench/run, bench/tune) before it: they
# load their own settings file first. Since load_env_file keeps what is already set, the
# caller's environment wins, then the suite's file, then .env. An .env written by an older
# release may still set a suite's setting (CELERY_QUEUE_TYPE=classic was once a production
# setting, and made the bench's project variant measure a classic queue).

die() { printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

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
