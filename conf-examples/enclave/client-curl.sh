#!/bin/sh
# curl inside the enclave, through the forwarder: each run reads
# bundle.pem, so each connection presents the agent's latest certificate.
#
#   client-curl.sh [PATH]
#
# Settings, from the environment: CERT_DIR, EGRESS_PORT (as the
# entrypoint's), API_HOST (the server's name), CA_FILE (the CAs the
# server's certificate is checked against; default the system's).
set -eu

CERT_DIR=${CERT_DIR:-/run/nitro-attest}
EGRESS_PORT=${EGRESS_PORT:-8443}
API_HOST=${API_HOST:-api.example.com}

# --connect-to: the server's name for SNI and its certificate, the
# forwarder's address for the connection (an enclave resolves no names)
exec curl -fsS --cert "$CERT_DIR/bundle.pem" ${CA_FILE:+--cacert "$CA_FILE"} \
    --connect-to "$API_HOST:443:127.0.0.1:$EGRESS_PORT" \
    "https://$API_HOST${1:-/}"
