"""debs.py: the Debian packages `make deb` builds: their names, the files
they install, where to find them, and the modules-enabled links their
postinst (dh_nginx's) makes."""

import os
import re
import subprocess

import pytest

from repo import REPO

MODULE_PKG = "libnginx-mod-http-nitro-attest"
STREAM_PKG = "libnginx-mod-stream-nitro-attest"
CLI_PKG = "nitro-attest"
SO = "usr/lib/nginx/modules/ngx_http_nitro_attest_module.so"
SNIPPET = "usr/share/nginx/modules-available/mod-http-nitro-attest.conf"
STREAM_SO = "usr/lib/nginx/modules/ngx_stream_nitro_attest_module.so"
STREAM_SNIPPET = \
    "usr/share/nginx/modules-available/mod-stream-nitro-attest.conf"
# Debian's stream module, which ours runs inside (libnginx-mod-stream)
DEBIAN_STREAM = "libnginx-mod-stream"
DEBIAN_STREAM_SO = "usr/lib/nginx/modules/ngx_stream_module.so"


def changelog_version():
    with open(os.path.join(REPO, "debian", "changelog")) as f:
        return re.match(r"\S+ \(([^)]+)\)", f.readline()).group(1)


def arch():
    return subprocess.run(["dpkg", "--print-architecture"], check=True,
                          capture_output=True, text=True).stdout.strip()


def deb_path(directory, package):
    return os.path.join(directory, "%s_%s_%s.deb" % (
        package, changelog_version(), arch()))


def postinst(deb, directory):
    """The postinst of a .deb ("" when it has none), its control files
    extracted into directory."""
    subprocess.run(["dpkg-deb", "-e", deb, str(directory)], check=True)
    path = os.path.join(str(directory), "postinst")
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def installed_postinst(package):
    """The postinst of a package installed on this machine, None when it
    has none."""
    path = "/var/lib/dpkg/info/%s.postinst" % package
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return f.read()


def debian_stream_postinst():
    """The postinst of Debian's libnginx-mod-stream, installed here."""
    text = installed_postinst(DEBIAN_STREAM)
    if text is None:
        pytest.fail("%s is not installed (scripts/install-deps.sh installs "
                    "it)" % DEBIAN_STREAM)
    return text


def enabled_links(postinst_text):
    """from -> to of the modules-enabled links a dh_nginx postinst makes
    (modules-enabled/TO -> modules-available/FROM)."""
    m = re.search(r"for confpair in (.*?); do", postinst_text)
    return dict(p.split(":", 1) for p in m.group(1).split()) if m else {}
