# Where the app lives on a systemd host: the one home of these paths. deploy/install and
# deploy/upgrade source it, and deploy/install renders them into the units (deploy/systemd/*
# name them ${APP_CURRENT}, ${APP_ENV_FILE}, ${GUNICORN_SOCKET}); the socket's path comes
# from GUNICORN_BIND in deploy/systemd/host.env, which nginx's upstream uses too.
APP_PREFIX=/srv/app                # releases/, venvs/ and the `current` symlink
APP_CURRENT=$APP_PREFIX/current    # the live release; every unit runs its deploy/bin/*
APP_ENV_FILE=/etc/app/app.env      # root's (0600); systemd hands its variables to the units
APP_USER=app
