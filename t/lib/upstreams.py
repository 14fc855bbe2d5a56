"""upstreams.py: upstream servers a test runs on 127.0.0.1 for nginx to
proxy to, each in its own threads and started when made (stop one with
shutdown()): Echo for stream, which greets and echoes; and HTTP, FastCGI,
SCGI and uwsgi servers that answer "ok" and hand the request's headers or
parameters to a Recorder."""

import socketserver
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _serve(server):
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Echo(socketserver.ThreadingTCPServer):
    """An upstream that answers NAME: and then echoes what it reads.  It
    keeps, for each connection nginx made to it, what it received and when
    that connection ended (EOF or reset)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name):
        self.name = name
        self.conns = []

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner):
                seen = {"data": b"", "ended": None}
                self.conns.append(seen)
                try:
                    inner.request.sendall(name.encode() + b":")
                    while True:
                        data = inner.request.recv(4096)
                        if not data:
                            return
                        seen["data"] += data
                        inner.request.sendall(data)
                except OSError:
                    pass
                finally:
                    seen["ended"] = time.monotonic()

        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        _serve(self)

    def ended(self, token, seconds):
        """When the connection that carried token ended (time.monotonic()),
        waiting up to seconds for it; None if it is still open."""
        deadline = time.monotonic() + seconds
        while True:
            found = [c for c in self.conns if token in c["data"]]
            assert len(found) == 1, found
            if found[0]["ended"] is not None:
                return found[0]["ended"]
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)


class Recorder:
    """What an upstream received: one list of (name, value) pairs per
    request."""

    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()

    def add(self, pairs):
        with self.lock:
            self.seen.append(pairs)

    def last(self):
        with self.lock:
            return self.seen[-1]


def normalized(pairs, params):
    """Header (name, value) pairs as lowercase dashed names; for CGI-like
    params only the HTTP_* ones."""
    out = []
    for name, value in pairs:
        if params:
            if not name.startswith("HTTP_"):
                continue
            name = name[5:]
        out.append((name.lower().replace("_", "-"), value))
    return out


def http_upstream(rec):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            rec.add(list(self.headers.items()))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    return _serve(ThreadingHTTPServer(("127.0.0.1", 0), Handler))


def read_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("upstream connection closed")
        out += chunk
    return out


def fcgi_pairs(data):
    """FastCGI name-value pairs."""
    pairs, i = [], 0

    def length():
        nonlocal i
        if data[i] < 0x80:
            i += 1
            return data[i - 1]
        i += 4
        return struct.unpack(">I", data[i - 4:i])[0] & 0x7FFFFFFF

    while i < len(data):
        n, v = length(), length()
        pairs.append((data[i:i + n].decode(), data[i + n:i + n + v].decode()))
        i += n + v
    return pairs


def fcgi_record(kind, req, content):
    return struct.pack(">BBHHBB", 1, kind, req, len(content), 0, 0) + content


def fastcgi_upstream(rec):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            params, req = b"", 1
            while True:
                _, kind, req, n, pad, _ = struct.unpack(
                    ">BBHHBB", read_exact(self.request, 8))
                content = read_exact(self.request, n + pad)[:n]
                if kind == 4 and n:
                    params += content
                if kind == 5 and n == 0:
                    break
            rec.add(fcgi_pairs(params))
            out = b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok"
            self.request.sendall(
                fcgi_record(6, req, out) + fcgi_record(6, req, b"")
                + fcgi_record(3, req, b"\0" * 8))

    return _serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler))


def scgi_upstream(rec):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            digits = b""
            while not digits.endswith(b":"):
                digits += read_exact(self.request, 1)
            block = read_exact(self.request, int(digits[:-1]) + 1)[:-1]
            items = block.split(b"\0")[:-1]
            rec.add([(items[i].decode(), items[i + 1].decode())
                     for i in range(0, len(items), 2)])
            self.request.sendall(b"Status: 200 OK\r\nContent-Type: "
                                 b"text/plain\r\n\r\nok")

    return _serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler))


def uwsgi_upstream(rec):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            _, size, _ = struct.unpack("<BHB", read_exact(self.request, 4))
            data, pairs, i = read_exact(self.request, size), [], 0
            while i < size:
                n = struct.unpack("<H", data[i:i + 2])[0]
                key = data[i + 2:i + 2 + n].decode()
                i += 2 + n
                n = struct.unpack("<H", data[i:i + 2])[0]
                pairs.append((key, data[i + 2:i + 2 + n].decode()))
                i += 2 + n
            rec.add(pairs)
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                 b"Connection: close\r\n\r\nok")

    return _serve(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler))
