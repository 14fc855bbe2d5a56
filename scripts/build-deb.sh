#!/bin/sh
# make deb: builds the Debian packages libnginx-mod-http-nitro-attest (the
# module) and nitro-attest (the CLI) from debian/, with dpkg-buildpackage, in
# a copy of the tree under build/deb/src: dpkg-buildpackage writes its .debs
# to the parent directory (build/deb/) and debhelper leaves nothing in the
# source tree.  The build log is build/deb/build.log.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
out="$repo/build/deb"
src="$out/src"

mkdir -p "$repo/build"
# one package build at a time in this tree (make test may run concurrently)
exec 9>"$repo/build/.deb.lock"
flock 9

rm -rf "$out"
mkdir -p "$src"
(cd "$repo" && tar -cf - --exclude=./build --exclude=./.git \
    --exclude=__pycache__ --exclude=.pytest_cache .) | tar -xf - -C "$src"

echo "build-deb: dpkg-buildpackage -us -uc -b (log: build/deb/build.log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1
then
    tail -n 40 "$out/build.log" >&2
    echo "build-deb: dpkg-buildpackage failed; whole log: $out/build.log" >&2
    exit 1
fi
rm -rf "$src"

for deb in "$out"/*.deb; do
    echo "build-deb: ${deb#"$repo"/}"
done
