# Sourced by the backup scripts (deploy/bin/backup, deploy/compose/backup): how a backup file
# is named, written and pruned, the same for every flavour.

# A UTC time that sorts as text; two runs in one second differ.
backup_stamp() { date -u +%Y%m%dT%H%M%S.%3NZ; }

# write_backup FILE COMMAND...: COMMAND's output into FILE, under a temporary name renamed
# once COMMAND succeeded, so a file with the final name is always whole.
write_backup() {
  local file=$1
  shift
  if ! "$@" >"$file.partial"; then
    rm -f "$file.partial"
    return 1
  fi
  mv "$file.partial" "$file"
}

# prune_backups DIR KEEP: the newest KEEP of each kind stay.
prune_backups() {
  local dir=$1 keep=$2 kind
  for kind in db-*.dump rabbitmq-*.json; do
    # shellcheck disable=SC2012  # names are ours: db-<stamp>.dump, rabbitmq-<stamp>.json
    ls -1 "$dir"/$kind 2>/dev/null | sort -r | tail -n +$((keep + 1)) | xargs -r rm -f --
  done
}

# backup_keep: BACKUP_KEEP checked (default 14).
backup_keep() {
  local keep=${BACKUP_KEEP:-14}
  [[ $keep =~ ^[1-9][0-9]*$ ]] || die "BACKUP_KEEP=$keep is not a count of backups to keep (1 or more)"
  echo "$keep"
}
