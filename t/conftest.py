"""Fixtures of every suite (t/cli, t/nginx, t/packaging): the nitro-attest
runner, and session-wide forged PKIs and keys (t/lib/forge.py builds
everything).  The suites import their helpers from t/lib."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "lib"))

import cli  # noqa: E402
import forge  # noqa: E402
from repo import CLI  # noqa: E402


@pytest.fixture(scope="session")
def nitro():
    """run(*args, stdin=None) -> cli.Run, from the repository root."""
    if not os.access(CLI, os.X_OK):
        pytest.fail("%s is missing: run `make cli` first" % CLI)
    return cli.run


@pytest.fixture(scope="session")
def t0() -> int:
    """Timestamp of forged documents: now, at 123 ms past a second."""
    return forge.now_ms() // 1000 * 1000 + 123


@pytest.fixture(scope="session")
def pki(tmp_path_factory, t0) -> forge.Pki:
    """The forged PKI the tests pin (its root.pem is pki.root_pem)."""
    p = forge.Pki.create(at_ms=t0, label="test")
    p.save(str(tmp_path_factory.mktemp("pki")))
    return p


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory, t0) -> forge.Pki:
    """A second, unrelated PKI of the same shape (an untrusted root)."""
    p = forge.Pki.create(at_ms=t0, label="other")
    p.save(str(tmp_path_factory.mktemp("other_pki")))
    return p


@pytest.fixture(scope="session")
def client_keys() -> dict:
    """One client key of each kind, generated once."""
    return {kind: forge.new_key(kind)
            for kind in ("p384", "p256", "rsa", "ed25519")}
