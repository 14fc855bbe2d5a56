#!/bin/sh
# From a bare Debian 12 to built artefacts: installs the packages that are
# missing (scripts/install-deps.sh, as root or with sudo), then runs
# "make TARGET..." (default: all).  The Dockerfile's build stage runs
# "scripts/build.sh deb"; make's own targets take the same two steps (their
# "deps" prerequisite is scripts/install-deps.sh), so a machine that has make
# can skip this script.
set -eu

cd "$(dirname "$0")/.."
scripts/install-deps.sh
exec make "$@"
