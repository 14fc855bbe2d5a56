#!/bin/bash
# Builds build/asan/ngx_http_nitro_attest_module.so: the module and the core
# compiled with AddressSanitizer and UndefinedBehaviorSanitizer, otherwise
# with the exact flags of Debian's nginx (the module signature must match).
# Debian's nginx itself is not instrumented: it runs with gcc's ASan runtime
# preloaded (scripts/nginx-asan), which then sees every malloc and free of
# the process and checks every access the module and the core make.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
src=/usr/share/nginx/src
builddir="$repo/build/asan/nginx"
san="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"

if [ ! -f "$src/conf_flags" ]; then
    echo "build-module-asan: $src/conf_flags not found (install nginx-dev)" >&2
    exit 1
fi

# shellcheck disable=SC1091
. "$src/conf_flags"

stamp="$builddir/.configured"
want=$(cd "$repo" && cat config && ls src/*.c)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    rm -rf "$builddir"
    mkdir -p "$builddir"
    # Debian's -O2 and _FORTIFY_SOURCE come first; ours override -O
    (cd "$src" && ./configure \
        --with-cc-opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS) $san" \
        --with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC -fsanitize=address,undefined" \
        "${NGX_CONF_FLAGS[@]}" \
        --add-dynamic-module="$repo" \
        --builddir="$builddir") > "$builddir.configure.log" 2>&1 || {
        cat "$builddir.configure.log" >&2
        exit 1
    }
    printf '%s' "$want" > "$stamp"
fi

make -s -f "$builddir/Makefile" -C "$src" modules
cp "$builddir/ngx_http_nitro_attest_module.so" "$repo/build/asan/"
