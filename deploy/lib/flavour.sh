# Sourced by deploy/up and deploy/down: which flavour runs the stack on this machine.
#   FLAVOUR=containers  docker-compose.prod.yml; fails in one line when the engine or
#                       Compose >= 2.20 is missing
#   FLAVOUR=native      the same processes under supervisord (deploy/native/)
#   unset or auto       containers when a Docker engine answers and Compose >= 2.20 is
#                       installed, otherwise native (saying why when an engine answers)
COMPOSE_MIN_VERSION=2.20

# Empty when containers can run here, else one line saying what is missing.
containers_missing() {
  command -v docker >/dev/null || { echo "no docker command"; return; }
  docker info >/dev/null 2>&1 || { echo "no Docker engine answers (docker info failed)"; return; }
  local version
  version=$(docker compose version --short 2>/dev/null) ||
    { echo "the Docker Compose v2 plugin is not installed (docker compose version failed)"; return; }
  version=${version#v}
  [ "$(printf '%s\n' "$COMPOSE_MIN_VERSION" "$version" | sort -V | head -n1)" = "$COMPOSE_MIN_VERSION" ] ||
    echo "Docker Compose $version is older than $COMPOSE_MIN_VERSION"
}

choose_flavour() {
  local missing
  case "${FLAVOUR:-auto}" in
    native) echo native ;;
    containers)
      missing=$(containers_missing)
      [ -z "$missing" ] || { echo "FLAVOUR=containers, but $missing" >&2; return 1; }
      echo containers ;;
    auto)
      missing=$(containers_missing)
      if [ -z "$missing" ]; then
        echo containers
      else
        case "$missing" in
          "no docker"* | "no Docker engine"*) ;;
          *) echo "containers not possible: $missing; running natively (FLAVOUR=native|containers to choose)" >&2 ;;
        esac
        echo native
      fi ;;
    *) echo "FLAVOUR must be native, containers or auto (got '$FLAVOUR')" >&2; return 1 ;;
  esac
}
