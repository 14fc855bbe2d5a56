"""nginx.py: runs the system nginx with the module loaded, for tests.

Each Nginx instance owns a temporary prefix: it writes the configuration
there, starts /usr/sbin/nginx -p PREFIX -c CONF in the foreground on
127.0.0.1 with free ports, waits until every port answers, reloads it and
stops it by the pid in its own pid file (never by name).  Also a minimal
HTTP/1.1 client over TLS with full control of SNI, Host, client
certificate, TLS version and session, which curl and s_client lack
together.
"""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from typing import Dict, List, Optional, Tuple

NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# NITRO_ATTEST_MODULE runs the suite against another build of the module
MODULE = os.environ.get("NITRO_ATTEST_MODULE", os.path.join(
    REPO, "build", "ngx_http_nitro_attest_module.so"))
STREAM_MODULE = os.environ.get("NITRO_ATTEST_STREAM_MODULE", os.path.join(
    os.path.dirname(MODULE), "ngx_stream_nitro_attest_module.so"))
# Debian's stream module (libnginx-mod-stream), which ours is loaded after
NGINX_STREAM = "/usr/lib/nginx/modules/ngx_stream_module.so"


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
                 raw: bool = False):
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
            + "worker_processes 1;\n"
            "daemon off;\n"
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

    def request(self, host: str, path: str = "/") -> Response:
        return self.request_raw(
            ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())

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
        path: str = "/", session=None) -> Tuple[Response, "Connection"]:
    """One request on a fresh connection; sni "" means "same as host",
    None means no SNI at all.  Returns the response and the (open)
    connection, for its session."""
    conn = Connection(port, ctx, host if sni == "" else sni, session)
    try:
        resp = conn.request(host, path)
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
