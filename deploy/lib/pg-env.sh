# Sourced by the deploy/bin scripts that run PostgreSQL's own tools (pg_dump, pg_restore,
# psql): libpq's PG* variables from DATABASE_URL, so that the password is in the
# environment, not on a command line other users can read (ps).
pg_env_from_database_url() {
  local query option
  { read -r PGUSER; read -r PGPASSWORD; read -r PGHOST; read -r PGPORT; read -r PGDATABASE; read -r query; } \
    < <(python3 "$APP_ROOT/deploy/lib/url-parts" "$DATABASE_URL" 5432)
  export PGUSER PGPASSWORD PGHOST PGPORT PGDATABASE
  # TLS between hosts (docs/cluster.md): ?sslmode=verify-full&sslrootcert=...
  for option in ${query//&/ }; do
    case "$option" in
      sslmode=*) export PGSSLMODE=${option#*=} ;;
      sslrootcert=*) export PGSSLROOTCERT=${option#*=} ;;
    esac
  done
}
