#!/bin/bash
# Builds build/ngx_http_nitro_attest_module.so against Debian's nginx-dev with
# the exact flags the system nginx was built with (otherwise nginx refuses the
# module as "not binary compatible").  Nothing is written outside build/.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
src=/usr/share/nginx/src
builddir="$repo/build/nginx"

if [ ! -f "$src/conf_flags" ]; then
    echo "build-module: $src/conf_flags not found (install nginx-dev)" >&2
    exit 1
fi

# shellcheck disable=SC1091
. "$src/conf_flags"

# configure again when config or the set of core sources changes
stamp="$builddir/.configured"
want=$(cd "$repo" && cat config && ls src/*.c)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$builddir"
    mkdir -p "$builddir"
    (cd "$src" && ./configure \
        --with-cc-opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS)" \
        --with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC" \
        "${NGX_CONF_FLAGS[@]}" \
        --add-dynamic-module="$repo" \
        --builddir="$builddir") > "$builddir.configure.log" 2>&1 || {
        cat "$builddir.configure.log" >&2
        exit 1
    }
    printf '%s' "$want" > "$stamp"
fi

make -s -f "$builddir/Makefile" -C "$src" modules
cp "$builddir/ngx_http_nitro_attest_module.so" "$repo/build/"
