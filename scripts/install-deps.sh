#!/bin/sh
# Installs the Debian packages a make target needs, only those missing: one
# "apt-get update" and one "apt-get install" when anything is.  Used by the
# Makefile, scripts/demo.sh, scripts/build.sh (the Dockerfile) and CI alike;
# a fresh Debian 12 with nothing but root (or sudo) is enough to start.
#
#   scripts/install-deps.sh [SET [EXTRA-PACKAGE...]]
#   scripts/install-deps.sh --list SET     prints the set, one per line
#
# SET (default: test):
#   build   make: the CLI and both modules
#   demo    make demo: the build, and what scripts/demo.sh runs
#   deb     make deb: the build and debian/control's Build-Depends
#   bench   make bench*: the build and the harness the benchmarks drive
#   fuzz    make fuzz: the build, clang's libFuzzer and the corpus maker
#   static  make static: the cross compilers, the static libraries of both
#           architectures (arm64 ones through multiarch: the set adds the
#           arm64 architecture to dpkg once) and qemu-user
#   test    make test: all of the above but fuzz, and the test tools
# EXTRA-PACKAGE: installed with the set (make test-asan adds the
# sanitizer runtimes).
set -eu

# the compiler, the system nginx (scripts/build-module.sh reads its -V) and
# nginx-dev (the source and configure flags the module is built with)
BUILD="gcc make pkg-config nginx nginx-dev libcbor-dev libjansson-dev \
libssl-dev"
# scripts/demo.sh: openssl (the server certificate, the PCR values, a
# client without an attestation), curl (the two clients), python3 (free
# ports, json.tool); the demo's configuration is http only
DEMO="$BUILD openssl curl python3"
# debian/control's Build-Depends and the packaging tools;
# libnginx-mod-stream: Debian's ngx_stream_module.so, which the packages'
# build-time test loads our stream module after
DEB="$BUILD libnginx-mod-stream build-essential debhelper dpkg-dev fakeroot"
# t/lib/forge.py and t/lib/nginx.py, openssl speed and req
BENCH="$BUILD openssl python3 python3-cryptography python3-cbor2"
FUZZ="$BUILD clang-14 libclang-rt-14-dev python3 python3-cryptography \
python3-cbor2"
# make static's x86_64 and aarch64 executables: gcc for each (the
# x86_64-linux-gnu-gcc of gcc, crossbuild-essential-arm64's), libc.a of
# each (libc6-dev, libc6-dev-arm64-cross), libssl.a, libcrypto.a and
# libjansson.a of each and what pkg-config says libcrypto.a needs (Debian
# 13's: libz.a and libzstd.a; libcbor is compiled from
# third_party/libcbor), and qemu-user-static, which make test-static runs
# the aarch64 one under
STATIC="gcc libc6-dev pkg-config libssl-dev libjansson-dev zlib1g-dev \
libzstd-dev crossbuild-essential-arm64 libssl-dev:arm64 libjansson-dev:arm64 \
zlib1g-dev:arm64 libzstd-dev:arm64 qemu-user-static"
# every suite: the stream tests (libnginx-mod-stream), the packages
# (make test-packaging runs make deb) and the tools the telemetry, SIEM and
# inventory tests drive (Prometheus, rsyslog, Chromium for the dashboard,
# logrotate for the event log's rotation, groff and man for the man page,
# jsonschema for the OCSF events' schema),
# make static's executables and file(1), which the static tests read them
# with; socat, the forwarder of conf-examples/enclave/'s image, which its
# test runs; grpcio, the gRPC enclave behind nginx in the upstream tests,
# and pyOpenSSL, their enclave that renegotiates
TEST="$DEMO $DEB $BENCH $STATIC ca-certificates python3-pytest python3-yaml \
python3-jwt python3-jsonschema prometheus prometheus-node-exporter rsyslog \
chromium logrotate groff-base man-db file socat python3-grpcio python3-openssl"

packages() {
    case "$1" in
    build) echo "$BUILD" ;;
    demo) echo "$DEMO" ;;
    deb) echo "$DEB" ;;
    bench) echo "$BENCH" ;;
    fuzz) echo "$FUZZ" ;;
    static) echo "$STATIC" ;;
    test) echo "$TEST" ;;
    *)
        echo "install-deps: unknown set \"$1\" (build, demo, deb, bench," \
             "fuzz, static or test)" >&2
        return 1
        ;;
    esac
}

if [ "${1:-}" = --list ]; then
    [ $# -eq 2 ] || { echo "usage: $0 --list SET" >&2; exit 2; }
    list=$(packages "$2")
    # shellcheck disable=SC2086
    printf '%s\n' $list | awk '!seen[$0]++'
    exit 0
fi

wanted=$(packages "${1:-test}")
[ $# -eq 0 ] || shift

missing=""
for p in $wanted "$@"; do
    case " $missing " in *" $p "*) continue ;; esac
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

# a package of another architecture (PACKAGE:ARCH) needs that architecture
# in dpkg's list (multiarch) before apt-get update reads its indexes
for p in $missing; do
    case "$p" in *:*) ;; *) continue ;; esac
    arch=${p##*:}
    if [ "$arch" != "$(dpkg --print-architecture)" ] \
        && ! dpkg --print-foreign-architectures | grep -qx "$arch"
    then
        echo "install-deps: adding the $arch architecture to dpkg"
        $SUDO dpkg --add-architecture "$arch"
    fi
done

echo "install-deps: installing$missing"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $missing
