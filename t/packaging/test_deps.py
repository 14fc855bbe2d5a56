"""scripts/install-deps.sh: the Debian packages each make target installs.
make demo gets what scripts/demo.sh runs and none of the test tools, make
test gets every set; each target names the set it uses; every package
named is in the apt archive; and scripts/demo.sh, traced while it runs,
runs no program from a package outside its set."""

import os
import re
import subprocess

import pytest

from repo import REPO

INSTALL_DEPS = os.path.join(REPO, "scripts", "install-deps.sh")
SETS = ("build", "demo", "deb", "bench", "fuzz", "static", "test")
# what only the test suites use
TEST_TOOLS = {"chromium", "prometheus", "prometheus-node-exporter",
              "rsyslog", "python3-pytest",
              "python3-yaml", "python3-jwt", "python3-jsonschema", "socat"}
# the set each target that installs packages installs (make -n shows it)
TARGET_SETS = {
    "test": "test", "test-asan": "test", "test-load": "test",
    "deb": "deb", "fuzz": "fuzz", "bench": "bench", "static": "static",
    "bench-telemetry": "bench", "bench-handshake": "bench",
    "bench-cli": "bench", "bench-fleet": "bench", "bench-inventory": "bench",
    "bench-token": "bench", "bench-replay": "bench", "bench-audit": "bench",
}


def package_set(name):
    p = subprocess.run([INSTALL_DEPS, "--list", name], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    packages = p.stdout.split()
    assert packages and len(packages) == len(set(packages)), p.stdout
    return set(packages)


def invocations(path):
    """The argument words of each install-deps.sh call in a file's
    commands (comments left out), up to the first that is not a word."""
    calls = []
    with open(path) as f:
        for line in f:
            if line.lstrip().startswith("#"):
                continue
            for m in re.finditer(
                    r'install-deps\.sh"?((?:[ \t]+[a-z0-9][a-z0-9+.-]*)*)',
                    line):
                calls.append(m.group(1).split())
    return calls


def test_demo_set_is_the_build_and_what_the_demo_runs():
    demo = package_set("demo")
    assert not demo & TEST_TOOLS, demo & TEST_TOOLS
    assert package_set("build") <= demo
    assert {"nginx", "openssl", "curl"} <= demo
    # the demo's configuration is http only: no Debian stream module
    assert "libnginx-mod-stream" not in demo
    with open(os.path.join(REPO, "scripts", "demo.sh")) as f:
        conf = re.search(r"conf-examples/\S+\.conf", f.read()).group(0)
    with open(os.path.join(REPO, conf)) as f:
        assert not re.search(r"^\s*stream\s*\{", f.read(), re.M), conf


def test_build_set_has_no_test_tool():
    assert not package_set("build") & (TEST_TOOLS | {"python3"})


def test_test_set_holds_every_set_but_fuzz():
    test = package_set("test")
    assert TEST_TOOLS <= test
    for name in ("build", "demo", "deb", "bench", "static"):
        assert package_set(name) <= test, name
    # the stream suites and make deb's load test
    assert "libnginx-mod-stream" in test


def test_an_unknown_set_is_refused():
    for argv in (["--list", "nope"], ["nope"]):
        p = subprocess.run([INSTALL_DEPS] + argv, capture_output=True,
                           text=True, timeout=30)
        assert p.returncode != 0
        assert 'unknown set "nope"' in p.stderr


def fake_apt(tmp_path):
    """A PATH whose dpkg, dpkg-query and apt-get log what they are asked
    to do: nothing is installed, amd64 is the architecture, the foreign
    ones are those --add-architecture added."""
    bin_dir, log, foreign = tmp_path / "bin", tmp_path / "log", \
        tmp_path / "foreign"
    bin_dir.mkdir()
    scripts = {
        "dpkg-query": "exit 1",
        "id": "echo 0",
        "apt-get": 'echo "apt-get $*" >> %s' % log,
        "dpkg": """case "$1" in
--print-architecture) echo amd64 ;;
--print-foreign-architectures) cat %(f)s 2>/dev/null || true ;;
--add-architecture) echo "$2" >> %(f)s; echo "dpkg $*" >> %(log)s ;;
*) exit 2 ;;
esac""" % {"f": foreign, "log": log},
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text("#!/bin/sh\n%s\n" % body)
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ, PATH="%s:/usr/bin:/bin" % bin_dir)

    def run(set_name):
        log.write_text("")
        p = subprocess.run([INSTALL_DEPS, set_name], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return [line.split()[:3] for line in log.read_text().splitlines()]
    return run


def test_static_set_adds_the_arm64_architecture_once(tmp_path):
    run = fake_apt(tmp_path)
    # a set without arm64 packages leaves dpkg's architectures alone
    assert run("build") == [["apt-get", "update", "-qq"],
                            ["apt-get", "install", "-y"]]
    # the static set adds arm64 before apt-get update reads the indexes
    assert run("static") == [["dpkg", "--add-architecture", "arm64"],
                             ["apt-get", "update", "-qq"],
                             ["apt-get", "install", "-y"]]
    # and only once: now it is there
    assert run("static") == [["apt-get", "update", "-qq"],
                             ["apt-get", "install", "-y"]]


def own_make_env(**extra):
    """This environment without what an outer make passes to its children."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    env.update(extra)
    return env


def make_dry_run(target):
    """make -n -B TARGET's output: every command it would run (as a make
    of its own, not a sub-make of the make test that runs this, which would
    add its "Entering directory" lines and flags)."""
    p = subprocess.run(["make", "--no-print-directory", "-n", "-B", target],
                       cwd=REPO, env=own_make_env(), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("target", sorted(TARGET_SETS))
def test_make_target_installs_its_set(target):
    sets = [line.split()[1] if len(line.split()) > 1 else None
            for line in make_dry_run(target).splitlines()
            if line.startswith("scripts/install-deps.sh")]
    assert sets, target
    assert set(sets) == {TARGET_SETS[target]}, sets


def test_make_demo_installs_the_demo_set_only():
    # make demo runs scripts/demo.sh, which installs its set and builds
    assert make_dry_run("demo").split() == ["scripts/demo.sh"]
    calls = invocations(os.path.join(REPO, "scripts", "demo.sh"))
    assert calls == [["demo"]]


def test_build_sh_installs_the_build_set():
    # the Dockerfile's build stage: scripts/build.sh deb, then make deb
    # installs the packaging tools itself
    assert invocations(os.path.join(REPO, "scripts", "build.sh")) == \
        [["build"]]


def debian_codename():
    with open("/etc/os-release") as f:
        for line in f:
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    return ""


def named_packages():
    """Every package install-deps.sh installs: its sets, and the packages
    the Makefile and the scripts name after a set."""
    names = set()
    for s in SETS:
        names |= package_set(s)
    files = [os.path.join(REPO, "Makefile")] + [
        os.path.join(REPO, "scripts", f)
        for f in os.listdir(os.path.join(REPO, "scripts"))
        if f.endswith(".sh")]
    for path in files:
        for words in invocations(path):
            if words:
                assert words[0] in SETS, (path, words)
                names |= set(words[1:])
    return names


def test_every_package_named_is_in_the_archive():
    names = sorted(named_packages())
    assert "libasan8" in names and "debootstrap" in names
    assert "libssl-dev:arm64" in names
    if not any(f.endswith(("Packages", "Packages.lz4", "Packages.gz"))
               for f in os.listdir("/var/lib/apt/lists")):
        pytest.skip("no apt lists here (apt-get update)")
    # PACKAGE:ARCH is in apt's lists once install-deps.sh has added ARCH
    # to dpkg's architectures (make test's first step)
    archs = subprocess.run(
        "dpkg --print-architecture; dpkg --print-foreign-architectures",
        shell=True, capture_output=True, text=True).stdout.split()
    names = [n for n in names if n.partition(":")[2] in ("", *archs)]
    # make fuzz builds with clang 14, which Debian 12 has and Debian 13
    # does not: fuzzing is done on Debian 12
    if debian_codename() != "bookworm":
        fuzz_only = package_set("fuzz") - (set().union(
            *(package_set(s) for s in SETS if s != "fuzz")))
        names = [n for n in names if n not in fuzz_only]
    p = subprocess.run(["apt-cache", "madison"] + names,
                       capture_output=True, text=True, timeout=60)
    # "PACKAGE | VERSION | ARCHIVE-URL SUITE/COMPONENT ..." per version
    found = {line.split("|")[0].strip() for line in p.stdout.splitlines()
             if line.count("|") >= 2}
    assert set(names) - found == set(), p.stderr
    for name in names:
        p = subprocess.run(["apt-cache", "show", "--no-all-versions",
                            name], capture_output=True, text=True,
                           timeout=30)
        package, _, arch = name.partition(":")
        assert p.returncode == 0 and "Package: %s\n" % package in p.stdout, \
            (name, p.stderr)
        if arch:
            assert "Architecture: %s\n" % arch in p.stdout, name


# -- what scripts/demo.sh runs ----------------------------------------------

def essential_packages():
    """Packages a fresh Debian has: Essential, or of priority required."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${Essential} ${Priority}\n"],
        capture_output=True, text=True, check=True).stdout
    return {w[0] for w in (line.split() for line in out.splitlines())
            if len(w) == 3 and (w[1] == "yes" or w[2] == "required")}


def with_dependencies(packages):
    """packages and everything they depend on, recursively."""
    out = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends",
         "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
         "--no-enhances"] + sorted(packages),
        capture_output=True, text=True, check=True, timeout=120).stdout
    return {line.strip("<>") for line in out.splitlines()
            if line and not line[0].isspace()}


def owner(path):
    """The package that installed path (/usr merged: dpkg may know it by
    its /bin or /usr/bin name, or by the name it links to)."""
    real = os.path.realpath(path)
    candidates = [path, real]
    for p in (path, real):
        if p.startswith("/usr/"):
            candidates.append(p[4:])
        else:
            candidates.append("/usr" + p)
    for p in candidates:
        r = subprocess.run(["dpkg-query", "-S", p], capture_output=True,
                           text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].split(",")[0].strip()
    raise AssertionError("no package installed %s" % path)


# sh -x writes it before each command it runs; the commands of a pipeline
# trace at once, so their lines may interleave
TRACE = "<<demo-trace>> "


def traced_commands(stderr):
    """The command names of a sh -x trace, assignments left out."""
    names = set()
    for word in re.findall(re.escape(TRACE) + r"([^\s<]*)", stderr):
        if word and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
            names.add(word)
    return names


def test_demo_runs_only_programs_of_its_set():
    with open(os.path.join(REPO, "scripts", "demo.sh")) as f:
        functions = set(re.findall(r"^([a-z_]+)\(\) *\{", f.read(), re.M))
    p = subprocess.run(["sh", "-x", "scripts/demo.sh"], cwd=REPO,
                       env=own_make_env(PS4=TRACE),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    # it showed a served and a refused client
    assert "HTTP 200" in p.stdout and "(handshake refused)" in p.stdout, \
        p.stdout
    allowed = with_dependencies(package_set("demo")) | essential_packages()
    outside = {}
    names = traced_commands(p.stderr)
    assert {"openssl", "curl", "/usr/sbin/nginx"} <= names, names
    for name in sorted(names - functions):
        where = subprocess.run(["sh", "-c", 'command -v "$1"', "sh", name],
                               cwd=REPO, capture_output=True,
                               text=True).stdout.strip()
        assert where, "demo.sh runs %s, which is not here" % name
        if not where.startswith("/") and "/" not in where:
            continue        # a builtin of sh
        path = os.path.abspath(os.path.join(REPO, where))
        if path.startswith(str(REPO) + os.sep):
            continue        # the project's own scripts and build
        package = owner(path)
        if package not in allowed:
            outside[name] = package
    assert outside == {}, outside
