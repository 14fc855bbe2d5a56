#!/bin/sh
# The enclave's processes: the vsock forwarder, a first certificate, nginx
# as the egress proxy, the agent renewing the certificate, then the
# application, which the enclave lives as long as.
#
# An enclave has no network interface: its only way out is vsock, to its
# parent instance (CID 3), where vsock-proxy (or socat) forwards to the
# server.  TLS runs from inside the enclave to the server: the parent
# carries ciphertext only, and the server sees the enclave's certificate.
#
# Settings, from the environment (the defaults are the image's):
#   CERT_DIR      where the agent keeps key.pem, cert.pem and bundle.pem
#   RENEW_EVERY   how often it renews: well under the server's
#                 nitro_attest_max_age (5m by default)
#   EGRESS_PORT   where the forwarder listens, on the enclave's loopback
#   EGRESS_TO     where it forwards, in socat's words: the parent's
#                 vsock-proxy port
#   NGINX_CONF    the egress proxy's configuration
#   APP           the application's command
set -eu

CERT_DIR=${CERT_DIR:-/run/nitro-attest}
RENEW_EVERY=${RENEW_EVERY:-60s}
EGRESS_PORT=${EGRESS_PORT:-8443}
EGRESS_TO=${EGRESS_TO:-VSOCK-CONNECT:3:8443}
NGINX_CONF=${NGINX_CONF:-/etc/nginx/nginx.conf}
APP=${APP:-python3 /app/app.py}
export CERT_DIR EGRESS_PORT

pids=
stop() {
    trap - EXIT
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill $pids 2>/dev/null || true
    nginx -c "$NGINX_CONF" -s quit 2>/dev/null || true
    wait
}
trap stop EXIT
trap 'exit 143' INT TERM

# 1. the way out: TCP on the enclave's loopback, vsock to the parent
socat "TCP-LISTEN:$EGRESS_PORT,bind=127.0.0.1,fork,reuseaddr" "$EGRESS_TO" &
pids="$pids $!"

# 2. a certificate before anything needs one: retried while the NSM fails
#    (exit 1), not after a usage error (exit 2)
while :; do
    rc=0
    nitro-attest agent --dir "$CERT_DIR" --every "$RENEW_EVERY" --once \
        || rc=$?
    [ "$rc" -eq 1 ] || break
    sleep 1
done
[ "$rc" -eq 0 ] || exit "$rc"

# 3. nginx reads the certificate when it loads its configuration: the
#    agent reloads it after each renewal
nginx -c "$NGINX_CONF"

# 4. a new key and certificate every RENEW_EVERY
nitro-attest agent --dir "$CERT_DIR" --every "$RENEW_EVERY" \
    --exec "nginx -c '$NGINX_CONF' -s reload" &
pids="$pids $!"

# 5. the application: its exit status is the enclave's
$APP
