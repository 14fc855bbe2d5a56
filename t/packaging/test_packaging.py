"""The Debian packages `make deb` builds (debian/): what they install, their
control fields, and that the installed files work where Debian puts them:
nginx loads the modules from /usr/lib/nginx/modules (and through the
modules-available snippets, enabled in the order their postinst names them:
the stream module after Debian's libnginx-mod-stream), serves an attested
client with each, and the packaged CLI verifies a real AWS document.

`make deb` rebuilds only when debian/, the sources or the Makefile changed
(about 40 s on two cores); the packages are unpacked with `dpkg -x` into a
scratch root, nothing is installed on the machine.
NITRO_ATTEST_DEB_DIR=DIR tests the packages in DIR instead of building.
"""

import glob
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time

import pytest

import nginx
from debs import (CLI_PKG, DEBIAN_STREAM, DEBIAN_STREAM_SO, MODULE_PKG,
                  SNIPPET, SO, STREAM_PKG, STREAM_SNIPPET, STREAM_SO, arch,
                  changelog_version, debian_stream_postinst, enabled_links,
                  postinst)
from nsm import EMU, emulator_env
from repo import REAL, REPO

ABI_SUBSTVARS = "/usr/share/nginx/src/debian/libnginx-mod.abisubstvars"
REAL_DOC = str(REAL / "turnkey_prod_2025-05-05.cose")
# the agent's service (nitro-attest agent), shipped disabled
# (debhelper installs units under /lib on Debian 12, /usr/lib on Debian 13)
AGENT_UNITS = ("lib/systemd/system/nitro-attest-agent.service",
               "usr/lib/systemd/system/nitro-attest-agent.service")
AGENT_DEFAULT = "etc/default/nitro-attest-agent"


def field(deb, name):
    return subprocess.run(["dpkg-deb", "-f", deb, name], check=True,
                          capture_output=True, text=True).stdout.strip()


def contents(deb):
    out = subprocess.run(["dpkg-deb", "-c", deb], check=True,
                         capture_output=True, text=True).stdout
    return sorted(line.split()[-1].lstrip(".") for line in out.splitlines()
                  if not line.startswith("d"))


def nginx_abi():
    with open(ABI_SUBSTVARS) as f:
        for line in f:
            if line.startswith("nginx:abi="):
                return line.split("=", 1)[1].strip()
    raise AssertionError("no nginx:abi in " + ABI_SUBSTVARS)


def nginx_version():
    """The upstream version of the system nginx (1.22.1 on Debian 12)."""
    p = subprocess.run([nginx.NGINX, "-v"], capture_output=True, text=True)
    return re.search(r"nginx/(\S+)", p.stderr).group(1)


def depends(deb):
    return [d.strip() for d in field(deb, "Depends").split(",")]


# -- what the packages hold -------------------------------------------------

def test_module_package_files(debs):
    doc = "/usr/share/doc/%s/" % MODULE_PKG
    files = contents(debs[MODULE_PKG])
    for path in ("/" + SO, "/" + SNIPPET, doc + "copyright",
                 doc + "changelog.gz"):
        assert path in files
    assert doc + "README.md" in files or doc + "README.md.gz" in files
    assert doc + "SECURITY.md" in files or doc + "SECURITY.md.gz" in files
    # the reference the README links to, every file of docs/ (dh_compress
    # gzips the larger ones), in docs/ beside it as in the source tree
    shipped = {os.path.relpath(f, doc + "docs")
               for f in files if f.startswith(doc + "docs/")}
    shipped = {f[:-3] if f.endswith(".gz") else f for f in shipped}
    wanted = {os.path.relpath(f, os.path.join(REPO, "docs"))
              for f in glob.glob(os.path.join(REPO, "docs", "**"),
                                 recursive=True) if os.path.isfile(f)}
    assert "directives.md" in wanted and "dashboard.png" in wanted
    assert shipped == wanted
    examples = {os.path.relpath(f, doc + "examples").replace(".gz", "")
                for f in files if f.startswith(doc + "examples/")}
    wanted = {os.path.relpath(f, os.path.join(REPO, "conf-examples"))
              for f in glob.glob(os.path.join(REPO, "conf-examples", "**"),
                                 recursive=True) if os.path.isfile(f)}
    assert examples == wanted
    extra = [f for f in files if f not in ("/" + SO, "/" + SNIPPET)
             and not f.startswith(doc)]
    assert extra == []


def test_stream_package_files(debs):
    doc = "/usr/share/doc/%s/" % STREAM_PKG
    # like Debian's libnginx-mod-stream-* packages: the .so and its snippet
    assert contents(debs[STREAM_PKG]) == sorted([
        "/" + STREAM_SO,
        "/" + STREAM_SNIPPET,
        doc + "changelog.gz",
        doc + "copyright",
    ])
    # the http package does not carry the stream module, nor the reverse
    assert "/" + STREAM_SO not in contents(debs[MODULE_PKG])


def agent_unit(root):
    """The agent's unit in the unpacked package."""
    found = [p for p in AGENT_UNITS if os.path.exists(os.path.join(root, p))]
    assert len(found) == 1, found
    return os.path.join(root, found[0])


def test_cli_package_files(debs):
    files = contents(debs[CLI_PKG])
    unit = [f for f in files if f.lstrip("/") in AGENT_UNITS]
    assert len(unit) == 1, files
    assert files == sorted([
        "/" + AGENT_DEFAULT,
        unit[0],
        "/usr/bin/nitro-attest",
        "/usr/share/doc/%s/changelog.gz" % CLI_PKG,
        "/usr/share/doc/%s/copyright" % CLI_PKG,
        "/usr/share/man/man1/nitro-attest.1.gz",
    ])


def test_snippet_loads_the_module_by_debian_path(root):
    with open(os.path.join(root, SNIPPET)) as f:
        assert f.read() == \
            "load_module modules/ngx_http_nitro_attest_module.so;\n"
    assert os.stat(os.path.join(root, SO)).st_mode & 0o777 == 0o644
    assert os.access(os.path.join(root, "usr/bin/nitro-attest"), os.X_OK)


def test_stream_snippet_loads_the_stream_module_by_debian_path(root):
    with open(os.path.join(root, STREAM_SNIPPET)) as f:
        assert f.read() == \
            "load_module modules/ngx_stream_nitro_attest_module.so;\n"
    assert os.stat(os.path.join(root, STREAM_SO)).st_mode & 0o777 == 0o644


# -- what the modules export ------------------------------------------------

# nginx's loader reads these from every dynamic module (dlsym)
LOADER_SYMBOLS = {"ngx_modules", "ngx_module_names", "ngx_module_order"}
# the zone tags, shared so that http and stream find the same zones
SHARED_TAGS = {"ngx_nitro_attest_counters_tag", "ngx_nitro_attest_cache_tag",
               "ngx_nitro_attest_inventory_tag",
               "ngx_nitro_attest_rollback_tag"}


def exported(so):
    """The names a .so exports (nm -D --defined-only), without the ODR
    indicators (__odr_asan.NAME) an ASan build adds for each of them."""
    out = subprocess.run(["nm", "-D", "--defined-only", so], check=True,
                         capture_output=True, text=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    return {n for n in names if not n.startswith("__odr_asan.")}


def check_exports(so, module):
    """The module's ngx_module_t and the loader's symbols exported; of the
    core (nitro_attest_*, na_*) and the glue (ngx_nitro_attest_*, the
    protocol faces' functions) only the shared zone tags."""
    names = exported(so)
    assert LOADER_SYMBOLS | {module} <= names, (so, sorted(names))
    ours = {n for n in names if "nitro_attest" in n or n.startswith("na_")}
    assert ours == SHARED_TAGS | {module}, (so, sorted(ours))


@pytest.mark.parametrize("so,module", [
    (nginx.MODULE, "ngx_http_nitro_attest_module"),
    (nginx.STREAM_MODULE, "ngx_stream_nitro_attest_module"),
])
def test_built_module_exports_its_module(so, module):
    check_exports(so, module)


def test_packaged_modules_export_their_module(root):
    check_exports(os.path.join(root, SO), "ngx_http_nitro_attest_module")
    check_exports(os.path.join(root, STREAM_SO),
                  "ngx_stream_nitro_attest_module")


def module_depends(debs, package):
    """The control fields both module packages share; their Depends."""
    deb = debs[package]
    assert field(deb, "Package") == package
    assert field(deb, "Version") == changelog_version()
    assert field(deb, "Architecture") == arch()
    assert field(deb, "Section") == "httpd"
    assert field(deb, "Suggests") == CLI_PKG
    deps = depends(deb)
    # the ABI the system nginx was built with: apt refuses the module on
    # an nginx it cannot load into
    assert nginx_abi() in deps
    assert any(d.startswith("libcbor") for d in deps), deps
    assert any(d.startswith("libjansson") for d in deps), deps
    return deps


def test_module_control_fields(debs):
    deps = module_depends(debs, MODULE_PKG)
    # the http module needs no stream module
    assert not any(d.startswith(DEBIAN_STREAM) for d in deps), deps


def test_stream_control_fields(debs):
    deps = module_depends(debs, STREAM_PKG)
    # it runs inside ngx_stream_module.so of the nginx it was built for
    version = nginx_version()
    assert "%s (>= %s)" % (DEBIAN_STREAM, version) in deps, deps
    assert "%s (<< %s.1~)" % (DEBIAN_STREAM, version) in deps, deps
    # an installed libnginx-mod-stream satisfies it
    installed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", DEBIAN_STREAM],
        capture_output=True, text=True).stdout
    assert installed.startswith(version + "-"), installed


def test_cli_control_fields(debs):
    deb = debs[CLI_PKG]
    assert field(deb, "Package") == CLI_PKG
    assert field(deb, "Version") == changelog_version()
    depends = field(deb, "Depends")
    assert "libssl3" in depends
    # the CLI runs in enclave images and CI: no nginx
    assert "nginx" not in depends


def test_maintainer_scripts_enable_the_module(debs, tmp_path):
    text = postinst(debs[MODULE_PKG], tmp_path)
    # dh_nginx: modules-enabled/50-<snippet> -> modules-available/<snippet>
    assert enabled_links(text) == {
        "mod-http-nitro-attest.conf": "50-mod-http-nitro-attest.conf"}
    assert "/etc/nginx/modules-enabled/" in text
    assert os.path.exists(tmp_path / "prerm")


def test_maintainer_scripts_enable_the_stream_module_after_mod_stream(
        debs, tmp_path):
    text = postinst(debs[STREAM_PKG], tmp_path)
    # 70-, as Debian's libnginx-mod-stream-geoip: nginx.conf includes
    # modules-enabled/*.conf in name order, and Debian's stream module is
    # 50-mod-stream.conf
    ours = enabled_links(text)
    assert ours == {
        "mod-stream-nitro-attest.conf": "70-mod-stream-nitro-attest.conf"}
    debian = enabled_links(debian_stream_postinst())
    assert list(debian) == ["mod-stream.conf"], debian
    names = [debian["mod-stream.conf"],
             ours["mod-stream-nitro-attest.conf"]]
    assert sorted(names) == names
    assert "/etc/nginx/modules-enabled/" in text
    assert os.path.exists(tmp_path / "prerm")


# -- the agent's systemd unit -------------------------------------------------

def unit_entries(path):
    """[(section, key, value)] of a systemd unit file, in order."""
    out, section = [], None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                assert line.endswith("]"), line
                section = line[1:-1]
                continue
            key, eq, value = line.partition("=")
            assert eq and section, line
            out.append((section, key.strip(), value.strip()))
    return out


def unit_value(entries, section, key):
    values = [v for s, k, v in entries if (s, k) == (section, key)]
    assert len(values) == 1, (section, key, values)
    return values[0]


def test_cli_package_ships_the_agent_service_disabled(debs, tmp_path):
    """dh_installsystemd's postinst only keeps an admin's enabling: the
    package itself enables and starts nothing; /etc/default's file is a
    conffile of comments only, so the unit's defaults hold until edited."""
    text = postinst(debs[CLI_PKG], tmp_path)
    assert "nitro-attest-agent.service" in text
    for line in text.splitlines():
        assert "deb-systemd-invoke" not in line, line
        assert "systemctl" not in line or "daemon-reload" in line, line
    code = [line for line in text.splitlines()
            if not line.strip().startswith("#")]
    for i, line in enumerate(code):
        if "deb-systemd-helper enable" in line:
            assert "was-enabled" in code[i - 1], code[i - 1:i + 1]
    with open(tmp_path / "conffiles") as f:
        assert f.read().split() == ["/" + AGENT_DEFAULT]


def test_agent_default_file_is_comments(root):
    with open(os.path.join(root, AGENT_DEFAULT)) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    assert lines and all(line.startswith("#") for line in lines)
    # each variable the unit reads is shown there
    entries = unit_entries(agent_unit(root))
    text = "\n".join(lines)
    for name in unit_environment(entries):
        assert "#%s=" % name in text, name


def unit_environment(entries):
    """The unit's Environment= defaults, name -> value."""
    out = {}
    for section, key, value in entries:
        if (section, key) == ("Service", "Environment"):
            for word in shlex.split(value):
                name, _, v = word.partition("=")
                out[name] = v
    return out


def test_agent_unit_shape(root):
    entries = unit_entries(agent_unit(root))
    assert unit_value(entries, "Service", "Type") == "simple"
    assert unit_value(entries, "Install", "WantedBy") == "multi-user.target"
    assert unit_value(entries, "Service", "ExecReload") == \
        "/bin/kill -HUP $MAINPID"
    assert unit_value(entries, "Service", "EnvironmentFile") == \
        "-/" + AGENT_DEFAULT
    start = unit_value(entries, "Service", "ExecStart").split()
    assert start[:2] == ["/usr/bin/nitro-attest", "agent"], start
    # the NSM's device stays visible
    assert ("Service", "PrivateDevices", "yes") not in entries


def test_agent_unit_passes_systemd_analyze_verify(root, tmp_path):
    """systemd-analyze verify, with the unit's binary and manual page
    taken from the unpacked package (they are not installed here)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the unit was parsed "
                    "by test_agent_unit_shape)")
    with open(agent_unit(root)) as f:
        text = f.read()
    unit = tmp_path / "nitro-attest-agent.service"
    unit.write_text(text.replace(
        "/usr/bin/nitro-attest", os.path.join(root, "usr/bin/nitro-attest")))
    p = subprocess.run([analyze, "verify", str(unit)], capture_output=True,
                       text=True, timeout=120,
                       env=dict(os.environ, MANPATH=os.path.join(
                           root, "usr/share/man")))
    assert p.returncode == 0 and p.stderr == "" and p.stdout == "", p


def systemd_command(line, env):
    """ExecStart's argv as systemd expands it: "${NAME}" one word (empty
    too), a word "$NAME" the value's words."""
    argv = []
    for word in shlex.split(line):
        m = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if m:
            argv += env.get(m.group(1), "").split()
        else:
            argv.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                               lambda m: env.get(m.group(1), ""), word))
    return argv


@pytest.mark.parametrize("settings", ["defaults", "edited"])
def test_agent_unit_command_runs_the_packaged_agent(root, tmp_path,
                                                    settings):
    """The unit's ExecStart, expanded as systemd would with its defaults
    (DIR moved into a scratch directory) or an edited /etc/default file,
    runs the packaged agent in front of the tests' NSM emulator: a
    renewal, another on ExecReload's SIGHUP, exit 0 on SIGTERM."""
    if not EMU.exists():
        pytest.fail("%s is missing: run `make build/nsm-emu.so`" % EMU)
    cli = os.path.join(root, "usr/bin/nitro-attest")
    subprocess.run([cli, "mock", "pki", str(tmp_path / "pki")], check=True,
                   capture_output=True, timeout=60)
    entries = unit_entries(agent_unit(root))
    env = unit_environment(entries)
    certs = tmp_path / "certs"
    env["NITRO_ATTEST_AGENT_DIR"] = str(certs)
    mark = tmp_path / "exec"
    if settings == "edited":
        env.update(NITRO_ATTEST_AGENT_EVERY="1h",
                   NITRO_ATTEST_AGENT_EXEC="echo renewed >> %s" % mark,
                   NITRO_ATTEST_AGENT_OPTIONS="--key-type p384 "
                   "--binding user_data_sha256")
    argv = systemd_command(unit_value(entries, "Service", "ExecStart"), env)
    argv[0] = cli
    log = tmp_path / "agent.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, env=emulator_env(tmp_path,
                                                       tmp_path / "pki"),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)

    def renewals(n):
        deadline = time.time() + 20
        while time.time() < deadline:
            lines = [line for line in log.read_text().splitlines()
                     if " renewed " in line]
            if len(lines) >= n:
                return lines
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        raise AssertionError(log.read_text())

    def ran(n):
        deadline = time.time() + 20
        while settings == "edited" and time.time() < deadline:
            if mark.exists() and mark.read_text().count("\n") >= n:
                return
            time.sleep(0.05)

    try:
        renewals(1)
        ran(1)
        proc.send_signal(signal.SIGHUP)
        renewals(2)
        ran(2)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()
    assert sorted(os.listdir(certs)) == [
        "bundle.pem", "cert.pem", "key.pem", "status.json"]
    with open(certs / "status.json") as f:
        status = json.load(f)
    assert status["failures"] == 0
    assert os.path.exists(mark) == (settings == "edited")
    if settings == "edited":
        assert mark.read_text() == "renewed\nrenewed\n"
        key = subprocess.run(["openssl", "pkey", "-in", certs / "key.pem",
                              "-noout", "-text"], capture_output=True,
                             text=True, check=True).stdout
        assert "P-384" in key


# -- what nginx and the CLI do with them ------------------------------------

def nginx_t(conf_text, directory, prefix=None):
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(conf_text)
    argv = [nginx.NGINX, "-t", "-c", conf, "-g",
            "pid %s/nginx.pid; error_log stderr;" % directory]
    if prefix:
        argv[1:1] = ["-p", prefix]
    return subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=30)


@pytest.fixture(scope="module")
def enclave(root, tmp_path_factory):
    """A mock PKI, an attested client and a policy for it, made by the
    packaged CLI."""
    d = str(tmp_path_factory.mktemp("enclave"))
    cli = os.path.join(root, "usr/bin/nitro-attest")
    pcrs = {0: "a0" * 48, 1: "a1" * 48, 2: "a2" * 48}
    subprocess.run([cli, "mock", "pki", d + "/pki"], check=True)
    subprocess.run([cli, "mock", "cert", "--pki", d + "/pki"]
                   + sum((["--pcr", "%d=%s" % kv] for kv in pcrs.items()),
                         [])
                   + ["--out-key", d + "/client.key",
                      "--out-cert", d + "/client.pem"], check=True)
    with open(d + "/policy.json", "w") as f:
        json.dump({"allow": [{"name": "packaged-v1", "pcrs": {
            str(i): h for i, h in pcrs.items()}}]}, f)
    return d


HTTP_REPLY = ('location / { return 200 '
              '"$nitro_attest_status $nitro_attest_policy"; }')
# stream: the verdict as the first line the client reads
STREAM_REPLY = 'return "$nitro_attest_status $nitro_attest_policy\\n";'


def server_block(enclave, cert="@cert@", key="@key@", port="@port0@",
                 reply=HTTP_REPLY):
    """An attested server, for http {} or (reply=STREAM_REPLY) stream {}."""
    return """
    server {
        listen 127.0.0.1:%s ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate %s;
        ssl_certificate_key %s;
        access_log off;
        nitro_attest on;
        nitro_attest_policy %s/policy.json;
        nitro_attest_trusted_root %s/pki/root.pem;
        %s
    }
""" % (port, cert, key, enclave, enclave, reply)


def test_nginx_loads_the_packaged_module(root, enclave, tmp_path):
    cert, key = nginx.server_cert(str(tmp_path))
    p = nginx_t("load_module %s/%s;\nevents { }\nhttp {%s}\n" % (
        root, SO, server_block(enclave, cert, key, "8443")), str(tmp_path))
    assert p.returncode == 0, p.stdout
    assert "test is successful" in p.stdout


def test_nginx_loads_the_module_through_the_snippet(root, enclave,
                                                    tmp_path):
    # the snippet names modules/ relative to the prefix, as Debian's nginx
    # resolves it (/usr/share/nginx/modules -> /usr/lib/nginx/modules)
    cert, key = nginx.server_cert(str(tmp_path))
    p = nginx_t("include %s/%s;\nevents { }\nhttp {%s}\n" % (
        root, SNIPPET, server_block(enclave, cert, key, "8443")),
        str(tmp_path), prefix=os.path.join(root, "usr/lib/nginx") + "/")
    assert p.returncode == 0, p.stdout


def test_packaged_module_serves_an_attested_client(root, enclave):
    n = nginx.Nginx("load_module %s/%s;\nevents { }\nhttp {%s}\n" % (
        root, SO, server_block(enclave)), raw=True)
    try:
        n.start()
        ctx = nginx.client_context(enclave + "/client.pem",
                                   enclave + "/client.key")
        c = nginx.Connection(n.ports[0], ctx, sni="localhost")
        r = c.request("localhost")
        assert (r.status, r.text) == (200, "SUCCESS packaged-v1")
        with pytest.raises(OSError):
            nginx.Connection(n.ports[0], nginx.client_context(n.cert, n.key),
                             sni="localhost").request("localhost")
    finally:
        n.stop()


def test_nginx_loads_both_modules_through_modules_enabled(
        installed, enclave, tmp_path):
    enabled, prefix = installed
    assert sorted(os.listdir(enabled)) == [
        "50-mod-http-nitro-attest.conf", "50-mod-stream.conf",
        "70-mod-stream-nitro-attest.conf"]
    cert, key = nginx.server_cert(str(tmp_path))
    p = nginx_t("include %s/*.conf;\nevents { }\nhttp {%s}\nstream {%s}\n"
                % (enabled, server_block(enclave, cert, key, "8443"),
                   server_block(enclave, cert, key, "8444", STREAM_REPLY)),
                str(tmp_path), prefix=prefix)
    assert p.returncode == 0, p.stdout
    assert "test is successful" in p.stdout


def test_stream_module_needs_mod_stream_first(root, tmp_path):
    # why the 70-: loaded before ngx_stream_module.so, nginx refuses it
    p = nginx_t("load_module %s/%s;\nload_module /%s;\nevents { }\n" % (
        root, STREAM_SO, DEBIAN_STREAM_SO), str(tmp_path))
    assert p.returncode != 0, p.stdout
    assert "undefined symbol: ngx_stream_" in p.stdout, p.stdout


def test_packaged_stream_module_serves_an_attested_client(root, enclave):
    n = nginx.Nginx(
        "load_module /%s;\nload_module %s/%s;\nevents { }\nstream {%s}\n"
        % (DEBIAN_STREAM_SO, root, STREAM_SO,
           server_block(enclave, reply=STREAM_REPLY)), raw=True)
    try:
        n.start()
        ctx = nginx.client_context(enclave + "/client.pem",
                                   enclave + "/client.key")
        raw = socket.create_connection(("127.0.0.1", n.ports[0]), 5)
        with ctx.wrap_socket(raw) as s:
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(256)
                if not chunk:
                    break
                data += chunk
        assert data == b"SUCCESS packaged-v1\n"
        # a client without an attestation fails the handshake
        with pytest.raises(OSError):
            raw = socket.create_connection(("127.0.0.1", n.ports[0]), 5)
            try:
                with nginx.client_context(n.cert, n.key).wrap_socket(
                        raw) as s:
                    if not s.recv(256):
                        raise ConnectionResetError("closed")
            finally:
                raw.close()
    finally:
        n.stop()


def test_packaged_cli_verifies_a_real_document(root):
    p = subprocess.run([os.path.join(root, "usr/bin/nitro-attest"), "verify",
                        "--at", "document", "--allow-debug", REAL_DOC],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    event = json.loads(p.stdout)
    assert event["status"] == "SUCCESS"
    assert event["module_id"]


def test_built_in_place_leaves_the_tree_clean():
    # debhelper output stays under build/deb/
    for name in ("debian/.debhelper", "debian/tmp", "debian/files",
                 "debian/cli", "debian/module",
                 "debian/debhelper-build-stamp",
                 "obj-" + subprocess.run(
                     ["dpkg-architecture", "-qDEB_HOST_GNU_TYPE"],
                     capture_output=True, text=True).stdout.strip()):
        assert not os.path.exists(os.path.join(REPO, name)), name
    assert not glob.glob(os.path.join(REPO, "debian", "*.substvars"))
    assert not glob.glob(os.path.join(os.path.dirname(REPO), "*.deb"))
