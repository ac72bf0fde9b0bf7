# HTTPS at nginx, for the scripts that render the nginx site (native up, compose up,
# install): sourced after common.sh.

# site_certificate DIR [NAME...]: the certificate chain and key the settings name
# (NGINX_TLS_CERT, NGINX_TLS_KEY), else a pair from a private CA made once in DIR for
# localhost, 127.0.0.1, ::1 and the NAMEs (DIR/ca.crt is what a client trusts to verify it).
site_certificate() {
  local dir=$1 names
  shift
  if [ -z "${NGINX_TLS_CERT:-}" ]; then
    names=$(IFS=,; echo "site,localhost,127.0.0.1,::1${*:+,$*}")
    "$APP_ROOT/deploy/bin/make-certs" "$dir" "$names" >/dev/null
    NGINX_TLS_CERT=$dir/site.crt NGINX_TLS_KEY=$dir/site.key
  fi
  [ -r "$NGINX_TLS_CERT" ] && [ -r "${NGINX_TLS_KEY:-}" ] ||
    die "NGINX_TLS_CERT and NGINX_TLS_KEY must name readable files (now: '$NGINX_TLS_CERT', '${NGINX_TLS_KEY:-}')"
  export NGINX_TLS_CERT NGINX_TLS_KEY
}
