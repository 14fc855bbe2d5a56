"""nginx.py: runs the system nginx with the module loaded, for tests.

Each Nginx instance owns a temporary prefix: it writes the configuration
there, starts /usr/sbin/nginx -p PREFIX -c CONF in the foreground on
127.0.0.1 with free ports, waits until every port answers, reloads it and
stops it by the pid in its own pid file (never by name); serving() does
that for a fixture.  server(), trust(), status_server() and stream_main()
write the pieces of a configuration, nginx_t() runs `nginx -t` on one,
example() readies one of conf-examples/ for a test.  Also a minimal
HTTP/1.1 client over TLS with full control of SNI, Host, client
certificate, TLS version and session, which curl and s_client lack
together; a reader of the status endpoint; and helpers for the TLS
sessions of stream servers.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from typing import Dict, List, Optional, Tuple

from repo import REPO

# NITRO_TEST_NGINX runs the suite with another nginx binary (make test-asan).
# Not "NGINX": nginx itself reads that variable (sockets inherited across a
# binary upgrade), so a path in it breaks every nginx the tests start.
NGINX = os.environ.get("NITRO_TEST_NGINX", "/usr/sbin/nginx")
# NITRO_ATTEST_MODULE runs the suite against another build of the module
MODULE = os.environ.get("NITRO_ATTEST_MODULE", os.path.join(
    REPO, "build", "ngx_http_nitro_attest_module.so"))
STREAM_MODULE = os.environ.get("NITRO_ATTEST_STREAM_MODULE", os.path.join(
    os.path.dirname(MODULE), "ngx_stream_nitro_attest_module.so"))
# Debian's stream module (libnginx-mod-stream), which ours is loaded after
NGINX_STREAM = "/usr/lib/nginx/modules/ngx_stream_module.so"
# where the tests put nitro_attest_status
STATUS = "/nitro-attest/status"


def free_ports(n: int) -> List[int]:
    """n distinct TCP ports free on 127.0.0.1 right now."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def server_cert(directory: str, name: str = "server") -> Tuple[str, str]:
    """A self-signed server certificate and key (P-256) for localhost."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
         "/CN=localhost", "-keyout", key, "-out", cert],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class Nginx:
    """One nginx master with the module loaded.

    http_body is the inside of the http{} block; "@port0@", "@port1@",
    ..., "@prefix@", "@cert@", "@key@" in it are replaced.  With raw=True
    it is a whole nginx.conf instead (an example): then daemon, pid and
    error_log come from -g.
    """

    def __init__(self, http_body: str, ports: int = 1,
                 prefix: Optional[str] = None, main: str = "",
                 raw: bool = False, workers: int = 1):
        self.own_prefix = prefix is None
        self.prefix = prefix or tempfile.mkdtemp(prefix="nitro-nginx-")
        os.chmod(self.prefix, 0o755)
        for d in ("logs", "tmp"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        self.ports = free_ports(ports)
        self.conf = os.path.join(self.prefix, "nginx.conf")
        self.pid_file = os.path.join(self.prefix, "logs", "nginx.pid")
        self.error_log = os.path.join(self.prefix, "logs", "error.log")
        self.access_log = os.path.join(self.prefix, "logs", "access.log")
        self.cert, self.key = server_cert(self.prefix)
        self.main = main
        self.raw = raw
        self.workers = workers
        self.proc: Optional[subprocess.Popen] = None
        self.write(http_body)

    # -- configuration ----------------------------------------------------

    def subst(self, text: str) -> str:
        values = {"port%d" % i: str(p) for i, p in enumerate(self.ports)}
        values.update(prefix=self.prefix, cert=self.cert, key=self.key)
        for name, value in values.items():
            text = text.replace("@%s@" % name, value)
        return text

    def render(self, http_body: str) -> str:
        if self.raw:
            return self.subst(http_body)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        return (
            "load_module %s;\n" % MODULE
            + user
            + "worker_processes %d;\n" % self.workers
            + "daemon off;\n"
            "master_process on;\n"
            "pid %s;\n" % self.pid_file
            + "error_log %s info;\n" % self.error_log
            + self.subst(self.main)
            + "events { worker_connections 256; }\n"
            "http {\n"
            + self.subst(
                "    access_log @prefix@/logs/access.log;\n"
                "    client_body_temp_path @prefix@/tmp/body;\n"
                "    proxy_temp_path @prefix@/tmp/proxy;\n"
                "    fastcgi_temp_path @prefix@/tmp/fastcgi;\n"
                "    uwsgi_temp_path @prefix@/tmp/uwsgi;\n"
                "    scgi_temp_path @prefix@/tmp/scgi;\n"
                "    ssl_protocols TLSv1.2 TLSv1.3;\n"
                "    ssl_certificate @cert@;\n"
                "    ssl_certificate_key @key@;\n"
                + http_body)
            + "\n}\n")

    def write(self, http_body: str) -> None:
        with open(self.conf, "w") as f:
            f.write(self.render(http_body))

    def argv(self) -> List[str]:
        argv = [NGINX, "-p", self.prefix, "-c", self.conf]
        if self.raw:
            argv += ["-g", "daemon off; master_process on; "
                     "worker_processes 1; pid %s; error_log %s info;"
                     % (self.pid_file, self.error_log)]
        return argv

    def test_config(self) -> subprocess.CompletedProcess:
        """nginx -t on the current file (stdout has both streams)."""
        return subprocess.run(
            self.argv()[:1] + ["-t"] + self.argv()[1:],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=30)

    # -- process ------------------------------------------------------------

    def start(self) -> "Nginx":
        out = open(os.path.join(self.prefix, "logs", "stderr.log"), "ab")
        self.proc = subprocess.Popen(
            self.argv(),
            stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("nginx exited %d:\n%s" % (
                    self.proc.returncode, self.log_text()))
            if os.path.exists(self.pid_file) and all(
                    self._answers(p) for p in self.ports):
                return self
            time.sleep(0.05)
        text = self.log_text()
        self._stop()
        raise RuntimeError("nginx did not start:\n" + text)

    @staticmethod
    def _answers(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            return False

    def master_pid(self) -> int:
        with open(self.pid_file) as f:
            return int(f.read().strip())

    def worker_pids(self) -> List[int]:
        master = self.master_pid()
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                out.append(int(entry))
        return out

    def reload(self, http_body: Optional[str] = None,
               expect_new_workers: bool = True) -> None:
        """Rewrites the configuration (if given) and sends SIGHUP to the
        master; waits for the old workers to be replaced (or, when the new
        configuration is broken, for the master to have logged it)."""
        if http_body is not None:
            self.write(http_body)
        old = set(self.worker_pids())
        log_size = os.path.getsize(self.error_log)
        os.kill(self.master_pid(), signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline:
            time.sleep(0.05)
            if expect_new_workers:
                now = set(self.worker_pids())
                if now and not (now & old):
                    return
            else:
                with open(self.error_log) as f:
                    f.seek(log_size)
                    text = f.read()
                if "reconfiguring" in text and (
                        "[emerg]" in text or "[crit]" in text):
                    return
        raise RuntimeError("reload did not finish:\n" + self.log_text())

    def stop(self, keep: bool = False) -> None:
        """Stops nginx (SIGTERM to the master named in its pid file) and
        removes a prefix it made, unless keep or $NITRO_KEEP_NGINX.  A
        worker that died on a signal, at any time, fails the test here."""
        code = self._stop()
        crashed = [line for line in self.log_text().splitlines()
                   if "exited on signal" in line]
        if crashed:
            raise AssertionError("nginx worker crashed:\n"
                                 + "\n".join(crashed[:5]))
        if code is not None and code < 0:
            raise AssertionError("the nginx master died on signal %d at "
                                 "exit:\n%s" % (-code, self.log_text()[-2000:]))
        if self.own_prefix and not keep \
                and not os.environ.get("NITRO_KEEP_NGINX"):
            shutil.rmtree(self.prefix, ignore_errors=True)

    def _stop(self) -> Optional[int]:
        """The master's exit status when it ended on its own after SIGTERM
        (negative: the signal that killed it), else None."""
        if self.proc is None:
            return None
        code = None
        if self.proc.poll() is None:
            try:
                os.kill(self.master_pid(), signal.SIGTERM)
            except (OSError, ValueError):
                self.proc.terminate()
            try:
                code = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        return code

    def log_text(self) -> str:
        try:
            with open(self.error_log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def access_lines(self) -> List[str]:
        with open(self.access_log) as f:
            return f.read().splitlines()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def server(listen: str, *directives: str, name: Optional[str] = None,
           attest: Optional[str] = None) -> str:
    """A server{} block listening on 127.0.0.1:LISTEN (as "@port0@ ssl"):
    its server_name, "nitro_attest ATTEST" when given, then each directive
    on a line of its own."""
    lines = (["server_name %s;" % name] if name else []) \
        + (["nitro_attest %s;" % attest] if attest else []) + list(directives)
    return "    server {\n        listen 127.0.0.1:%s;\n%s    }\n" % (
        listen, "".join("        %s\n" % d for d in lines))


def trust(policy: str, root: str) -> str:
    """The policy and the trusted root of a block."""
    return ("    nitro_attest_policy %s;\n    nitro_attest_trusted_root %s;\n"
            % (policy, root))


def status_server(port: str = "@port1@") -> str:
    """A plain HTTP server{} on PORT with the status endpoint at STATUS."""
    return server(port, "location = %s { nitro_attest_status; }" % STATUS)


def stream_main(body: str) -> str:
    """Nginx's main: text loading both stream modules, with body as the
    inside of the stream{} block."""
    return ("load_module %s;\nload_module %s;\nstream {\n"
            "    ssl_protocols TLSv1.2 TLSv1.3;\n"
            "    ssl_certificate @cert@;\n"
            "    ssl_certificate_key @key@;\n%s\n}\n"
            % (NGINX_STREAM, STREAM_MODULE, body))


def serving(w, http_body: str, **kwargs):
    """For a module fixture's world w: starts nginx (Nginx's arguments) as
    w.nginx, its ports as w.port, yields w, stops nginx."""
    w.nginx = Nginx(http_body, **kwargs).start()
    w.port = w.nginx.ports
    try:
        yield w
    finally:
        w.nginx.stop()


class Conf(str):
    """The path of a generated nginx.conf, with its text."""


def nginx_t(http_body: str, ports: int = 1, main: str = "",
            raw: bool = False) -> Tuple[int, str, Conf]:
    """(exit status, output, Conf) of nginx -t on a generated config (the
    arguments are Nginx's)."""
    n = Nginx(http_body, ports=ports, main=main, raw=raw)
    try:
        p = n.test_config()
        conf = Conf(n.conf)
        with open(n.conf) as f:
            conf.text = f.read()
        return p.returncode, p.stdout, conf
    finally:
        n.stop()


def example(path: str, policy: str, root: str,
            token_key: Optional[str] = None) -> str:
    """The text of an nginx.conf of conf-examples/, for Nginx(raw=True):
    the modules of this build, the test's server certificate, logs and
    ports, and the policy, trusted root and token key given."""
    with open(path) as f:
        text = f.read()
    if token_key:
        text = text.replace("/etc/nginx/nitro/token-key.pem", token_key)
    text = text.replace(
        "/usr/lib/nginx/modules/ngx_http_nitro_attest_module.so", MODULE)
    text = text.replace(
        "/usr/lib/nginx/modules/ngx_stream_nitro_attest_module.so",
        STREAM_MODULE)
    text = text.replace("/etc/nginx/tls/server.crt", "@cert@")
    text = text.replace("/etc/nginx/tls/server.key", "@key@")
    text = text.replace("/var/log/nginx/", "@prefix@/logs/")
    text = text.replace("listen 443 ", "listen 127.0.0.1:@port0@ ")
    text = text.replace("listen 5432 ", "listen 127.0.0.1:@port0@ ")
    text = text.replace("127.0.0.1:8081", "127.0.0.1:@port1@")
    text = re.sub(r"(nitro_attest_(proxy_)?policy\s+)"
                  r"/etc/nginx/nitro/policy.json;",
                  r"\g<1>%s;\n        nitro_attest_\g<2>trusted_root %s;"
                  % (policy, root), text)
    return text


# ---------------------------------------------------------------------------
# Client side.

def client_context(cert: Optional[str] = None, key: Optional[str] = None,
                   version: Optional[str] = None) -> ssl.SSLContext:
    """A client context that does not check the server, presents cert/key,
    and pins TLS "1.2" or "1.3" when asked."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version == "1.2":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    elif version == "1.3":
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


class Response:
    def __init__(self, status: int, headers: Dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode()

    def fields(self) -> Dict[str, str]:
        """A body of "name=value" lines as a dict."""
        out = {}
        for line in self.text.splitlines():
            name, _, value = line.partition("=")
            out[name] = value
        return out

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Connection:
    """One TLS connection; requests over it with keep-alive."""

    def __init__(self, port: int, ctx: ssl.SSLContext,
                 sni: Optional[str] = None, session=None,
                 timeout: float = 5.0):
        raw = socket.create_connection(("127.0.0.1", port), timeout)
        try:
            self.sock = ctx.wrap_socket(raw, server_hostname=sni,
                                        session=session)
        except Exception:
            raw.close()
            raise
        self.buf = b""

    @property
    def reused(self) -> bool:
        return self.sock.session_reused

    @property
    def session(self):
        return self.sock.session

    def request(self, host: str, path: str = "/",
                headers=()) -> Response:
        """GET path with Host: host and the (name, value) headers."""
        extra = "".join("%s: %s\r\n" % h for h in headers)
        return self.request_raw(("GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                                 % (path, host, extra)).encode())

    def request_raw(self, request: bytes) -> Response:
        self.sock.sendall(request)
        return self._response()

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def _response(self) -> Response:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError("connection closed before a response")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            if not self._fill():
                break
        body, self.buf = self.buf[:length], self.buf[length:]
        return Response(status, headers, body)

    def closed_by_peer(self, timeout: float = 2.0) -> bool:
        """True when the server closed the connection (EOF or reset)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def get(port: int, ctx: ssl.SSLContext, host: str, sni: Optional[str] = "",
        path: str = "/", session=None,
        headers=()) -> Tuple[Response, "Connection"]:
    """One request on a fresh connection; sni "" means "same as host",
    None means no SNI at all.  Returns the response and the (open)
    connection, for its session."""
    conn = Connection(port, ctx, host if sni == "" else sni, session)
    try:
        resp = conn.request(host, path, headers)
        # TLS 1.3 tickets arrive after the handshake: read them in.
        conn.sock.settimeout(0.2)
        try:
            conn.sock.recv(1)
        except (socket.timeout, ssl.SSLError, OSError):
            pass
        conn.sock.settimeout(5)
    except Exception:
        conn.close()
        raise
    return resp, conn


def try_get(port: int, ctx: ssl.SSLContext, host: str,
            sni: Optional[str] = "", session=None, path: str = "/",
            headers=()) -> Tuple[Optional[Response], object, bool]:
    """get() that closes its connection: (response, session, whether it
    resumed), or (None, None, False) when the handshake or the request
    failed (a refusal)."""
    try:
        resp, conn = get(port, ctx, host, sni=sni, path=path,
                         session=session, headers=headers)
    except (ssl.SSLError, OSError):
        return None, None, False
    try:
        return resp, conn.session, conn.reused
    finally:
        conn.close()


def refused(port: int, ctx: ssl.SSLContext, host: str,
            sni: Optional[str] = "") -> bool:
    """True when the handshake (or the first read after it, TLS 1.3) of a
    request fails with an alert: nothing was served."""
    return try_get(port, ctx, host, sni=sni)[0] is None


def status(port: int, query: str = "",
           accept: Optional[str] = None) -> Tuple[Dict[str, str], str]:
    """(headers, body) of the status endpoint at STATUS on a plain HTTP
    port."""
    req = urllib.request.Request("http://127.0.0.1:%d%s%s"
                                 % (port, STATUS, query))
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.headers, r.read().decode()


def metrics(port: int) -> dict:
    """The status endpoint's JSON."""
    headers, body = status(port)
    assert headers["Content-Type"] == "application/json", headers
    return json.loads(body)


# ---------------------------------------------------------------------------
# Stream sessions: a TLS socket to a stream server.

def echoed(sock, data: bytes, expect: bytes) -> None:
    """Sends data over an open session, reads until expect came back."""
    sock.sendall(data)
    got = b""
    while got != expect:
        chunk = sock.recv(16)
        assert chunk, got
        got += chunk


def closed_within(sock, seconds: float) -> bool:
    """True when the server ends the session within seconds."""
    sock.settimeout(seconds)
    try:
        return sock.recv(16) == b""
    except (ssl.SSLError, ConnectionError):
        return True
    except socket.timeout:
        return False
