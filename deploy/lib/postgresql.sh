# Sourced by deploy/native/provision: PostgreSQL started and the app's role and database made.
# Uses provision's DB_* values (from DATABASE_URL) and its helpers (say, die, wait_for_port).

# start | restart: through systemd's unit, or the cluster's own control without systemd.
postgresql_service() {
  if systemd_running; then
    systemctl "$1" postgresql
    return
  fi
  local version cluster
  read -r version cluster _ < <(pg_lsclusters --no-header | head -n1)
  [ -n "${version:-}" ] || die "no PostgreSQL cluster exists; create one with pg_createcluster"
  pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" "$1"
}

start_postgresql() {
  port_open "$DB_HOST" "$DB_PORT" && return 0
  say "starting PostgreSQL"
  postgresql_service start
  wait_for_port "$DB_HOST" "$DB_PORT" 60 PostgreSQL
}

# From /: psql runs as postgres, which may not enter the caller's folder (deploy/install
# runs from root's private checkout: "could not change directory to /root/app").
psql_admin() { (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"); }

create_database() {
  say "PostgreSQL: role $DB_USER, database $DB_NAME"
  # The password travels in the environment (psql's \getenv), never on a command line.
  APP_DB_PASSWORD=$DB_PASSWORD psql_admin -v user="$DB_USER" <<'SQL'
\getenv password APP_DB_PASSWORD
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
SQL
  psql_admin -v user="$DB_USER" -v db="$DB_NAME" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
SQL
}

# A database host that serves other hosts (HOST_TLS_DIR holds db.crt and db.key from
# deploy/bin/make-certs or your CA; docs/cluster.md): PostgreSQL listens on every address
# with TLS, and pg_hba accepts other hosts over TLS only (a plaintext connection from
# another host matches no line: refused). Without HOST_TLS_DIR: loopback only, Debian's
# defaults. Returns 0 when it changed anything (the server must restart to listen anew).
HBA_MARKER="# app: other hosts over TLS only (deploy/lib/postgresql.sh)"
postgresql_serves_other_hosts() { [ -n "${HOST_TLS_DIR:-}" ] && [ -s "$HOST_TLS_DIR/db.crt" ]; }

configure_postgresql_tls() {
  local version cluster dir changed=1 line
  read -r version cluster _ < <(pg_lsclusters --no-header | head -n1)
  [ -n "${version:-}" ] || die "no PostgreSQL cluster exists; create one with pg_createcluster"
  dir=/etc/postgresql/$version/$cluster
  [ -s "$HOST_TLS_DIR/db.key" ] || die "$HOST_TLS_DIR/db.crt has no key $HOST_TLS_DIR/db.key"
  cat >"$dir/app-tls.conf.new" <<CONF
# Written by deploy/lib/postgresql.sh: this host serves the app's other hosts, over TLS.
listen_addresses = '*'
ssl = on
ssl_cert_file = '$dir/app-tls/db.crt'
ssl_key_file = '$dir/app-tls/db.key'
ssl_min_protocol_version = 'TLSv1.2'
CONF
  if cmp -s "$dir/app-tls.conf.new" "$dir/conf.d/app-tls.conf" && cmp -s "$HOST_TLS_DIR/db.crt" "$dir/app-tls/db.crt" &&
    cmp -s "$HOST_TLS_DIR/db.key" "$dir/app-tls/db.key" && grep -qxF "$HBA_MARKER" "$dir/pg_hba.conf"; then
    changed=
  fi
  # PostgreSQL refuses a key that others can read: its own user's, mode 0600.
  install -d -m 0700 -o postgres -g postgres "$dir/app-tls"
  install -m 0644 -o postgres -g postgres "$HOST_TLS_DIR/db.crt" "$dir/app-tls/db.crt"
  install -m 0600 -o postgres -g postgres "$HOST_TLS_DIR/db.key" "$dir/app-tls/db.key"
  install -D -m 0644 -o postgres -g postgres "$dir/app-tls.conf.new" "$dir/conf.d/app-tls.conf"
  rm -f "$dir/app-tls.conf.new"
  if ! grep -qxF "$HBA_MARKER" "$dir/pg_hba.conf"; then
    for line in "$HBA_MARKER" "hostssl all all 0.0.0.0/0 scram-sha-256" "hostssl all all ::/0 scram-sha-256"; do
      echo "$line" >>"$dir/pg_hba.conf"
    done
  fi
  [ -n "$changed" ]
}

restart_postgresql() {
  say "PostgreSQL: TLS for other hosts changed: restarting it"
  postgresql_service restart
}
