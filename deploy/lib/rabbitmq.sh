# Sourced by deploy/native/provision: RabbitMQ configured with the project's files, started,
# and the app's vhost and user made (never guest). Uses provision's MQ_* values (from
# CELERY_BROKER_URL) and its helpers (say, die, port_open, wait_for_port, systemd_running).

# The project's RabbitMQ files and where they go; on a systemd host also epmd's drop-in.
rabbitmq_files() {
  echo "$APP_ROOT/deploy/rabbitmq/rabbitmq.conf /etc/rabbitmq/conf.d/10-app.conf"
  echo "$APP_ROOT/deploy/rabbitmq/host-loopback.conf /etc/rabbitmq/conf.d/20-app-loopback.conf"
  echo "$APP_ROOT/deploy/rabbitmq/rabbitmq-env.conf /etc/rabbitmq/rabbitmq-env.conf"
  echo "$APP_ROOT/deploy/rabbitmq/enabled_plugins /etc/rabbitmq/enabled_plugins"
  if systemd_running; then
    echo "$APP_ROOT/deploy/rabbitmq/epmd-loopback.conf /etc/systemd/system/epmd.socket.d/10-app-loopback.conf"
  fi
  # A broker host that serves other hosts (HOST_TLS_DIR holds broker.crt and broker.key;
  # docs/cluster.md): AMQP over TLS on 5671 beyond loopback, the same file the containers
  # mount, with this host's paths.
  if [ -n "${HOST_TLS_DIR:-}" ] && [ -s "$HOST_TLS_DIR/broker.crt" ]; then
    [ -s "$HOST_TLS_DIR/broker.key" ] || die "$HOST_TLS_DIR/broker.crt has no key $HOST_TLS_DIR/broker.key"
    sed -e 's#= /run/tls/host.key#= /etc/rabbitmq/tls/host.key#' -e 's#= /tls/#= /etc/rabbitmq/tls/#' \
      "$APP_ROOT/deploy/rabbitmq/tls.conf" >/tmp/app-rabbitmq-tls.conf
    echo "/tmp/app-rabbitmq-tls.conf /etc/rabbitmq/conf.d/40-app-tls.conf"
    echo "$HOST_TLS_DIR/ca.crt /etc/rabbitmq/tls/ca.crt"
    echo "$HOST_TLS_DIR/broker.crt /etc/rabbitmq/tls/host.crt"
    echo "$HOST_TLS_DIR/broker.key /etc/rabbitmq/tls/host.key"
  fi
}

configure_rabbitmq() {
  # conf.d keeps the package's own rabbitmq.conf untouched.
  local src dst changed=
  while read -r src dst; do cmp -s "$src" "$dst" || changed=1; done < <(rabbitmq_files)
  [ -n "$changed" ] || return 0
  # A broker started before (e.g. by the package's own scripts on a systemd host) still
  # listens with its old settings, possibly beyond loopback: stop it, and before the new
  # files are in place, since its CLI (rabbitmqctl, the unit's ExecStop) finds the node by
  # the name and addresses it was started with. start_rabbitmq starts it again.
  if port_open 127.0.0.1 5672 || port_open "$MQ_HOST" "$MQ_PORT"; then
    say "RabbitMQ configuration changed: restarting it"
    if systemd_running; then systemctl stop rabbitmq-server; else rabbitmqctl -q stop; fi
  fi
  # epmd keeps the socket systemd handed it: stop both, so that it listens where the
  # drop-in says once epmd.socket starts again.
  if systemd_running; then systemctl stop epmd.socket epmd.service; fi
  while read -r src dst; do
    cmp -s "$src" "$dst" && continue
    [ ! -s "$dst" ] || cp "$dst" "$dst.orig"
    case "$dst" in
      *.key) install -D -m 0600 -o rabbitmq -g rabbitmq "$src" "$dst"; rm -f "$dst.orig" ;; # the node's user only
      *) install -D -m 0644 "$src" "$dst" ;;
    esac
  done < <(rabbitmq_files)
  if systemd_running; then
    systemctl daemon-reload
    systemctl start epmd.socket
  fi
}

start_rabbitmq() {
  port_open "$MQ_HOST" "$MQ_PORT" && return 0
  say "starting RabbitMQ"
  if systemd_running; then
    systemctl start rabbitmq-server
  else
    rabbitmq-server -detached
  fi
  # The node registers with epmd a few seconds after the VM starts; await_startup needs that.
  local deadline=$((SECONDS + 120))
  until rabbitmq-diagnostics -q ping >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "RabbitMQ did not start within 120 s (see /var/log/rabbitmq/)"
    sleep 2
  done
  timeout 120 rabbitmqctl -q await_startup >/dev/null || die "RabbitMQ did not finish booting (see /var/log/rabbitmq/)"
  wait_for_port "$MQ_HOST" "$MQ_PORT" 60 RabbitMQ
}

create_vhost() {
  say "RabbitMQ: vhost $MQ_VHOST, user $MQ_USER"
  rabbitmqctl -q add_vhost "$MQ_VHOST" 2>/dev/null || true
  # rabbitmqctl reads the password from stdin when it is left off the command line.
  if rabbitmqctl -q list_users --no-table-headers | cut -f1 | grep -qx "$MQ_USER"; then
    rabbitmqctl -q change_password "$MQ_USER" <<<"$MQ_PASSWORD" >/dev/null
  else
    rabbitmqctl -q add_user "$MQ_USER" <<<"$MQ_PASSWORD" >/dev/null
  fi
  # Full rights inside the app's own vhost only (Celery declares its queues, exchanges and
  # per-client reply queues there); no rights elsewhere and no management tags.
  rabbitmqctl -q set_permissions -p "$MQ_VHOST" "$MQ_USER" '.*' '.*' '.*'
  # The package creates guest/guest: remove it so no default credentials work.
  if rabbitmqctl -q list_users --no-table-headers | cut -f1 | grep -qx guest; then
    rabbitmqctl -q delete_user guest
  fi
}
