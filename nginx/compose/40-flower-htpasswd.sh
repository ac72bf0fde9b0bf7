#!/bin/sh
# Runs at container start from the official image's /docker-entrypoint.d/: writes the
# htpasswd that guards /flower/ from FLOWER_USER and FLOWER_PASSWORD. The password is read
# from stdin (never a command line) and stored as a salted SHA-512 crypt() hash, which
# nginx checks through musl's crypt(). Alpine's busybox provides mkpasswd; no extra package.
set -eu
: "${HTPASSWD_FILE:?HTPASSWD_FILE is not set}"
: "${FLOWER_USER:?FLOWER_USER is not set}"
: "${FLOWER_PASSWORD:?FLOWER_PASSWORD is not set}"
case "$FLOWER_PASSWORD" in change-me*)
  echo "$0: FLOWER_PASSWORD still holds the placeholder from .env.example" >&2
  exit 1 ;;
esac

hash=$(printf '%s\n' "$FLOWER_PASSWORD" | busybox mkpasswd -m sha512)
case "$hash" in '$6$'*) ;; *)
  echo "$0: mkpasswd did not produce a SHA-512 crypt hash" >&2
  exit 1 ;;
esac

# nginx's worker processes (user nginx) read the file on each request; nobody else may.
umask 027
printf '%s:%s\n' "$FLOWER_USER" "$hash" >"$HTPASSWD_FILE.new"
chgrp nginx "$HTPASSWD_FILE.new"
mv "$HTPASSWD_FILE.new" "$HTPASSWD_FILE"
