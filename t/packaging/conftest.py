"""Fixtures of the packaging suites: the .debs of `make deb`, unpacked
into a scratch root, and laid out as their postinst enables them."""

import os
import shutil
import subprocess

import pytest

from debs import (CLI_PKG, DEBIAN_STREAM_SO, MODULE_PKG, SO, STREAM_PKG,
                  STREAM_SO, deb_path, debian_stream_postinst, enabled_links,
                  postinst)
from repo import REPO


@pytest.fixture(scope="module")
def debs(tmp_path_factory):
    """package name -> .deb path, built by `make deb` unless given, copied
    at once (another `make deb` in this tree may replace build/deb/)."""
    directory = os.environ.get("NITRO_ATTEST_DEB_DIR")
    if not directory:
        directory = os.path.join(REPO, "build", "deb")
        p = subprocess.run(["make", "-s", "deb"], cwd=REPO,
                           capture_output=True, text=True, timeout=540)
        if p.returncode != 0:
            if "run as root" in p.stderr:
                pytest.skip("packaging tools missing and not root: "
                            + p.stderr.strip())
            pytest.fail("make deb failed:\n%s\n%s" % (p.stdout, p.stderr))
    copies = str(tmp_path_factory.mktemp("debs"))
    out = {}
    for pkg in (MODULE_PKG, STREAM_PKG, CLI_PKG):
        path = deb_path(directory, pkg)
        assert os.path.isfile(path), path
        out[pkg] = shutil.copy(path, copies)
    return out


@pytest.fixture(scope="module")
def root(debs, tmp_path_factory):
    """A scratch root with the packages unpacked (dpkg -x)."""
    d = str(tmp_path_factory.mktemp("pkgroot"))
    for path in debs.values():
        subprocess.run(["dpkg", "-x", path, d], check=True)
    return d


@pytest.fixture
def installed(root, debs, tmp_path):
    """/etc/nginx/modules-enabled and the modules/ of the prefix as the
    packages' postinst and Debian's libnginx-mod-stream leave them: the
    links their postinst names, to the snippets of the unpacked root and
    to the system's mod-stream.conf; the prefix's modules/ holds the
    packaged .so files and the system's ngx_stream_module.so."""
    enabled = tmp_path / "modules-enabled"
    prefix = tmp_path / "prefix"
    enabled.mkdir()
    (prefix / "modules").mkdir(parents=True)
    available = {}
    for pkg in (MODULE_PKG, STREAM_PKG):
        for src, dst in enabled_links(
                postinst(debs[pkg], tmp_path / pkg)).items():
            available[dst] = os.path.join(
                root, "usr/share/nginx/modules-available", src)
    for src, dst in enabled_links(debian_stream_postinst()).items():
        available[dst] = os.path.join("/usr/share/nginx/modules-available",
                                      src)
    for dst, src in available.items():
        os.symlink(src, str(enabled / dst))
    for so in (SO, STREAM_SO):
        os.symlink(os.path.join(root, so),
                   str(prefix / "modules" / os.path.basename(so)))
    os.symlink("/" + DEBIAN_STREAM_SO, str(
        prefix / "modules" / os.path.basename(DEBIAN_STREAM_SO)))
    return str(enabled), str(prefix) + "/"
