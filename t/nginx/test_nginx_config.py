"""Configuration of the module: what `nginx -t`
refuses and how it says so, the examples in conf-examples/, and reloads
with a good and with a broken policy."""

import glob
import json
import os
import ssl
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

import forge
import nginx
from clients import attested
from files import write
from forge import GOOD
from nginx import nginx_t, stream_main
from repo import AWS_ROOT, EXAMPLES

CONF_EXAMPLES = sorted(glob.glob(str(EXAMPLES / "*.conf")))

NEW = {0: bytes.fromhex("42" * 48), 1: bytes.fromhex("43" * 48),
       2: bytes.fromhex("44" * 48)}


def line_of(conf, needle):
    for i, line in enumerate(conf.text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


SERVER = """
server {
    listen 127.0.0.1:@port0@ ssl;
    %s
}
"""


def test_valid_configuration_passes(files):
    rc, out, _ = nginx_t(SERVER % (
        "nitro_attest on; nitro_attest_policy %s; "
        "nitro_attest_trusted_root %s; nitro_attest_max_age 90s; "
        "nitro_attest_clock_skew 5s; nitro_attest_binding user_data_sha256; "
        "nitro_attest_extension 1.3.6.1.4.1.99999.1 raw; "
        "nitro_attest_cache off; nitro_attest_event_log off; "
        "nitro_attest_upstream_headers off;" % (files["policy"],
                                                 files["root"])))
    assert rc == 0, out


def test_on_without_policy_fails_naming_the_directive(files):
    rc, out, conf = nginx_t(SERVER % "nitro_attest on;")
    assert rc != 0
    assert '"nitro_attest on" requires "nitro_attest_policy"' in out
    assert "%s:%d" % (conf, line_of(conf, "nitro_attest on;")) in out


def test_inherited_optional_without_policy_fails(files):
    rc, out, conf = nginx_t("nitro_attest optional;\n"
                            + SERVER % "")
    assert rc != 0
    assert '"nitro_attest optional" requires' in out
    assert "%s:%d" % (conf, line_of(conf, "nitro_attest optional;")) in out


def test_off_needs_no_policy(files):
    rc, out, _ = nginx_t(SERVER % "nitro_attest off;")
    assert rc == 0, out


@pytest.mark.parametrize("case,directive,needle", [
    ("bad_json", "nitro_attest_policy", "bad.json"),
    ("empty_allow", "nitro_attest_policy", "empty.json"),
    ("missing_policy", "nitro_attest_policy", "/nonexistent/policy.json"),
    ("missing_root", "nitro_attest_trusted_root", "/nonexistent/root.pem"),
    ("not_a_root", "nitro_attest_trusted_root", "bad.json"),
])
def test_unloadable_file_fails_naming_file_and_line(files, case, directive,
                                                    needle):
    path = {"bad_json": files["bad_json"],
            "empty_allow": files["empty_allow"],
            "missing_policy": "/nonexistent/policy.json",
            "missing_root": "/nonexistent/root.pem",
            "not_a_root": files["bad_json"]}[case]
    policy = files["policy"] if directive != "nitro_attest_policy" else path
    extra = ("nitro_attest_trusted_root %s;" % path
             if directive == "nitro_attest_trusted_root" else "")
    rc, out, conf = nginx_t(SERVER % (
        "nitro_attest on;\n    nitro_attest_policy %s;\n    %s"
        % (policy, extra)))
    assert rc != 0
    assert '"%s" directive: ' % directive in out, out
    assert needle in out, out
    line = line_of(conf, directive + " " + path)
    assert "in %s:%d" % (conf, line) in out, out


@pytest.mark.parametrize("directive,message", [
    ("nitro_attest maybe;", 'invalid value "maybe"'),
    ("nitro_attest_binding public_keys;",
     'invalid value "public_keys" in "nitro_attest_binding" directive'),
    ("nitro_attest_extension 1.3.6.x.1;",
     '"nitro_attest_extension" directive: invalid OID "1.3.6.x.1"'),
    ("nitro_attest_extension 1.3.6.1.5.5.7.1.35 der;",
     'invalid value "der" in "nitro_attest_extension" directive'),
    ("nitro_attest_max_age forever;",
     '"nitro_attest_max_age" directive invalid value'),
    ("nitro_attest_policy %(policy)s; nitro_attest_policy %(policy)s;",
     '"nitro_attest_policy" directive is duplicate'),
])
def test_bad_value_fails_naming_the_directive(files, directive, message):
    rc, out, conf = nginx_t(SERVER % (directive % files))
    assert rc != 0
    assert message in out, out
    assert conf + ":" in out


@pytest.mark.parametrize("directive,message", [
    ("nitro_attest_cache attest;",
     'invalid value "attest" in "nitro_attest_cache" directive'),
    ("nitro_attest_cache zone=attest;",
     'invalid value "zone=attest" in "nitro_attest_cache" directive'),
    ("nitro_attest_cache zone=attest:lots;",
     'invalid value "zone=attest:lots" in "nitro_attest_cache" directive'),
    ("nitro_attest_cache zone=attest:4k;",
     'zone "attest" of "nitro_attest_cache" is too small'),
])
def test_bad_cache_zone_fails_naming_the_directive(files, directive,
                                                   message):
    rc, out, conf = nginx_t(SERVER % directive)
    assert rc != 0
    assert message in out, out
    assert conf + ":" in out


def test_cache_directives_are_accepted(files):
    rc, out, _ = nginx_t("nitro_attest_chain_cache 16;\n"
                         + SERVER % "nitro_attest_cache zone=attest:1m;")
    assert rc == 0, out


@pytest.mark.parametrize("value", ["0", "-1", "many", "100000"])
def test_bad_chain_cache_size_fails(files, value):
    rc, out, _ = nginx_t("nitro_attest_chain_cache %s;\n" % value
                         + SERVER % "")
    assert rc != 0
    assert ('invalid value "%s" in "nitro_attest_chain_cache"' % value
            in out), out


def test_wrong_context_is_refused(files):
    rc, out, _ = nginx_t(SERVER % "location / { nitro_attest on; }")
    assert rc != 0 and '"nitro_attest" directive is not allowed here' in out


# ---------------------------------------------------------------------------
# conf-examples/: each passes nginx -t with its paths substituted.

def test_there_are_examples():
    names = {os.path.basename(p) for p in CONF_EXAMPLES}
    assert {"minimal.conf", "routing.conf", "forwarding.conf",
            "json-log.conf", "report-only.conf", "token.conf"} <= names


@pytest.mark.parametrize("path", CONF_EXAMPLES, ids=os.path.basename)
def test_example_passes_nginx_t(files, path):
    rc, out, _ = nginx_t(nginx.example(path, files["policy"], files["root"],
                                       files["token_key"]),
                         ports=2, raw=True)
    assert rc == 0, out


def test_forwarding_example_serves_headers_and_json_log(files, pki,
                                                        tmp_path):
    client = attested(str(tmp_path), "client", pki)
    n = nginx.Nginx(nginx.example(EXAMPLES / "forwarding.conf",
                                  files["policy"], files["root"]),
                    ports=2, raw=True)
    with n:
        ctx = client.ctx()
        resp, conn = nginx.get(n.ports[0], ctx, "enclave-api.example.com")
        conn.close()
        assert resp.status == 200, resp
        assert "X-Nitro-Attest-Status:      SUCCESS" in resp.text
        assert "X-Nitro-Attest-Policy:      payments-v42" in resp.text
        with pytest.raises((ssl.SSLError, ConnectionError)):
            nginx.get(n.ports[0], nginx.client_context(),
                      "enclave-api.example.com")
        with open(os.path.join(n.prefix, "logs",
                               "nitro-attest.json")) as f:
            lines = f.read().splitlines()
    entry = json.loads(lines[-1])
    assert entry["status"] == 200
    assert entry["attestation"]["status"] == "SUCCESS"
    assert entry["attestation"]["policy"] == "payments-v42"


# ---------------------------------------------------------------------------
# Reloads: a new policy takes effect; a broken one keeps the old serving.

def test_reload_with_good_then_broken_policy(files, pki, tmp_path):
    policy = write(str(tmp_path / "policy.json"),
                   forge.policy([("v1", GOOD)]))
    old_client, new_client = (
        attested(str(tmp_path), name, pki,
                 pcrs={**forge.default_pcrs(), **pcrs}).ctx()
        for name, pcrs in (("old", GOOD), ("new", NEW)))
    body = """
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name on.test;
        nitro_attest on;
        nitro_attest_policy %s;
        nitro_attest_trusted_root %s;
        location / { return 200 "policy=$nitro_attest_policy"; }
    }
    """ % (policy, files["root"])

    def outcome(ctx):
        try:
            resp, conn = nginx.get(n.ports[0], ctx, "on.test")
        except (ssl.SSLError, ConnectionError):
            return "refused"
        conn.close()
        return resp.text

    with nginx.Nginx(body) as n:
        assert outcome(old_client) == "policy=v1"
        assert outcome(new_client) == "refused"

        write(policy, forge.policy([("v2", NEW)]))
        n.reload()
        assert outcome(old_client) == "refused"
        assert outcome(new_client) == "policy=v2"

        write(policy, '{"allow": [{"name": "v3", "pcrs": {"0": "zz"}}]}')
        n.reload(expect_new_workers=False)
        log = n.log_text()
        assert '"nitro_attest_policy" directive: ' in log
        assert policy in log
        assert outcome(new_client) == "policy=v2"
        assert outcome(old_client) == "refused"


# ---------------------------------------------------------------------------
# nginx -t catches what would silently verify nothing, or refuse everyone.

OFF = ('"%s" in %s:%d has no effect: "nitro_attest" is off in this server, '
       'nothing is verified there')
UNUSED = ('"%s" in %s:%d has no effect: no server of the %s block has '
          '"nitro_attest on" or "optional", nothing is verified there')
HEADERS = '"nitro_attest_upstream_headers on" in %s:%d: %s, nothing is ' \
    'verified there: the upstream gets "X-Nitro-Attest-Status: NONE" only ' \
    '(the client\'s X-Nitro-Attest-* headers are still dropped)'
# what only a server that attests uses (the event log is not checked)
ATTEST_ONLY = [
    "nitro_attest_policy %(policy)s;",
    "nitro_attest_trusted_root %(aws_root)s;",
    "nitro_attest_max_age 90s;",
    "nitro_attest_clock_skew 5s;",
    "nitro_attest_binding user_data_sha256;",
    "nitro_attest_extension 1.3.6.1.4.1.99999.1 raw;",
    "nitro_attest_cache zone=offcache:1m;",
    "nitro_attest_reattest 1h;",
    "nitro_attest_token_issuer issuer.test;",
    "nitro_attest_token_lifetime 1m;",
]


def levels(out, level):
    return [line for line in out.splitlines() if "[%s]" % level in line]


def directive_lines(conf, directives):
    """(name, line) of each directive, as written in conf."""
    return [(d.split()[0], line_of(conf, d)) for d in directives]


@pytest.fixture(scope="module")
def paths(files):
    return dict(files, aws_root=str(AWS_ROOT))


@pytest.mark.parametrize("mode", ["nitro_attest off;", ""],
                         ids=["explicit", "default"])
def test_directives_in_a_server_that_does_not_attest_warn(paths, mode):
    directives = [d % paths for d in ATTEST_ONLY]
    rc, out, conf = nginx_t("""
    server {
        listen 127.0.0.1:@port0@ ssl;
        %s
        %s
        nitro_attest_event_log off;
    }""" % (mode, "\n        ".join(directives)))
    assert rc == 0, out
    warnings = levels(out, "warn")
    for name, line in directive_lines(conf, directives):
        assert any(OFF % (name, conf, line) in w for w in warnings), \
            (name, out)
    assert len(warnings) == len(directives), out


def test_an_off_server_inside_an_attesting_http_block_warns(paths):
    rc, out, conf = nginx_t("""
    nitro_attest on;
    nitro_attest_policy %(policy)s;
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name on.test;
    }
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name off.test;
        nitro_attest off;
        nitro_attest_max_age 1m;
    }""" % paths)
    assert rc == 0, out
    line = line_of(conf, "nitro_attest_max_age 1m;")
    assert [OFF % ("nitro_attest_max_age", conf, line) in w
            for w in levels(out, "warn")] == [True], out


def test_block_settings_inherited_by_servers_that_do_not_attest_are_quiet(
        paths):
    # http-level settings are shared defaults: they mean something as long
    # as one server attests, however many others do not
    rc, out, _ = nginx_t("""
    nitro_attest_policy %(policy)s;
    nitro_attest_max_age 90s;
    nitro_attest_upstream_headers on;
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name on.test;
        nitro_attest on;
    }
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name off.test;
        location / { return 204; }
    }""" % paths)
    assert rc == 0, out
    assert levels(out, "warn") == [], out


def test_block_settings_warn_when_no_server_attests(paths):
    directives = ["nitro_attest_policy %(policy)s;" % paths,
                  "nitro_attest_max_age 90s;"]
    rc, out, conf = nginx_t("""
    %s
    nitro_attest_upstream_headers on;
    server {
        listen 127.0.0.1:@port0@ ssl;
        location / { return 204; }
    }""" % "\n    ".join(directives))
    assert rc == 0, out
    warnings = levels(out, "warn")
    for name, line in directive_lines(conf, directives):
        assert any(UNUSED % (name, conf, line, "http") in w
                   for w in warnings), (name, out)
    why = 'no server of the http block has "nitro_attest on" or "optional"'
    line = line_of(conf, "nitro_attest_upstream_headers on;")
    assert any(HEADERS % (conf, line, why) in w for w in warnings), out
    assert len(warnings) == 3, out


def test_stream_server_and_block_that_do_not_attest_warn(paths):
    stream = """
    nitro_attest_clock_skew 5s;
    server {
        listen 127.0.0.1:@port1@ ssl;
        nitro_attest_policy %(policy)s;
        nitro_attest_event_log off;
        proxy_pass 127.0.0.1:9;
    }""" % paths
    rc, out, conf = nginx_t("", main=stream_main(stream), ports=2)
    assert rc == 0, out
    warnings = levels(out, "warn")
    policy = line_of(conf, "nitro_attest_policy")
    skew = line_of(conf, "nitro_attest_clock_skew")
    assert any(OFF % ("nitro_attest_policy", conf, policy) in w
               for w in warnings), out
    assert any(UNUSED % ("nitro_attest_clock_skew", conf, skew, "stream")
               in w for w in warnings), out
    assert len(warnings) == 2, out


def test_upstream_headers_in_a_server_that_does_not_attest_warn(paths):
    rc, out, conf = nginx_t("""
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name off.test;
        location /a/ { nitro_attest_upstream_headers on; return 204; }
        location /b/ {
            nitro_attest_upstream_headers on pcrs=0;
            location /b/c/ { return 204; }
        }
        location /d/ { nitro_attest_upstream_headers off; return 204; }
    }
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name on.test;
        nitro_attest on;
        nitro_attest_policy %(policy)s;
        location / { nitro_attest_upstream_headers on; return 204; }
    }""" % paths)
    assert rc == 0, out
    warnings = levels(out, "warn")
    why = '"nitro_attest" is off in this server'
    for needle in ("location /a/", "nitro_attest_upstream_headers on pcrs"):
        line = line_of(conf, needle)
        assert any(HEADERS % (conf, line, why) in w for w in warnings), \
            (needle, out)
    assert len(warnings) == 2, out


def self_signed_impostor():
    """CA:TRUE, issuer == subject, but signed by another key."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         "impostor root")])
    spec = forge.CertSpec(forge.now_ms() - forge.DAY_MS,
                          forge.now_ms() + 365 * forge.DAY_MS)
    cert = forge.issue(spec, name, forge.new_key().public_key(), name,
                       forge.new_key())
    return cert.public_bytes(serialization.Encoding.PEM)


NOT_A_ROOT = {
    "leaf": ("is not a CA certificate (no basicConstraints CA:TRUE): a leaf "
             "cannot anchor a chain, pin the self-signed root",
             lambda pki: forge.cert_pem(forge.client_cert(forge.new_key(),
                                                          None))),
    "intermediate": ("is not self-signed (its issuer is not its subject): "
                     "an intermediate cannot be pinned, pin the self-signed "
                     "root of its chain",
                     lambda pki: pki.by_name["zonal"].pem),
    "bad_self_signature": ("names itself as its issuer, but its signature "
                           "does not verify with its own key: it is not a "
                           "self-signed root",
                           lambda pki: self_signed_impostor()),
}


@pytest.fixture(scope="module")
def not_a_root(paths, pki):
    out = {}
    for kind, (_, make) in NOT_A_ROOT.items():
        path = os.path.join(paths["dir"], kind + ".pem")
        with open(path, "wb") as f:
            f.write(make(pki))
        out[kind] = path
    return out


@pytest.mark.parametrize("kind", sorted(NOT_A_ROOT))
@pytest.mark.parametrize("face", ["http", "stream"])
def test_trusted_root_must_be_a_self_signed_ca(paths, not_a_root, kind,
                                               face):
    server = """
        nitro_attest on;
        nitro_attest_policy %s;
        nitro_attest_trusted_root %s;""" % (paths["policy"], not_a_root[kind])
    if face == "http":
        rc, out, conf = nginx_t("""
    server {
        listen 127.0.0.1:@port0@ ssl;%s
    }""" % server)
    else:
        rc, out, conf = nginx_t("", ports=2, main=stream_main("""
    server {
        listen 127.0.0.1:@port1@ ssl;%s
        proxy_pass 127.0.0.1:9;
    }""" % server))
    assert rc != 0
    line = line_of(conf, "nitro_attest_trusted_root")
    expected = ('"nitro_attest_trusted_root" directive: the certificate in '
                '"%s" %s in %s:%d' % (not_a_root[kind], NOT_A_ROOT[kind][0],
                                      conf, line))
    assert any(expected in e for e in levels(out, "emerg")), out


@pytest.mark.parametrize("kind", sorted(NOT_A_ROOT))
def test_cli_refuses_a_root_that_is_not_a_self_signed_ca(nitro, pki,
                                                         not_a_root, kind):
    key = forge.new_key()
    doc = forge.document(pki, public_key=forge.spki_der(key))
    path = os.path.join(os.path.dirname(not_a_root[kind]), "doc.cose")
    with open(path, "wb") as f:
        f.write(doc.cose)
    run = nitro("verify", "--root", not_a_root[kind], path)
    assert run.code == 2, run.describe()
    assert run.stdout == "", run.describe()
    assert NOT_A_ROOT[kind][0] in run.stderr, run.describe()
    assert not_a_root[kind] in run.stderr, run.describe()


def test_a_root_other_than_aws_gets_one_notice_per_file(paths):
    servers = "".join("""
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name %s;
        nitro_attest on;
        nitro_attest_policy %s;
        nitro_attest_trusted_root %s;
    }""" % (name, paths["policy"], root)
        for name, root in (("a.test", paths["root"]),
                           ("b.test", paths["root"]),
                           ("c.test", paths["aws_root"])))
    rc, out, conf = nginx_t(servers)
    assert rc == 0, out
    notices = [n for n in levels(out, "notice") if " pins " in n]
    line = line_of(conf, "nitro_attest_trusted_root " + paths["root"])
    assert len(notices) == 1, out
    assert ('"nitro_attest_trusted_root" pins "%s", a root other than the '
            'AWS Nitro Enclaves root (a test PKI?): no real enclave\'s '
            'document verifies under it in %s:%d'
            % (paths["root"], conf, line)) in notices[0], out
    assert paths["aws_root"] not in out


def test_clean_configuration_gets_none_of_these(paths):
    stream = """
    server {
        listen 127.0.0.1:@port1@ ssl;
        nitro_attest on;
        nitro_attest_policy %(policy)s;
        nitro_attest_max_age 90s;
        proxy_pass 127.0.0.1:9;
    }""" % paths
    rc, out, _ = nginx_t("""
    nitro_attest_policy %(policy)s;
    nitro_attest_clock_skew 5s;
    server {
        listen 127.0.0.1:@port0@ ssl;
        nitro_attest on;
        nitro_attest_trusted_root %(aws_root)s;
        nitro_attest_max_age 90s;
        nitro_attest_binding public_key;
        nitro_attest_cache zone=clean:1m;
        nitro_attest_reattest 1h;
        nitro_attest_token_key %(token_key)s;
        nitro_attest_token_issuer issuer.test;
        location / {
            nitro_attest_upstream_headers on pcrs=0,1,2,8;
            return 204;
        }
    }""" % paths, main=stream_main(stream), ports=2)
    assert rc == 0, out
    assert levels(out, "warn") == [] and levels(out, "emerg") == [], out
    assert " pins " not in out and "nothing is verified" not in out, out


# ---------------------------------------------------------------------------
# map on a PCR: its 96-digit keys need map_hash_bucket_size 128.

def pcr_map(pcr0, bucket):
    return """
    %s
    map $nitro_attest_pcr0 $build {
        %s  v42;
        default  other;
    }
    server {
        listen 127.0.0.1:@port0@ ssl;
        server_name on.test;
        nitro_attest optional;
        nitro_attest_policy %%(policy)s;
        nitro_attest_trusted_root %%(root)s;
        location / { return 200 "build=$build"; }
    }""" % (bucket, pcr0.hex())


def test_map_on_a_pcr_without_a_bigger_bucket_fails_nginx_t(paths):
    # nginx's default bucket size is the CPU's cache line
    getconf = subprocess.run(["getconf", "LEVEL1_DCACHE_LINESIZE"],
                             stdout=subprocess.PIPE, text=True)
    line = int(getconf.stdout.strip() or 0) or 64
    if line >= 128:
        pytest.skip("the default map_hash_bucket_size is %d here" % line)
    rc, out, _ = nginx_t(pcr_map(GOOD[0], "") % paths)
    assert rc != 0
    assert ("could not build map_hash, you should increase "
            "map_hash_bucket_size: %d" % line) in out, out


def test_map_on_a_pcr_routes_with_map_hash_bucket_size_128(paths, pki,
                                                           tmp_path):
    good = attested(str(tmp_path), "good", pki)
    other = attested(str(tmp_path), "other", pki,
                     pcrs={**forge.default_pcrs(), 0: NEW[0]})
    body = pcr_map(forge.default_pcrs()[0], "map_hash_bucket_size 128;")
    with nginx.Nginx(body % paths) as n:
        for client, build in ((good, "v42"), (other, "other")):
            resp, conn = nginx.get(n.ports[0], client.ctx(), "on.test")
            conn.close()
            assert (resp.status, resp.text) == (200, "build=" + build)
        resp, conn = nginx.get(n.ports[0], nginx.client_context(), "on.test")
        conn.close()
        assert resp.text == "build=other"
