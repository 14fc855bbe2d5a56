#!/bin/sh
# Installs the Debian packages the build, the tests and the demo need, only
# when one is missing.  Used by make, scripts/build.sh (the Dockerfile) and
# CI alike; a fresh Debian 12 with nothing but make and root (or sudo) is
# enough to start.
#
#   scripts/install-deps.sh [EXTRA-PACKAGE...]
#
# installs $NITRO_ATTEST_PACKAGES (default: the list below) plus the extra
# packages named (make deb adds the packaging tools).
set -eu

# libnginx-mod-stream: Debian's ngx_stream_module.so, which the stream
# module's tests and make deb's load test load ours after
PACKAGES="${NITRO_ATTEST_PACKAGES:-gcc make pkg-config nginx nginx-dev \
libnginx-mod-stream libcbor-dev libjansson-dev libssl-dev openssl curl \
ca-certificates \
python3 python3-pytest python3-cryptography python3-cbor2 python3-yaml \
python3-jwt \
prometheus rsyslog chromium}"

missing=""
for p in $PACKAGES "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'
    then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "install-deps: missing packages:$missing (run as root)" >&2
        exit 1
    fi
else
    SUDO=
fi

echo "install-deps: installing$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $missing
