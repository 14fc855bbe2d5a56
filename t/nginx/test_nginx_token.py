"""The signed attestation token inside a real nginx:
$nitro_attest_token, X-Nitro-Attest-Token for upstreams, nitro_attest_jwks,
and what nginx -t refuses.  Every token is verified with PyJWT (Debian's
python3-jwt) against the JWK Set nginx publishes, never with the module's
own code.

One nginx:
  port0  es256.test (default, optional, HTTP/2), es384.test (on, upstream
         headers to an HTTP upstream of the test), eddsa.test (on),
         short.test (on, 1s lifetime, the ES256 key again), near.test (on,
         1h lifetime), reattest.test (on, nitro_attest_reattest 20s),
         nokey.test (on, upstream headers, no token key).
  port1  plain HTTP: the JWK Set and the status endpoint.
Every location but /up echoes the token, the status and $connection.
"""

import json
import os
import subprocess
import time
import urllib.request

import jwt
import pytest

import forge
import nginx
import tokens
from clients import attested, context, new_world
from files import write
from forge import GOOD
from repo import EXAMPLES
from upstreams import Recorder, http_upstream, normalized

OTHER_PCR0 = bytes.fromhex("66" * 48)
JWKS = "/.well-known/jwks.json"
ECHO = ("token=$nitro_attest_token\\n"
        "status=$nitro_attest_status\\n"
        "connection=$connection\\n")
SPOOF = [("X-Nitro-Attest-Token", "forged.by.client"),
         ("x-nitro-attest-token", "forged.again"),
         ("X-NITRO-ATTEST-TOKEN", "forged.thrice"),
         ("X-Nitro-Attestation", "kept")]


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki):
    w = new_world(tmp_path_factory.mktemp("nginx-token"), pki,
                  [("payments-v42", GOOD)])
    d = w.dir
    w.keys = {kind: tokens.new_key(kind)
              for kind in ("p256", "p384", "ed25519")}
    w.key_files = {kind: write(os.path.join(d, kind + ".pem"),
                               tokens.key_pem(key))
                   for kind, key in w.keys.items()}
    w.good = attested(d, "good", pki, user_data=b"\x01\x02\x03",
                      nonce=b"")
    w.bare = attested(d, "bare", pki)
    w.mismatch = attested(d, "mismatch", pki,
                          pcrs={**forge.default_pcrs(), 0: OTHER_PCR0})
    now = forge.now_ms()
    w.near = attested(d, "near", pki, timestamp_ms=now,
                      leaf=pki.leaf(now, after_ms=90 * 1000))

    w.rec = Recorder()
    w.upstream = http_upstream(w.rec)

    def server(name, mode, kind=None, extra="", listen=""):
        key = ("nitro_attest_token_key %s;" % w.key_files[kind]
               if kind else "")
        return """
    server {
        listen 127.0.0.1:@port0@ ssl%s;
        server_name %s;
        nitro_attest %s;
        %s
        %s
        location /up {
            nitro_attest_upstream_headers on;
            proxy_pass http://127.0.0.1:%d;
        }
        location / { return 200 "%s"; }
    }
""" % (listen, name, mode, key, extra, w.upstream.server_address[1], ECHO)

    body = (
        """
    nitro_attest_policy %(d)s/policy.json;
    nitro_attest_trusted_root %(root)s;
    nitro_attest_token_issuer https://edge.example/nitro;
""" % dict(d=d, root=pki.root_pem)
        + server("es256.test", "optional", "p256",
                 listen=" http2 default_server")
        + server("es384.test", "on", "p384")
        + server("eddsa.test", "on", "ed25519")
        + server("short.test", "on", "p256",
                 "nitro_attest_token_lifetime 1s;")
        + server("near.test", "on", "ed25519",
                 "nitro_attest_token_lifetime 1h;")
        + server("reattest.test", "on", "p384",
                 "nitro_attest_token_lifetime 1h; "
                 "nitro_attest_reattest 20s;")
        + server("nokey.test", "on")
        + """
    server {
        listen 127.0.0.1:@port1@;
        location = %s { nitro_attest_jwks; }
    }
""" % JWKS)
    w.nginx = nginx.Nginx(body, ports=2).start()
    w.port = w.nginx.ports
    w.jwks_url = "http://127.0.0.1:%d%s" % (w.port[1], JWKS)
    yield w
    w.nginx.stop()
    w.upstream.shutdown()


def jwks(w):
    with urllib.request.urlopen(w.jwks_url, timeout=5) as r:
        assert r.headers["Content-Type"] == "application/jwk-set+json"
        return json.loads(r.read())


def connect(w, client, host, version=None, session=None):
    return nginx.Connection(w.port[0], context(client, version), host,
                            session)


def echo(conn, host, path="/", headers=()):
    resp = conn.request(host, path, headers)
    assert resp.status == 200, resp
    return resp.fields() if path != "/up" else resp


def token_for(w, client, host, **kw):
    with connect(w, client, host, **kw) as conn:
        return echo(conn, host)


# ---------------------------------------------------------------------------
# The token, for each key type, against the published JWKS.

@pytest.mark.parametrize("host,kind", [("es256.test", "p256"),
                                       ("es384.test", "p384"),
                                       ("eddsa.test", "ed25519")])
def test_token_verifies_against_the_jwks(world, host, kind):
    w = world
    f = token_for(w, w.good, host)
    assert f["status"] == "SUCCESS"
    token = f["token"]
    tokens.check_header(token, w.keys[kind])
    claims = tokens.decode_with_jwks(token, jwks(w))
    tokens.check_claims(claims, token, w.good.doc, w.good.der,
                        policy="payments-v42",
                        issuer="https://edge.example/nitro")
    now = time.time()
    assert now - 5 <= claims["iat"] <= now + 1
    assert claims["exp"] == claims["iat"] + 300


def test_pyjwkclient_fetches_the_key_from_nginx(world):
    """What an upstream does: PyJWKClient picks the key by kid from the
    JWKS URL."""
    w = world
    token = token_for(w, w.good, "eddsa.test")["token"]
    key = jwt.PyJWKClient(w.jwks_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["EdDSA"],
                        issuer="https://edge.example/nitro")
    assert claims["sub"] == forge.DEFAULT_MODULE_ID


def test_jwks_lists_every_key_of_the_block_once(world):
    w = world
    keys = jwks(w)["keys"]
    # the ES256 key signs for two servers: it is published once
    assert sorted(k["kid"] for k in keys) == sorted(
        tokens.thumbprint(k) for k in w.keys.values())
    for k in keys:
        key = next(v for v in w.keys.values()
                   if tokens.thumbprint(v) == k["kid"])
        assert {n: k[n] for n in tokens.public_jwk(key)} == \
            tokens.public_jwk(key)
        assert k["alg"] == tokens.alg_of(key) and k["use"] == "sig"
        assert "d" not in k, "a private member was published"


def test_jwks_answers_head_and_refuses_post(world):
    w = world
    req = urllib.request.Request(w.jwks_url, method="HEAD")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200 and r.read() == b""
        assert r.headers["Content-Type"] == "application/jwk-set+json"
    req = urllib.request.Request(w.jwks_url, data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405


def test_tampered_tokens_and_other_keys_fail(world):
    w = world
    token = token_for(w, w.good, "es384.test")["token"]
    published = jwks(w)
    for bad in tokens.tamper(token):
        with pytest.raises(jwt.InvalidTokenError):
            tokens.decode_with_jwks(bad, published)
    # the right kid, another key: a forger's own ES384 key
    for other in (tokens.new_key("p384"), w.keys["p256"]):
        with pytest.raises(jwt.InvalidTokenError):
            jwt.decode(token, other.public_key(),
                       algorithms=[tokens.alg_of(other)])


def test_no_token_unless_success(world):
    w = world
    f = token_for(w, w.mismatch, "es256.test")
    assert f["status"] == "FAILED:pcr_mismatch" and f["token"] == ""
    f = token_for(w, None, "es256.test")
    assert f["status"] == "NONE" and f["token"] == ""
    f = token_for(w, w.good, "nokey.test")
    assert f["status"] == "SUCCESS" and f["token"] == ""


# ---------------------------------------------------------------------------
# Signed once per verdict and lifetime, again when it expires.

def test_one_token_per_connection_within_its_lifetime(world):
    w = world
    with connect(w, w.good, "es384.test") as conn:
        first = echo(conn, "es384.test")
        time.sleep(1.1)
        again = [echo(conn, "es384.test") for _ in range(3)]
    assert {f["connection"] for f in again} == {first["connection"]}
    assert {f["token"] for f in again} == {first["token"]}
    # another connection, another verdict: another token
    other = token_for(w, w.good, "es384.test")["token"]
    assert other != first["token"]
    published = jwks(w)
    assert tokens.decode_with_jwks(other, published)["jti"] != \
        tokens.decode_with_jwks(first["token"], published)["jti"]


def test_token_signed_anew_after_its_lifetime(world):
    w = world
    published = jwks(w)
    with connect(w, w.good, "short.test") as conn:
        first = echo(conn, "short.test")
        c1 = tokens.decode_with_jwks(first["token"], published)
        assert c1["exp"] - c1["iat"] == 1
        time.sleep(max(0.0, c1["exp"] - time.time()) + 1.1)
        second = echo(conn, "short.test")
    assert second["connection"] == first["connection"]
    assert second["token"] != first["token"]
    with pytest.raises(jwt.ExpiredSignatureError):
        tokens.decode_with_jwks(first["token"], published)
    c2 = tokens.decode_with_jwks(second["token"], published)
    assert c2["iat"] >= c1["exp"] and c2["jti"] != c1["jti"]
    assert c2["nitro"] == c1["nitro"] and c2["cnf"] == c1["cnf"]


def test_resumed_session_gets_a_fresh_token(world):
    w = world
    with connect(w, w.good, "es384.test", version="1.3") as conn:
        first = echo(conn, "es384.test")
        session = conn.session
    with connect(w, w.good, "es384.test", version="1.3",
                 session=session) as conn:
        assert conn.reused
        second = echo(conn, "es384.test")
    assert second["status"] == "SUCCESS"
    assert second["token"] and second["token"] != first["token"]
    published = jwks(w)
    c1 = tokens.decode_with_jwks(first["token"], published)
    c2 = tokens.decode_with_jwks(second["token"], published)
    assert c2["jti"] != c1["jti"]
    assert c2["nitro"] == c1["nitro"] and c2["cnf"] == c1["cnf"]


def test_http2_streams_share_the_connection_token(world, tmp_path):
    w = world
    url = "https://es256.test:%d/" % w.port[0]
    out = subprocess.run(
        ["curl", "-sk", "--http2", "--cert", w.good.cert, "--key",
         w.good.key, "--resolve", "es256.test:%d:127.0.0.1" % w.port[0],
         "-w", "proto=%{http_version}\\n", url, url],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    bodies = [dict(line.split("=", 1) for line in chunk.splitlines())
              for chunk in out.stdout.split("proto=2\n") if chunk]
    assert len(bodies) == 2, out.stdout
    assert bodies[0]["connection"] == bodies[1]["connection"]
    assert bodies[0]["token"] and bodies[0]["token"] == bodies[1]["token"]
    tokens.decode_with_jwks(bodies[0]["token"], jwks(w))


# ---------------------------------------------------------------------------
# exp never beyond the verdict.

def test_exp_never_beyond_the_chain(world):
    w = world
    token = token_for(w, w.near, "near.test")["token"]
    claims = tokens.decode_with_jwks(token, jwks(w))
    assert claims["exp"] == tokens.not_after_s(w.near.doc)
    assert claims["exp"] - claims["iat"] < 90


def test_exp_never_beyond_the_reattest_deadline(world):
    w = world
    before = time.time()
    token = token_for(w, w.good, "reattest.test")["token"]
    claims = tokens.decode_with_jwks(token, jwks(w))
    assert claims["exp"] <= before + 21
    assert 18 <= claims["exp"] - claims["iat"] <= 20


# ---------------------------------------------------------------------------
# Upstreams: X-Nitro-Attest-Token, never the client's.

def upstream_token_headers(w):
    pairs = normalized(w.rec.last(), False)
    return [v for n, v in pairs if n == "x-nitro-attest-token"], pairs


def test_upstream_gets_the_token_and_never_the_clients(world):
    w = world
    with connect(w, w.good, "es384.test") as conn:
        echo(conn, "es384.test", "/up", SPOOF)
        got, pairs = upstream_token_headers(w)
        mine = echo(conn, "es384.test")["token"]
    assert got == [mine], pairs
    assert ("x-nitro-attestation", "kept") in pairs
    tokens.decode_with_jwks(got[0], jwks(w))


@pytest.mark.parametrize("client,host,status", [
    ("good", "nokey.test", "SUCCESS"),              # no token key
    ("mismatch", "es256.test", "FAILED:pcr_mismatch"),
])
def test_no_token_header_and_the_clients_dropped(world, client, host, status):
    w = world
    with connect(w, getattr(w, client), host) as conn:
        echo(conn, host, "/up", SPOOF)
    got, pairs = upstream_token_headers(w)
    assert got == [], pairs
    assert ("x-nitro-attest-status", status) in pairs


# ---------------------------------------------------------------------------
# nginx -t.

@pytest.fixture(scope="module")
def conf_files(files):
    """The files fixture's files, its ES256 key, and keys nginx refuses."""
    out = dict(files, p256=files["token_key"])
    for kind in ("rsa", "p521"):
        out[kind] = write(os.path.join(files["dir"], kind + ".pem"),
                          tokens.key_pem(tokens.new_key(kind)))
    return out


def nginx_t(files, servers, http=""):
    rc, out, _ = nginx.nginx_t((
        "nitro_attest_policy %s;\nnitro_attest_trusted_root %s;\n%s\n"
        % (files["policy"], files["root"], http)) + servers)
    return rc, out


def server(body, name="a.test"):
    return ("server { listen 127.0.0.1:@port0@ ssl; server_name %s; %s }\n"
            % (name, body))


def test_nginx_t_accepts_a_block_key_with_a_plain_server(conf_files):
    f = conf_files
    rc, out = nginx_t(f, server("nitro_attest on;")
                      + server("", "plain.test")
                      + "server { listen 127.0.0.1:@port0@; "
                        "location / { nitro_attest_jwks; } }\n",
                      http="nitro_attest_token_key %s;" % f["p256"])
    assert rc == 0, out


@pytest.mark.parametrize("case,message", [
    ("missing", 'cannot open token key "%(missing)s"'),
    ("rsa", 'token key "%(rsa)s": unsupported key type RSA'),
    ("p521", 'token key "%(p521)s": unsupported EC curve'),
    ("policy", 'no PEM private key in "%(policy)s"'),
])
def test_nginx_t_refuses_unusable_keys(conf_files, case, message):
    f = dict(conf_files, missing=conf_files["dir"] + "/none.pem")
    rc, out = nginx_t(f, server("nitro_attest on; nitro_attest_token_key "
                                "%s;" % f[case]))
    assert rc != 0 and message % f in out, out
    assert '"nitro_attest_token_key" directive' in out


def test_nginx_t_refuses_a_key_in_a_server_that_does_not_attest(
        conf_files):
    f = conf_files
    rc, out = nginx_t(f, server("nitro_attest on;")
                      + server("nitro_attest_token_key %s;" % f["p256"],
                               "plain.test"))
    assert rc != 0, out
    assert "without \"nitro_attest on\" or \"optional\"" in out, out
    assert f["p256"] in out


def test_nginx_t_refuses_a_block_key_no_server_uses(conf_files):
    f = conf_files
    rc, out = nginx_t(f, server(""),
                      http="nitro_attest_token_key %s;" % f["p256"])
    assert rc != 0 and f["p256"] in out and "used by no server" in out, out


def test_nginx_t_refuses_a_sub_second_lifetime(conf_files):
    f = conf_files
    rc, out = nginx_t(f, server("nitro_attest on; nitro_attest_token_key "
                                "%s; nitro_attest_token_lifetime 500ms;"
                                % f["p256"]))
    assert rc != 0 and "nitro_attest_token_lifetime" in out, out


def test_token_example_serves_a_token_its_jwks_verifies(world, conf_files):
    """conf-examples/token.conf as shipped, paths and ports substituted:
    the stand-in upstream shows a token the JWKS location verifies."""
    w = world
    text = nginx.example(EXAMPLES / "token.conf", conf_files["policy"],
                         conf_files["root"], w.key_files["p384"])
    text = text.replace("127.0.0.1:8082", "127.0.0.1:@port2@")
    n = nginx.Nginx(text, ports=3, raw=True)
    with n:
        with nginx.Connection(n.ports[0], w.good.ctx(),
                              "enclave-api.example.com") as conn:
            resp = conn.request("enclave-api.example.com")
        assert resp.status == 200, resp
        token = resp.text.split("token: ", 1)[1].strip()
        url = "http://127.0.0.1:%d%s" % (n.ports[2], JWKS)
        with urllib.request.urlopen(url, timeout=5) as r:
            published = json.loads(r.read())
    claims = tokens.decode_with_jwks(token, published)
    assert claims["iss"] == "https://enclave-api.example.com"
    assert claims["sub"] == forge.DEFAULT_MODULE_ID
