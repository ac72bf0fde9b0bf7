# Sourced by deploy/native/provision: PostgreSQL started and the app's role and database made.
# Uses provision's DB_* values (from DATABASE_URL) and its helpers (say, die, wait_for_port).

start_postgresql() {
  port_open "$DB_HOST" "$DB_PORT" && return 0
  say "starting PostgreSQL"
  if systemd_running; then
    systemctl start postgresql
  else
    local version cluster
    read -r version cluster _ < <(pg_lsclusters --no-header | head -n1)
    [ -n "${version:-}" ] || die "no PostgreSQL cluster exists; create one with pg_createcluster"
    pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start
  fi
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
