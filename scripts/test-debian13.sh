#!/bin/bash
# make test-debian13: the whole suite (make test) inside a Debian 13
# ("trixie") root, against its own nginx (1.26) and OpenSSL (3.5).
#
#   scripts/test-debian13.sh [MAKE-TARGET...]     default: test
#
# The root is made once with debootstrap (build/debian13, from the mirror
# this machine's apt uses) and reused; scripts/install-deps.sh installs
# what the project needs inside it, as on a bare machine.  The tree is
# copied in (the working tree minus build/ and .git: the inner build has
# its own build/ and never touches the host's), so `make bench` or
# `make deb` can run there too: scripts/test-debian13.sh bench.
#
# Everything runs in a private mount and PID namespace (unshare): /proc,
# /sys, /dev, /dev/pts and /dev/shm are mounted for the root inside it and
# unmounted on exit by a trap, and when the namespace's first process
# exits the kernel ends every process left in it and drops every mount.
# NITRO_TEST_DEBIAN13 is unset inside, so the inner make test does not
# recurse.  Environment: NITRO_DEBIAN13_ROOT (default build/debian13),
# NITRO_DEBIAN13_MIRROR (default: the host's Debian mirror).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
root=${NITRO_DEBIAN13_ROOT:-$repo/build/debian13}
suite=trixie
inner=/root/nitro-attest
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(test)

say() { echo "test-debian13: $*"; }

# -- the part that runs inside the private namespaces ----------------------
if [ "${1:-}" = "--inside" ]; then
    shift
    mounted=()
    cleanup() {
        local rc=$? i p sig
        # stop what the run left (an nginx of a failed test, ...): every
        # process of this PID namespace but this shell, PID 1 in it
        for sig in TERM KILL; do
            for p in "$root"/proc/[0-9]*; do
                [ -e "$p" ] && [ "${p##*/}" != 1 ] \
                    && kill -"$sig" "${p##*/}" 2>/dev/null || true
            done
            [ $sig = TERM ] && sleep 1
        done
        for i in $(seq $((${#mounted[@]} - 1)) -1 0); do
            umount "${mounted[$i]}" 2>/dev/null \
                || umount -l "${mounted[$i]}" 2>/dev/null || true
        done
        exit $rc
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    mnt() {   # mnt TARGET mount-args...
        local target=$1
        shift
        mkdir -p "$target"
        mount "$@" "$target"
        mounted+=("$target")
    }
    mnt "$root/proc" -t proc proc
    mnt "$root/sys" -t sysfs -o ro sysfs
    mnt "$root/dev" --bind /dev
    mnt "$root/dev/pts" --bind /dev/pts
    mnt "$root/dev/shm" -t tmpfs -o mode=1777,nosuid,nodev tmpfs
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    # in the background: a signal's trap runs at once, not after the run
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
        chroot "$root" /bin/sh -c "$1" &
    wait $!
    exit $?
fi

# -- host side --------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "test-debian13: needs root (debootstrap, chroot, mounts)" >&2
    exit 1
fi
"$repo/scripts/install-deps.sh" test debootstrap

mirror() {
    # the host's Debian archive: the first deb URI of a sources file that
    # serves the main suite (not -security, not a third-party repository)
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' "$f" \
            | grep -E '/debian/?$' | head -n 1)
        if [ -n "$uri" ]; then echo "${uri%/}"; return; fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++)
                  if ($i ~ /^(https?|ftp|file):/) { print $i; break } }' "$f" \
            | grep -E '/debian/?$' | head -n 1)
        if [ -n "$uri" ]; then echo "${uri%/}"; return; fi
    done
    echo http://deb.debian.org/debian
}
MIRROR=${NITRO_DEBIAN13_MIRROR:-$(mirror)}

mkdir -p "$repo/build"
# one run at a time per root
exec 9>"$root.lock"
flock 9

start=$(date +%s)
if [ ! -f "$root/.nitro-debootstrap-done" ]; then
    say "debootstrap $suite into ${root#"$repo"/} from $MIRROR"
    rm -rf "$root"
    debootstrap --variant=minbase --include=ca-certificates,make \
        "$suite" "$root" "$MIRROR" > "$root.debootstrap.log" 2>&1 || {
        tail -n 30 "$root.debootstrap.log" >&2
        say "debootstrap failed; whole log: $root.debootstrap.log" >&2
        exit 1
    }
    # nothing started by package scripts inside the root (nginx's postinst
    # would start a server on port 80 in the host's network)
    printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
    chmod 755 "$root/usr/sbin/policy-rc.d"
    # the host's apt settings that matter here (no date checks on a
    # snapshot-pinned mirror, no AppStream)
    for f in /etc/apt/apt.conf.d/99*; do
        [ -f "$f" ] && cp "$f" "$root/etc/apt/apt.conf.d/"
    done
    printf 'deb %s %s main\n' "$MIRROR" "$suite" \
        > "$root/etc/apt/sources.list"
    touch "$root/.nitro-debootstrap-done"
    say "root made in $(( $(date +%s) - start )) s"
fi

# the working tree (minus build/ and .git) in $inner; the inner build/
# stays, so an unchanged file is not rebuilt (tar keeps mtimes)
dst="$root$inner"
mkdir -p "$dst"
find "$dst" -mindepth 1 -maxdepth 1 ! -name build -exec rm -rf {} +
(cd "$repo" && tar -cf - --exclude=./build --exclude=./.git \
    --exclude=__pycache__ --exclude=.pytest_cache .) | tar -xf - -C "$dst"

cmd="set -e
cd $inner
scripts/install-deps.sh test > /root/install-deps.log 2>&1 || {
    tail -n 30 /root/install-deps.log; exit 1; }
echo '== test-debian13: nginx -V'
nginx -V 2>&1
echo '== test-debian13: openssl version'
openssl version
echo '== test-debian13: make ${targets[*]}'
make ${targets[*]}"

say "make ${targets[*]} in ${root#"$repo"/} (tree copied to $inner)"
# unshare ignores SIGINT and SIGTERM while it waits: they are passed to
# the namespace's first process, whose trap stops and unmounts everything
unshare --mount --pid --fork --kill-child --propagation private \
    "$0" --inside "$cmd" &
ns=$!
stop_ns() {
    local pid1
    pid1=$(cat "/proc/$ns/task/$ns/children" 2>/dev/null || true)
    [ -z "$pid1" ] || kill -TERM $pid1 2>/dev/null || true
    interrupted=1
}
interrupted=0
trap stop_ns INT TERM HUP
while :; do
    rc=0
    wait $ns || rc=$?
    kill -0 $ns 2>/dev/null || break
done
trap - INT TERM HUP
[ $interrupted = 0 ] || rc=130
say "done in $(( $(date +%s) - start )) s, exit $rc"
exit $rc
