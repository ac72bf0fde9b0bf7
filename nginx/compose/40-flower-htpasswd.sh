#!/bin/sh
# Runs at container start from the official image's /docker-entrypoint.d/: writes the
# htpasswd that guards /flower/ from FLOWER_USER and FLOWER_PASSWORD with the project's one
# writer of that file (deploy/bin/flower-htpasswd, copied into the image: busybox's
# mkpasswd here, a SHA-512 crypt() hash nginx checks through musl's crypt()).
set -eu
: "${HTPASSWD_FILE:?HTPASSWD_FILE is not set}"
# nginx's worker processes (user nginx) read the file on each request; nobody else may.
umask 027
flower-htpasswd >"$HTPASSWD_FILE.new"  # /usr/local/bin in the image
chgrp nginx "$HTPASSWD_FILE.new"
mv "$HTPASSWD_FILE.new" "$HTPASSWD_FILE"
