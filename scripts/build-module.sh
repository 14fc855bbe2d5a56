#!/bin/bash
# Builds the module against Debian's nginx-dev with the exact flags the
# system nginx was built with (otherwise nginx refuses it as "not binary
# compatible").  Nothing is written outside build/.
#
#   scripts/build-module.sh          build/ngx_http_nitro_attest_module.so
#   scripts/build-module.sh asan     build/asan/ngx_http_nitro_attest_module.so,
#                                    with AddressSanitizer and UBSan
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
src=/usr/share/nginx/src
flavor=${1:-}

case "$flavor" in
"")
    out="$repo/build"
    cc_extra=
    ld_extra=
    ;;
asan)
    # Debian's -O2 and _FORTIFY_SOURCE come first; these override -O
    out="$repo/build/asan"
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

# configure again when config or the set of core sources changes
stamp="$builddir/.configured"
want=$(cd "$repo" && cat config && ls src/*.c nginx/*.c)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$builddir"
    mkdir -p "$builddir"
    (cd "$src" && ./configure \
        --with-cc-opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS) $cc_extra" \
        --with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC $ld_extra" \
        "${NGX_CONF_FLAGS[@]}" \
        --add-dynamic-module="$repo" \
        --builddir="$builddir") > "$builddir.configure.log" 2>&1 || {
        cat "$builddir.configure.log" >&2
        exit 1
    }
    printf '%s' "$want" > "$stamp"
fi

make -s -f "$builddir/Makefile" -C "$src" modules

# a new file renamed into place: a running nginx keeps its mapped copy
cp "$builddir/ngx_http_nitro_attest_module.so" "$out/.module.so.tmp"
mv -f "$out/.module.so.tmp" "$out/ngx_http_nitro_attest_module.so"
