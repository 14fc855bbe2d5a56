"""The enclave's application: calls the server every INTERVAL seconds,
both ways an enclave can present its attested client certificate, each
taking the agent's latest certificate for every new connection:

- direct: Python's ssl, a new context per connection that loads
  bundle.pem (the key and its certificate, always a matching pair), over
  the forwarder to the parent;
- proxy: plain HTTP to nginx, the enclave's egress proxy, which presents
  the certificate itself (the agent reloads it after each renewal).

One line per call on standard output.  Settings, from the environment:
CERT_DIR, EGRESS_PORT (as the entrypoint's), PROXY_PORT (nginx, 8080),
API_HOST (the server's name), API_PATH, CA_FILE (the CAs the server's
certificate is checked against; default the system's), INTERVAL, and
COUNT (rounds; default 0, forever: exit 1 after COUNT when one failed).
"""

import http.client
import os
import socket
import ssl
import sys
import time

CERT = os.path.join(os.environ.get("CERT_DIR", "/run/nitro-attest"),
                    "bundle.pem")
HOST = os.environ.get("API_HOST", "api.example.com")
PATH = os.environ.get("API_PATH", "/")
FORWARDER = ("127.0.0.1", int(os.environ.get("EGRESS_PORT", "8443")))
PROXY = ("127.0.0.1", int(os.environ.get("PROXY_PORT", "8080")))
CA_FILE = os.environ.get("CA_FILE") or None
INTERVAL = float(os.environ.get("INTERVAL", "5"))
COUNT = int(os.environ.get("COUNT", "0"))


def direct():
    """One request on a new TLS connection through the forwarder."""
    ctx = ssl.create_default_context(cafile=CA_FILE)
    # read now: this connection presents the certificate of this moment
    ctx.load_cert_chain(CERT)
    with socket.create_connection(FORWARDER, timeout=10) as raw:
        # the server's name, for SNI and its certificate: an enclave
        # resolves no names, the forwarder is the way out
        with ctx.wrap_socket(raw, server_hostname=HOST) as tls:
            tls.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n"
                         "Connection: close\r\n\r\n" % (PATH, HOST))
                        .encode())
            resp = http.client.HTTPResponse(tls)
            resp.begin()
            return resp.status, resp.read()


def proxy():
    """One request to nginx, the egress proxy."""
    conn = http.client.HTTPConnection(*PROXY, timeout=10)
    try:
        conn.request("GET", PATH, headers={"Host": HOST})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def main():
    failed = False
    rounds = 0
    while COUNT == 0 or rounds < COUNT:
        if rounds:
            time.sleep(INTERVAL)
        rounds += 1
        for name, call in (("direct", direct), ("proxy", proxy)):
            try:
                status, body = call()
                line = body.decode(errors="replace").strip()
                print("%s %d %s" % (name, status, line.replace("\n", " ")),
                      flush=True)
                failed |= status != 200
            except (OSError, ssl.SSLError, http.client.HTTPException) as e:
                print("%s failed: %s" % (name, e), flush=True)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
