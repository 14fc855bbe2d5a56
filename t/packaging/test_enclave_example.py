"""conf-examples/enclave/, without a Docker engine or an enclave: its
Dockerfile is parsed (t/lib/dockerfile.py), the packages it
installs exist and provide every program its scripts run, and its image is
laid out in a scratch root from its COPY lines, where its entrypoint runs
for real: the tests' NSM emulator in place of /dev/nsm (t/lib/nsm.py), the
host's nginx, socat, python3 and curl in place of the image's (the same
Debian packages), and a TCP connection to an attested nginx server in
place of the vsock hop to the parent (EGRESS_TO, socat's target, is the
one setting that changes).  The application and curl reach the server
through the forwarder and through nginx, the egress proxy, while the
agent renews every 2 s: every call is served, and both ways present
new certificates as they come.
"""

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time

import pytest

import nginx
from dockerfile import copy_args, copy_into, parse_dockerfile
from nsm import CLI, EMU, emulator_env, emulator_policy
from repo import REPO

EXAMPLE = os.path.join(REPO, "conf-examples", "enclave")
DOCKERFILE = os.path.join(EXAMPLE, "Dockerfile")
ENTRYPOINT = "/usr/local/bin/enclave-entrypoint"
API_HOST = "api.example.com"
# the programs the example's scripts run, beside sh
PROGRAMS = ("nginx", "socat", "python3", "curl", "nitro-attest")
# Debian's PATH, as the image has it
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def stage():
    stages = parse_dockerfile(DOCKERFILE)
    assert len(stages) == 1, stages
    return stages[0]


def arg_default(stage, name):
    for args in stage.all("ARG"):
        key, _, value = args.partition("=")
        if key == name:
            return value
    raise AssertionError("no ARG %s" % name)


def expand(stage, text):
    """${NAME} of the stage's ARGs, at their defaults."""
    return re.sub(r"\$\{(\w+)\}", lambda m: arg_default(stage, m.group(1)),
                  text)


def static_archs():
    with open(os.path.join(REPO, "Makefile")) as f:
        return re.search(r"^STATIC_ARCHS\s*:=\s*(.*)$", f.read(),
                         re.M).group(1).split()


def installed_packages(stage):
    """The packages the RUN steps apt-get install."""
    out = []
    for run in stage.all("RUN"):
        for m in re.finditer(r"apt-get install ((?:[\w.+:=-]+ ?)+)", run):
            out += [w for w in m.group(1).split() if not w.startswith("-")]
    return out


# -- the recipe ---------------------------------------------------------------

def test_enclave_image_shape(stage):
    assert stage.base == "debian:bookworm-slim"
    assert json.loads(stage.one("ENTRYPOINT")) == [ENTRYPOINT]
    # the static nitro-attest of make static, of the architecture asked
    assert arg_default(stage, "NITRO_ATTEST_ARCH") in static_archs()
    copies = [copy_args(expand(stage, a)) for a in stage.all("COPY")]
    assert (None, ["nitro-attest-x86_64"], "/usr/local/bin/nitro-attest") \
        in copies
    # every other source is a file of the example's directory, the
    # build context beside the executable
    for source_stage, sources, _ in copies:
        assert source_stage is None
        for src in sources:
            if not src.startswith("nitro-attest-"):
                assert os.path.isfile(os.path.join(EXAMPLE, src)), src
    for script in ("entrypoint.sh", "client-curl.sh"):
        mode = os.stat(os.path.join(EXAMPLE, script)).st_mode
        assert mode & stat.S_IXUSR, script


def test_enclave_image_packages_provide_every_program(stage):
    """Each package is in the archive, and each program the scripts run
    comes from one of them (here, as installed on this machine)."""
    packages = installed_packages(stage)
    assert set(packages) >= {"nginx", "socat", "python3", "curl"}, packages
    for p in packages:
        shown = subprocess.run(["apt-cache", "show", p], capture_output=True,
                               text=True)
        assert shown.returncode == 0 and "Package: " in shown.stdout, p
    scripts = "".join(open(os.path.join(EXAMPLE, f)).read()
                      for f in ("entrypoint.sh", "client-curl.sh"))
    for program in PROGRAMS:
        assert re.search(r"\b%s\b" % program, scripts), program
        if program == "nitro-attest":
            continue
        path = shutil.which(program, path=SYSTEM_PATH)
        assert path, "%s is not installed here" % program
        owner = subprocess.run(["dpkg", "-S", path], capture_output=True,
                               text=True).stdout.split(":")[0]
        # python3-minimal: python3's own dependency
        assert any(owner == p or owner.startswith(p + "-")
                   for p in packages), (program, owner)


def test_enclave_readme_links_resolve():
    with open(os.path.join(EXAMPLE, "README.md")) as f:
        text = f.read()
    for target in re.findall(r"\]\(([^)\s#]+)", text):
        if "://" not in target:
            assert os.path.exists(os.path.join(EXAMPLE, target)), target


# -- the image, run ------------------------------------------------------------

def server_cert(directory):
    """A self-signed certificate for API_HOST: the server's, and the CA the
    enclave's clients trust."""
    cert = os.path.join(directory, "api.crt")
    key = os.path.join(directory, "api.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
         "/CN=" + API_HOST, "-addext", "subjectAltName=DNS:" + API_HOST,
         "-keyout", key, "-out", cert],
        check=True, capture_output=True)
    return cert, key


def lay_out(stage, context, root):
    """The image's files from its COPY lines (RUN's packages are this
    machine's)."""
    for args in stage.all("COPY"):
        _, sources, destination = copy_args(expand(stage, args))
        copy_into([os.path.join(context, s) for s in sources],
                  root + destination)


@pytest.fixture
def server(tmp_path):
    """The attested nginx the enclave calls: the emulator's mock root, a
    policy of its PCRs, nitro_attest_max_age 5s."""
    if not EMU.exists():
        pytest.fail("%s is missing: run `make build/nsm-emu.so` first" % EMU)
    pki = tmp_path / "pki"
    subprocess.run([str(CLI), "mock", "pki", str(pki)], check=True,
                   capture_output=True, timeout=60)
    env = emulator_env(tmp_path, pki)
    policy = emulator_policy(tmp_path, pki, env)
    cert, key = server_cert(str(tmp_path))
    body = """
    nitro_attest_trusted_root %(root)s;
    nitro_attest_policy %(policy)s;
    nitro_attest_max_age 5s;

    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name %(host)s;
        ssl_certificate %(cert)s;
        ssl_certificate_key %(key)s;
        nitro_attest on;
        location / {
            return 200 "$nitro_attest_status $nitro_attest_cert_sha256\\n";
        }
    }
    """ % dict(root=pki / "root.pem", policy=policy, host=API_HOST,
               cert=cert, key=key)
    n = nginx.Nginx(body).start()
    yield n, env, cert
    n.stop()


def test_enclave_entrypoint_runs_the_agent_beside_the_clients(
        stage, server, tmp_path):
    n, env, ca = server
    # the build context: the example's files and the static executable
    context = str(tmp_path / "context")
    shutil.copytree(EXAMPLE, context)
    static = os.path.join(REPO, "build", "static", "nitro-attest-x86_64")
    shutil.copy(static if os.path.exists(static) else str(CLI),
                os.path.join(context, "nitro-attest-x86_64"))
    root = str(tmp_path / "root")
    lay_out(stage, context, root)
    assert os.access(root + "/usr/local/bin/nitro-attest", os.X_OK)

    # the image's nitro-attest is static, and a static executable loads no
    # LD_PRELOAD library: the emulator needs the dynamic build of the same
    # sources in its place
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(str(CLI), bin_dir / "nitro-attest")

    # egress.conf where the image puts it, its paths in the scratch root
    # and its ports free ones; the server's CA instead of the system's
    proxy_port, egress_port = nginx.free_ports(2)
    conf = root + "/etc/nginx/nginx.conf"
    with open(conf) as f:
        text = f.read()
    for old, new in (("/run/", root + "/run/"),
                     ("/etc/ssl/certs/ca-certificates.crt", ca),
                     ("127.0.0.1:8080", "127.0.0.1:%d" % proxy_port),
                     ("127.0.0.1:8443", "127.0.0.1:%d" % egress_port)):
        assert old in text, old
        text = text.replace(old, new)
    with open(conf, "w") as f:
        f.write(text)
    os.makedirs(root + "/run")

    app = tmp_path / "app.sh"
    app.write_text("python3 %s/app/app.py && %s/app/client-curl.sh /\n"
                   % (root, root))
    run_env = dict(env,
                   PATH="%s:%s" % (bin_dir, SYSTEM_PATH),
                   CERT_DIR=root + "/run/nitro-attest",
                   RENEW_EVERY="2s",
                   EGRESS_PORT=str(egress_port),
                   # the parent's vsock-proxy, as TCP to the server
                   EGRESS_TO="TCP:127.0.0.1:%d" % n.ports[0],
                   NGINX_CONF=conf,
                   APP="sh %s" % app,
                   API_HOST=API_HOST, CA_FILE=ca,
                   PROXY_PORT=str(proxy_port),
                   INTERVAL="1", COUNT="8")
    pid_file = root + "/run/nginx.pid"
    # a session of its own: whatever it left running (the forwarder, the
    # agent) goes with it, even when it is killed; nginx, a daemon, has
    # its own and is stopped by its pid file
    proc = subprocess.Popen(["sh", root + ENTRYPOINT], env=run_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if os.path.exists(pid_file):
            with open(pid_file) as f:
                os.kill(int(f.read()), signal.SIGTERM)
    assert proc.returncode == 0, (stdout, stderr)

    lines = stdout.splitlines()
    direct = [line for line in lines if line.startswith("direct ")]
    proxied = [line for line in lines if line.startswith("proxy ")]
    assert len(direct) == len(proxied) == 8, lines
    for line in direct + proxied:
        assert re.fullmatch(r"(direct|proxy) 200 SUCCESS [0-9a-f]{64}",
                            line), line
    # curl, last: served too
    assert re.fullmatch(r"SUCCESS [0-9a-f]{64}", lines[-1]), lines
    # over 8 s of renewals every 2 s, both ways presented new certificates
    assert len({line.split()[-1] for line in direct}) >= 3, direct
    assert len({line.split()[-1] for line in proxied}) >= 2, proxied
    renewals = [line for line in stderr.splitlines()
                if "agent: renewed " in line]
    assert len(renewals) >= 4, stderr
    print("%d direct and %d proxied calls served, %d and %d certificates "
          "seen, %d renewals" % (len(direct), len(proxied),
                                 len({x.split()[-1] for x in direct}),
                                 len({x.split()[-1] for x in proxied}),
                                 len(renewals)))
    # the agent's reloads are nginx's: no --exec failed
    assert "--exec" not in stderr, stderr
    # nginx stopped with the enclave
    deadline = time.time() + 10
    while os.path.exists(pid_file) and time.time() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(pid_file)
