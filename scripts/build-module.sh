#!/bin/bash
# Builds the module against Debian's nginx-dev with the exact flags the
# system nginx was built with (otherwise nginx refuses it as "not binary
# compatible").  Nothing is written outside build/ (or $NITRO_ATTEST_MODULE_DIR).
#
#   scripts/build-module.sh          build/ngx_http_nitro_attest_module.so and
#                                    build/ngx_stream_nitro_attest_module.so
#   scripts/build-module.sh asan     the same in build/asan/, with
#                                    AddressSanitizer and UBSan
#
# NITRO_ATTEST_MODULE_DIR=DIR writes to DIR instead of build/ (debian/rules:
# the package build keeps its output under debian/).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
src=/usr/share/nginx/src
flavor=${1:-}

case "$flavor" in
"")
    out="${NITRO_ATTEST_MODULE_DIR:-$repo/build}"
    cc_extra=
    ld_extra=
    ;;
asan)
    # Debian's -O2 and _FORTIFY_SOURCE come first; these override -O
    out="${NITRO_ATTEST_MODULE_DIR:-$repo/build}/asan"
    cc_extra="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
    ld_extra="-fsanitize=address,undefined"
    ;;
*)
    echo "build-module: unknown flavor \"$flavor\" (none or asan)" >&2
    exit 2
    ;;
esac

builddir="$out/nginx"

if [ ! -f "$src/conf_flags" ]; then
    echo "build-module: $src/conf_flags not found (install nginx-dev)" >&2
    exit 1
fi

# shellcheck disable=SC1091
. "$src/conf_flags"

# Debian builds its stream module (libnginx-mod-stream) apart: the stream
# flags nginx -V shows, so the stream face sees the same structures
stream_flags=()
for flag in $(/usr/sbin/nginx -V 2>&1); do
    case "$flag" in
    --with-stream=dynamic|--with-stream|--with-stream_ssl_module|\
    --with-stream_ssl_preread_module|--with-stream_realip_module)
        stream_flags+=("$flag")
        ;;
    esac
done

# configure again when config or the set of core sources changes
stamp="$builddir/.configured"
want=$(cd "$repo" && cat config && ls src/*.c nginx/*.c && echo "${stream_flags[@]}")
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$builddir"
    mkdir -p "$builddir"
    (cd "$src" && ./configure \
        --with-cc-opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS) $cc_extra" \
        --with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC $ld_extra" \
        "${NGX_CONF_FLAGS[@]}" "${stream_flags[@]}" \
        --add-dynamic-module="$repo" \
        --builddir="$builddir") > "$builddir.configure.log" 2>&1 || {
        cat "$builddir.configure.log" >&2
        exit 1
    }
    printf '%s' "$want" > "$stamp"
fi

# only ours: nginx's own stream module would be built too otherwise
make -s -f "$builddir/Makefile" -C "$src" \
    "$builddir/ngx_http_nitro_attest_module.so" \
    "$builddir/ngx_stream_nitro_attest_module.so"

# each new file renamed into place: a running nginx keeps its mapped copy
for so in ngx_http_nitro_attest_module.so ngx_stream_nitro_attest_module.so
do
    cp "$builddir/$so" "$out/.module.so.tmp"
    mv -f "$out/.module.so.tmp" "$out/$so"
done
