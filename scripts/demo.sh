#!/bin/sh
# make demo: a mock AWS-shaped PKI, an "enclave" client certificate carrying
# an attestation document signed by it, and the system nginx running
# conf-examples/forwarding.conf on 127.0.0.1 from a temporary prefix.  One
# attested request is served (response, forwarded headers, JSON log line);
# one client without an attestation is refused in the TLS handshake.  nginx
# is stopped by the pid in its own pid file, and the prefix removed.  It
# installs only what it runs (scripts/install-deps.sh demo: the build,
# openssl, curl, python3), none of the test tools.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

scripts/install-deps.sh demo
make -s all

cli="$repo/build/nitro-attest"
module="$repo/build/ngx_http_nitro_attest_module.so"
work=$(mktemp -d /tmp/nitro-attest-demo.XXXXXX)
chmod 755 "$work"
mkdir -p "$work/logs"

stop() {
    if [ -f "$work/nginx.pid" ]; then
        pid=$(cat "$work/nginx.pid")
        kill -TERM "$pid" 2>/dev/null || true
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
            sleep 0.1
            i=$((i + 1))
        done
    fi
    rm -rf "$work"
}
trap stop EXIT INT TERM

say() {
    printf '\n\033[1m== %s\033[0m\n' "$*"
}

# No pipelines in this script: each step runs on its own, so a trace of the
# demo (sh -x) shows one command per line.
pcr() {
    printf '%s' "$1" > "$work/pcr-input"
    set -- $(openssl dgst -sha384 -r "$work/pcr-input")
    printf '%s\n' "$1"
}

ports=$(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
port=${ports% *}
upstream=${ports#* }
host=enclave-api.example.com

say "mock PKI (root -> regional -> zonal -> instance) and an enclave client"
"$cli" mock pki "$work/pki"
pcr0=$(pcr demo-enclave-image-v1)
pcr1=$(pcr demo-kernel)
pcr2=$(pcr demo-application)
"$cli" mock cert --pki "$work/pki" --pcr "0=$pcr0" --pcr "1=$pcr1" \
    --pcr "2=$pcr2" --user-data 64656d6f \
    --out-key "$work/enclave.key" --out-cert "$work/enclave.pem"
echo "enclave certificate: $work/enclave.pem (PCR0 $pcr0)"

cat > "$work/policy.json" <<EOF
{
  "allow": [
    {"name": "demo-enclave-v1",
     "pcrs": {"0": "$pcr0", "1": "$pcr1", "2": "$pcr2"}}
  ],
  "allow_debug": false
}
EOF
echo "policy: allow set \"demo-enclave-v1\" (PCR0, PCR1, PCR2)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 1 -subj "/CN=$host" -keyout "$work/server.key" \
    -out "$work/server.crt" 2>/dev/null

# the same substitutions the tests make (example() in t/lib/nginx.py)
sed -e "s|/usr/lib/nginx/modules/ngx_http_nitro_attest_module.so|$module|" \
    -e "s|/etc/nginx/tls/server.crt|$work/server.crt|" \
    -e "s|/etc/nginx/tls/server.key|$work/server.key|" \
    -e "s|/var/log/nginx/|$work/logs/|" \
    -e "s|listen 443 |listen 127.0.0.1:$port |" \
    -e "s|127.0.0.1:8081|127.0.0.1:$upstream|" \
    -e "s|/etc/nginx/nitro/policy.json;|$work/policy.json;\\
        nitro_attest_trusted_root $work/pki/root.pem;|" \
    conf-examples/forwarding.conf > "$work/nginx.conf"

say "nginx with conf-examples/forwarding.conf on 127.0.0.1:$port"
/usr/sbin/nginx -p "$work" -c "$work/nginx.conf" \
    -g "pid $work/nginx.pid; error_log $work/logs/error.log info;"

# nginx listens before it returns (it binds, then daemonizes)

resolve="$host:$port:127.0.0.1"

say "1. attested client: served"
echo "\$ curl --cert enclave.pem --key enclave.key https://$host:$port/"
curl -sk --resolve "$resolve" --cert "$work/enclave.pem" \
    --key "$work/enclave.key" -w 'HTTP %{http_code}\n' \
    "https://$host:$port/"

say "   its JSON access log line ($work/logs/nitro-attest.json)"
# nginx logs a request after its response went out: curl may be first
for _ in $(seq 50); do
    [ -s "$work/logs/nitro-attest.json" ] && break
    sleep 0.1
done
tail -n 1 "$work/logs/nitro-attest.json" > "$work/last-line.json"
/usr/bin/python3 -m json.tool "$work/last-line.json"

say "2. client without an attestation: refused in the TLS handshake"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes \
    -days 1 -subj "/CN=not-an-enclave" -keyout "$work/plain.key" \
    -out "$work/plain.pem" 2>/dev/null
echo "\$ curl --cert plain.pem --key plain.key https://$host:$port/"
if curl -sSk --resolve "$resolve" --cert "$work/plain.pem" \
        --key "$work/plain.key" "https://$host:$port/"; then
    echo "demo: the non-attested client was served" >&2
    exit 1
else
    echo "curl exit status $? (handshake refused)"
fi
echo "nginx error log:"
grep "client attestation failed" "$work/logs/error.log" | sed 's/^/  /'

say "done: stopping nginx (pid $(cat "$work/nginx.pid"))"
