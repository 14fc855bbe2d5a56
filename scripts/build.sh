#!/bin/sh
# From a bare Debian 12 to built artefacts: installs the build's packages
# that are missing (scripts/install-deps.sh build, as root or with sudo;
# make among them), then runs "make TARGET..." (default: all).  The targets
# that need more install it themselves (make deb its packaging tools, make
# test the test tools), so the Dockerfile's build stage, which runs
# "scripts/build.sh deb", gets no test tool.  A machine that has make can
# skip this script.
set -eu

cd "$(dirname "$0")/.."
scripts/install-deps.sh build
exec make "$@"
