"""Configuration of the module (CONTRACT section 4): what `nginx -t`
refuses and how it says so, the examples in conf-examples/, and reloads
with a good and with a broken policy."""

import glob
import json
import os
import re
import ssl

import pytest

import forge
import nginx
import tokens

EXAMPLES = sorted(glob.glob(os.path.join(nginx.REPO, "conf-examples",
                                         "*.conf")))
GOOD = {i: forge.default_pcrs()[i] for i in (0, 1, 2)}
NEW = {0: bytes.fromhex("42" * 48), 1: bytes.fromhex("43" * 48),
       2: bytes.fromhex("44" * 48)}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, pki):
    d = str(tmp_path_factory.mktemp("nginx-config"))
    out = {"dir": d, "root": pki.root_pem}
    out["policy"] = write(os.path.join(d, "policy.json"),
                          forge.policy([("payments-v42", GOOD)]))
    out["bad_json"] = write(os.path.join(d, "bad.json"), '{"allow": [')
    out["empty_allow"] = write(os.path.join(d, "empty.json"),
                               '{"allow": []}')
    out["token_key"] = write(os.path.join(d, "token-key.pem"), tokens.key_pem(
        tokens.new_key("p256")).decode())
    return out


class Conf(str):
    """The path of a generated nginx.conf, with its text."""


def nginx_t(files, body):
    """(exit status, output, Conf) of nginx -t on a generated config."""
    n = nginx.Nginx(body)
    try:
        p = n.test_config()
        conf = Conf(n.conf)
        with open(n.conf) as f:
            conf.text = f.read()
        return p.returncode, p.stdout, conf
    finally:
        n.stop()


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
    rc, out, _ = nginx_t(files, SERVER % (
        "nitro_attest on; nitro_attest_policy %s; "
        "nitro_attest_trusted_root %s; nitro_attest_max_age 90s; "
        "nitro_attest_clock_skew 5s; nitro_attest_binding user_data_sha256; "
        "nitro_attest_extension 1.3.6.1.4.1.99999.1 raw; "
        "nitro_attest_cache off; nitro_attest_event_log off; "
        "nitro_attest_upstream_headers off;" % (files["policy"],
                                                 files["root"])))
    assert rc == 0, out


def test_on_without_policy_fails_naming_the_directive(files):
    rc, out, conf = nginx_t(files, SERVER % "nitro_attest on;")
    assert rc != 0
    assert '"nitro_attest on" requires "nitro_attest_policy"' in out
    assert "%s:%d" % (conf, line_of(conf, "nitro_attest on;")) in out


def test_inherited_optional_without_policy_fails(files):
    rc, out, conf = nginx_t(files, "nitro_attest optional;\n"
                            + SERVER % "")
    assert rc != 0
    assert '"nitro_attest optional" requires' in out
    assert "%s:%d" % (conf, line_of(conf, "nitro_attest optional;")) in out


def test_off_needs_no_policy(files):
    rc, out, _ = nginx_t(files, SERVER % "nitro_attest off;")
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
    rc, out, conf = nginx_t(files, SERVER % (
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
    rc, out, conf = nginx_t(files, SERVER % (directive % files))
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
    rc, out, conf = nginx_t(files, SERVER % directive)
    assert rc != 0
    assert message in out, out
    assert conf + ":" in out


def test_cache_directives_are_accepted(files):
    rc, out, _ = nginx_t(files, "nitro_attest_chain_cache 16;\n"
                         + SERVER % "nitro_attest_cache zone=attest:1m;")
    assert rc == 0, out


@pytest.mark.parametrize("value", ["0", "-1", "many", "100000"])
def test_bad_chain_cache_size_fails(files, value):
    rc, out, _ = nginx_t(files, "nitro_attest_chain_cache %s;\n" % value
                         + SERVER % "")
    assert rc != 0
    assert ('invalid value "%s" in "nitro_attest_chain_cache"' % value
            in out), out


def test_wrong_context_is_refused(files):
    rc, out, _ = nginx_t(files, SERVER % "location / { nitro_attest on; }")
    assert rc != 0 and '"nitro_attest" directive is not allowed here' in out


# ---------------------------------------------------------------------------
# conf-examples/: each passes nginx -t with its paths substituted.

def example_text(path, policy, root, token_key=None):
    with open(path) as f:
        text = f.read()
    if token_key:
        text = text.replace("/etc/nginx/nitro/token-key.pem", token_key)
    text = text.replace(
        "/usr/lib/nginx/modules/ngx_http_nitro_attest_module.so",
        nginx.MODULE)
    text = text.replace(
        "/usr/lib/nginx/modules/ngx_stream_nitro_attest_module.so",
        nginx.STREAM_MODULE)
    text = text.replace("/etc/nginx/tls/server.crt", "@cert@")
    text = text.replace("/etc/nginx/tls/server.key", "@key@")
    text = text.replace("/var/log/nginx/", "@prefix@/logs/")
    text = text.replace("listen 443 ", "listen 127.0.0.1:@port0@ ")
    text = text.replace("127.0.0.1:8081", "127.0.0.1:@port1@")
    text = re.sub(r"(nitro_attest_policy\s+)/etc/nginx/nitro/policy.json;",
                  r"\g<1>%s;\n        nitro_attest_trusted_root %s;"
                  % (policy, root), text)
    return text


def test_there_are_examples():
    names = {os.path.basename(p) for p in EXAMPLES}
    assert {"minimal.conf", "routing.conf", "forwarding.conf",
            "json-log.conf", "report-only.conf", "token.conf"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_example_passes_nginx_t(files, path):
    n = nginx.Nginx(example_text(path, files["policy"], files["root"],
                                 files["token_key"]),
                    ports=2, raw=True)
    try:
        p = n.test_config()
    finally:
        n.stop()
    assert p.returncode == 0, p.stdout


def test_forwarding_example_serves_headers_and_json_log(files, pki,
                                                        tmp_path):
    key = forge.new_key()
    doc = forge.document(pki, public_key=forge.spki_der(key))
    cert = write(str(tmp_path / "c.pem"),
                 forge.cert_pem(forge.client_cert(key, doc.cose)).decode())
    kpath = write(str(tmp_path / "c.key"), forge.key_pem(key).decode())
    path = os.path.join(nginx.REPO, "conf-examples", "forwarding.conf")
    n = nginx.Nginx(example_text(path, files["policy"], files["root"]),
                    ports=2, raw=True)
    with n:
        ctx = nginx.client_context(cert, kpath)
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
    old = tmp_path / "old"
    new = tmp_path / "new"
    old.mkdir()
    new.mkdir()

    def client(d, pcrs):
        key = forge.new_key()
        doc = forge.document(pki, public_key=forge.spki_der(key),
                             pcrs={**forge.default_pcrs(), **pcrs})
        c = write(str(d / "c.pem"), forge.cert_pem(
            forge.client_cert(key, doc.cose)).decode())
        k = write(str(d / "c.key"), forge.key_pem(key).decode())
        return nginx.client_context(c, k)

    old_client, new_client = client(old, GOOD), client(new, NEW)
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
