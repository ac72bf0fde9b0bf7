# Two images from one file (docker-compose.prod.yml builds both):
#   target app   (the default, last stage): web, worker, beat, flower and migrate, each started
#                by its deploy/bin script, exactly as on hosts and in the native runner;
#   target nginx: the front end, with the static files collected from the same source baked
#                in, so an upgrade can never serve the previous release's CSS/JS.

# --- builder: wheels from the hashed lock, the virtual environment, collected static files --
FROM python:3.11.14-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /app
COPY requirements/base.lock requirements/base.lock
# --require-hashes: only the exact artifacts named in the lock are accepted. Every locked
# package ships a wheel for this platform, so no compiler is needed (an sdist-only package
# would fail the hash check of the install below instead of silently building).
RUN pip wheel --require-hashes --wheel-dir /wheels -r requirements/base.lock \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheels --require-hashes -r requirements/base.lock
COPY deploy/bin deploy/bin
COPY deploy/lib deploy/lib
COPY src src
# Settings refuse to load without these; the values are throwaway and exist only for this
# one command (never ENV, so they are in no layer's environment). collectstatic touches
# neither the database nor the broker.
RUN DJANGO_SECRET_KEY=build-only-not-a-secret \
    DATABASE_URL=postgres://build@127.0.0.1:5432/build \
    CELERY_BROKER_URL=amqp://build@127.0.0.1:5672/build \
    DJANGO_STATIC_ROOT=/app/static VENV_DIR=/opt/venv APP_ROOT=/app ENV_FILE=/dev/null \
    deploy/bin/manage collectstatic --noinput --verbosity 0

# --- nginx: the public entry point (see nginx/compose/ for its start-up script) ----------
FROM nginx:1.28.0-alpine AS nginx
# The official image renders /etc/nginx/templates/*.template into conf.d/ with envsubst at
# start (only variables that are set), replacing the stock default.conf.
COPY nginx/app.conf.template /etc/nginx/templates/default.conf.template
COPY --chmod=0755 nginx/compose/40-flower-htpasswd.sh /docker-entrypoint.d/40-flower-htpasswd.sh
COPY --chmod=0755 deploy/bin/flower-htpasswd /usr/local/bin/flower-htpasswd
COPY --from=builder /app/static /app/static

# --- app: slim runtime, no compiler, no pip cache, no wheels, non-root -------------------
FROM python:3.11.14-slim-bookworm AS app
ENV APP_ROOT=/app \
    VENV_DIR=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_STATIC_ROOT=/app/static \
    GUNICORN_BIND=0.0.0.0:8000 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY deploy/bin deploy/bin
COPY deploy/lib deploy/lib
COPY src src
COPY --from=builder /app/static static
# Code stays root-owned and read-only to the app user; only beat's schedule state
# ($RUN_DIR/state, RUN_DIR defaults to /app/.run) is writable. Bytecode is compiled here
# because the app user cannot write it at run time.
RUN python -m compileall -q src \
 && install -d -o app -g app /app/.run
USER 10001:10001
EXPOSE 8000
# Liveness of gunicorn itself; compose gives worker, beat and flower their own checks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/app/deploy/bin/probe-web"]
CMD ["/app/deploy/bin/web"]
