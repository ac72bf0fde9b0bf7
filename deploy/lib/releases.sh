# Sourced by deploy/upgrade: a release's life on a host, from staging to pruning.
# Reads deploy/upgrade's variables: source_dir, prefix, root (DESTDIR + prefix), venv,
# keep, DESTDIR; and its say/die.

# What a release holds: what the deploy/bin scripts need.
RELEASE_PATHS=(src deploy nginx requirements .env.example)

release_files() { # the files of a release, sorted, relative to the checkout
  (cd "$source_dir" && find "${RELEASE_PATHS[@]}" -type f ! -name '*.pyc' ! -path '*/__pycache__/*' | LC_ALL=C sort)
}

# Same files, same release id: re-running an upgrade (or DESTDIR install) changes nothing.
release_id() {
  (cd "$source_dir" && release_files | tr '\n' '\0' | xargs -0 sha256sum | sha256sum | cut -c1-12)
}

stage_release() { # dir
  local dir=$1
  if [ -d "$dir" ]; then
    say "release $(basename "$dir") is already staged"
    return 0
  fi
  say "staging release $(basename "$dir") from $source_dir"
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  release_files | (cd "$source_dir" && tar -cf - -T -) | tar -xf - -C "$dir.tmp"
  mv -T "$dir.tmp" "$dir"
}

# The venv's scripts embed its path, so it is built in place; .complete marks a usable one.
build_venv() { # dir lockfile
  local dir=$1 lock=$2
  [ ! -f "$dir/.complete" ] || return 0
  say "building the virtual environment $dir"
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install -q --disable-pip-version-check --no-deps --require-hashes -r "$lock"
  touch "$dir/.complete"
}

link_venv() { # release
  local release=$1 target lock_hash
  if [ -n "$venv" ]; then
    target=$venv
  else
    lock_hash=$(sha256sum "$release/requirements/base.lock" | cut -c1-12)
    target=$prefix/venvs/$lock_hash
    if [ -z "$DESTDIR" ]; then build_venv "$target" "$release/requirements/base.lock"; fi
  fi
  [ "$(readlink "$release/.venv" 2>/dev/null)" = "$target" ] || ln -sfn "$target" "$release/.venv"
}

switch_current() { # release
  local target=$1
  if [ "$(readlink "$root/current" 2>/dev/null)" = "$target" ]; then return 0; fi
  say "current -> $target"
  ln -sfn "$target" "$root/current.new"
  mv -T "$root/current.new" "$root/current"
}

prune_releases() {
  local current_target old
  current_target=$(readlink "$root/current")
  # Newest first; the current release is always kept.
  for old in $(ls -1t "$root/releases" | tail -n +$((keep + 1))); do
    [ "$prefix/releases/$old" != "$current_target" ] || continue
    say "removing old release $old"
    rm -rf "${root:?}/releases/$old"
  done
  [ -z "$venv" ] && [ -d "$root/venvs" ] || return 0
  for old in "$root"/venvs/*; do
    grep -qx "$prefix/venvs/$(basename "$old")" < <(readlink "$root"/releases/*/.venv) || rm -rf "$old"
  done
}
