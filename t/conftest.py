"""Shared pytest fixtures: repository paths, the nitro-attest runner, and
session-wide forged PKIs and keys (t/lib/forge.py builds everything)."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

T = Path(__file__).resolve().parent
REPO = T.parent
sys.path.insert(0, str(T / "lib"))

import forge  # noqa: E402

FIXTURES = T / "fixtures"
REAL = FIXTURES / "real"
AWS_ROOT = FIXTURES / "aws_nitro_root_g1.pem"
# NITRO_ATTEST_CLI runs the suite against another build of the tool
CLI = Path(os.environ.get("NITRO_ATTEST_CLI",
                          REPO / "build" / "nitro-attest"))


@dataclass
class Run:
    """One nitro-attest invocation."""
    args: list
    code: int
    stdout: str
    stderr: str

    @property
    def events(self) -> list:
        """stdout parsed as one JSON object per line, key order kept."""
        return [json.loads(line, object_pairs_hook=_ordered)
                for line in self.stdout.splitlines()]

    @property
    def event(self) -> dict:
        events = self.events
        assert len(events) == 1, self.describe()
        return events[0]

    def describe(self) -> str:
        return "nitro-attest %s\nexit %d\nstdout: %s\nstderr: %s" % (
            " ".join(str(a) for a in self.args), self.code, self.stdout,
            self.stderr)


class _OrderedDict(dict):
    """A dict that also remembers the key order it was read with."""


def _ordered(pairs):
    d = _OrderedDict(pairs)
    d.key_order = [k for k, _ in pairs]
    return d


@pytest.fixture(scope="session")
def nitro():
    """run(*args) -> Run, from the repository root."""
    if not os.access(CLI, os.X_OK):
        pytest.fail("%s is missing: run `make cli` first" % CLI)

    def run(*args, stdin=None) -> Run:
        argv = [str(a) for a in args]
        p = subprocess.run([str(CLI)] + argv, cwd=REPO, input=stdin,
                           capture_output=True, timeout=60)
        return Run(argv, p.returncode, p.stdout.decode(errors="replace"),
                   p.stderr.decode(errors="replace"))
    return run


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
