"""conf-examples/conf.d/ and conf-examples/stream.d/ in Debian's layout:
each snippet, dropped where its comment says into a copy of this
machine's /etc/nginx (Debian's stock nginx.conf, checked against the
package's checksum), with the modules the packages of `make deb` hold
enabled in modules-enabled/ as their postinst enables them, and with the
files the snippet names made, passes nginx -t.  The copy's paths point
into a scratch directory: nothing under /etc/nginx, /var/log/nginx or /run
is written."""

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

import nginx
from test_packaging import (  # noqa: F401  (debs, installed, root: fixtures)
    debs, installed, root)

REPO = nginx.REPO
EXAMPLES = os.path.join(REPO, "conf-examples")
HTTP_SNIPPETS = sorted(glob.glob(os.path.join(EXAMPLES, "conf.d", "*.conf")))
STREAM_SNIPPETS = sorted(glob.glob(os.path.join(EXAMPLES, "stream.d",
                                                "*.conf")))
ETC = "/etc/nginx"
PCRS = {0: "a0" * 48, 1: "a1" * 48, 2: "a2" * 48}


def stock_md5(path):
    """The checksum dpkg recorded for a conffile, from its package."""
    p = subprocess.run(["dpkg-query", "-S", path], capture_output=True,
                       text=True)
    if p.returncode != 0:
        pytest.fail("%s belongs to no package: nginx is not installed "
                    "(scripts/install-deps.sh installs it)" % path)
    package = p.stdout.split(":")[0]
    conffiles = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Conffiles}\n", package],
        capture_output=True, text=True, check=True).stdout
    for line in conffiles.splitlines():
        words = line.split()
        if words and words[0] == path:
            return words[1]
    raise AssertionError("%s is no conffile of %s" % (path, package))


def comments(text):
    return "\n".join(line for line in text.splitlines()
                     if line.lstrip().startswith("#"))


def directives(text):
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


class Layout:
    """A copy of /etc/nginx in a scratch directory, its absolute paths
    (and those of the logs and the pid file) moved there."""

    def __init__(self, tmp, enabled, prefix, cli):
        with open(ETC + "/nginx.conf", "rb") as f:
            if hashlib.md5(f.read()).hexdigest() != \
                    stock_md5(ETC + "/nginx.conf"):
                pytest.skip("%s/nginx.conf is not Debian's stock one "
                            "(edited here)" % ETC)
        self.top = str(tmp)
        self.etc = self.top + ETC
        self.logs = os.path.join(self.top, "log")
        self.prefix = prefix
        self.cli = cli
        os.makedirs(self.logs)
        os.makedirs(os.path.join(self.top, "run"))
        shutil.copytree(ETC, self.etc, symlinks=True)
        # what this machine added there is not Debian's layout: conf.d is
        # empty as the package leaves it; modules-enabled holds what the
        # packages' postinst (ours, and Debian's libnginx-mod-stream) link
        shutil.rmtree(self.etc + "/conf.d")
        os.mkdir(self.etc + "/conf.d")
        shutil.rmtree(self.etc + "/modules-enabled")
        shutil.copytree(enabled, self.etc + "/modules-enabled",
                        symlinks=True)
        for top, _, files in os.walk(self.etc):
            for name in files:
                path = os.path.join(top, name)
                if os.path.islink(path):
                    target = os.readlink(path)
                    if target.startswith(ETC + "/"):
                        os.remove(path)
                        os.symlink(self.top + target, path)
                else:
                    with open(path, errors="surrogateescape") as f:
                        text = f.read()
                    with open(path, "w", errors="surrogateescape") as f:
                        f.write(self.moved(text))

    def moved(self, text):
        return (text.replace(ETC + "/", self.etc + "/")
                .replace("/var/log/nginx/", self.logs + "/")
                .replace("/run/nginx.pid", self.top + "/run/nginx.pid"))

    def drop(self, snippet, directory):
        """Copies snippet into directory of the layout; makes the files it
        names under /etc/nginx, which its comment must mention."""
        with open(snippet) as f:
            text = f.read()
        paths = sorted(set(re.findall(ETC + r"/[^\s;]+",
                                      directives(text))))
        for path in paths:
            assert path in comments(text), \
                "%s: %s is not explained" % (snippet, path)
            self.make(path)
        os.makedirs(self.etc + "/" + directory, exist_ok=True)
        with open(os.path.join(self.etc, directory,
                               os.path.basename(snippet)), "w") as f:
            f.write(self.moved(text))
        return text

    def make(self, path):
        """A file the user makes: a certificate, its key, a policy."""
        dest = self.top + path
        if os.path.exists(dest):
            return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        stem, ext = os.path.splitext(dest)
        if ext in (".crt", ".pem", ".key"):
            cert, key = nginx.server_cert(os.path.dirname(dest),
                                          os.path.basename(stem))
            if ext == ".pem":
                os.rename(cert, dest)
        elif ext == ".json":
            argv = [self.cli, "policy", "new", "--name", "snippet-v1"]
            for i, h in PCRS.items():
                argv += ["--pcr", "%d=%s" % (i, h)]
            with open(dest, "w") as f:
                subprocess.run(argv, stdout=f, check=True, timeout=30)
        else:
            raise AssertionError("what is %s?" % path)

    def include_stream_d(self, text):
        """Appends to nginx.conf the stream {} block the snippet's comment
        says to add."""
        m = re.search(r"^#(\s+)stream \{\n(?:#.*\n)*?#\1\}$",
                      comments(text), re.M)
        assert m, "no stream { ... } to add in the comment"
        block = "\n".join(line[1:] for line in m.group(0).splitlines())
        assert "include %s/stream.d/*.conf;" % ETC in block, block
        with open(self.etc + "/nginx.conf", "a") as f:
            f.write("\n" + self.moved(block) + "\n")

    def nginx_t(self):
        """nginx -t as Debian's service runs it (nginx.conf of the copy),
        its modules/ those of the packages."""
        return subprocess.run(
            [nginx.NGINX, "-t", "-p", self.prefix, "-c",
             self.etc + "/nginx.conf", "-e", self.logs + "/error.log"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=30)


@pytest.fixture
def layout(installed, root, tmp_path):
    enabled, prefix = installed
    # the system's own modules (Debian's modules-enabled/ may name them)
    # next to the packaged ones in the prefix's modules/
    for so in glob.glob("/usr/lib/nginx/modules/*.so"):
        dest = os.path.join(prefix, "modules", os.path.basename(so))
        if not os.path.lexists(dest):
            os.symlink(so, dest)
    return Layout(tmp_path / "debian", enabled, prefix,
                  os.path.join(root, "usr/bin/nitro-attest"))


def passes(p):
    assert p.returncode == 0, p.stdout
    assert "test is successful" in p.stdout, p.stdout
    # nothing to warn about either
    assert "[warn]" not in p.stdout and "[emerg]" not in p.stdout, p.stdout


def test_there_are_snippets():
    names = [os.path.basename(p) for p in HTTP_SNIPPETS]
    assert "enclave-api.conf" in names and "nitro-attest-status.conf" in names
    assert STREAM_SNIPPETS


def test_stock_layout_includes_conf_d_in_http():
    # why the snippets are server blocks: conf.d/*.conf is included inside
    # http {}, modules-enabled/*.conf at the top
    with open(ETC + "/nginx.conf") as f:
        text = directives(f.read())
    http = text.index("http {")
    assert text.index("include %s/modules-enabled/*.conf;" % ETC) < http
    assert text.index("include %s/conf.d/*.conf;" % ETC) > http


@pytest.mark.parametrize("snippet", HTTP_SNIPPETS,
                         ids=[os.path.basename(p) for p in HTTP_SNIPPETS])
def test_http_snippet_passes_nginx_t_in_debian_layout(layout, snippet):
    text = layout.drop(snippet, "conf.d")
    # a server block: the package loads the module, nginx.conf has http {}
    body = directives(text)
    assert "load_module" not in body and not re.search(
        r"^\s*(http|events|stream)\s*\{", body, re.M), snippet
    passes(layout.nginx_t())


def test_attested_server_snippet(layout):
    text = directives(layout.drop(
        os.path.join(EXAMPLES, "conf.d", "enclave-api.conf"), "conf.d"))
    assert re.search(r"^\s*nitro_attest\s+on;", text, re.M)
    assert re.search(r"^\s*nitro_attest_policy\s+/etc/nginx/\S+;", text,
                     re.M)
    protocols = re.search(r"^\s*ssl_protocols\s+([^;]+);", text, re.M)
    assert protocols and "TLSv1.3" in protocols.group(1).split()
    passes(layout.nginx_t())


def test_status_snippet_answers_localhost_only():
    with open(os.path.join(EXAMPLES, "conf.d",
                           "nitro-attest-status.conf")) as f:
        text = directives(f.read())
    listens = re.findall(r"^\s*listen\s+([^;]+);", text, re.M)
    assert listens and all(l.split()[0].startswith("127.0.0.1:")
                           for l in listens), listens
    location = re.search(r"location = \S+ \{([^}]*)\}", text).group(1)
    assert "nitro_attest_status;" in location
    assert re.findall(r"(allow|deny)\s+(\S+);", location) == [
        ("allow", "127.0.0.1"), ("deny", "all")]


def test_status_snippet_serves_its_counters():
    # its server block in the harness's http {}, on a free loopback port
    with open(os.path.join(EXAMPLES, "conf.d",
                           "nitro-attest-status.conf")) as f:
        text = f.read().replace("127.0.0.1:9145", "127.0.0.1:@port0@")
    with nginx.Nginx(text) as n:
        url = "http://127.0.0.1:%d/nitro-attest/status" % n.ports[0]
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200
            assert "handshakes" in json.load(r)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url[:-len("status")] + "x", timeout=10)
        assert e.value.code == 404


@pytest.mark.parametrize("snippet", STREAM_SNIPPETS,
                         ids=[os.path.basename(p) for p in STREAM_SNIPPETS])
def test_stream_snippet_passes_nginx_t_in_debian_layout(layout, snippet):
    text = layout.drop(snippet, "stream.d")
    body = directives(text)
    assert "load_module" not in body and not re.search(
        r"^\s*(http|events|stream)\s*\{", body, re.M), snippet
    assert "TLSv1.3" in re.search(r"ssl_protocols\s+([^;]+);",
                                  body).group(1).split()
    layout.include_stream_d(text)
    passes(layout.nginx_t())


def test_every_snippet_at_once(layout):
    # a user copying both directories
    for snippet in HTTP_SNIPPETS:
        layout.drop(snippet, "conf.d")
    texts = [layout.drop(s, "stream.d") for s in STREAM_SNIPPETS]
    assert texts
    layout.include_stream_d(texts[0])
    passes(layout.nginx_t())
