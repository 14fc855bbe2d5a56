"""Fixtures of the CLI suites: forged inputs, verify with the test's root
and time, a `nitro-attest mock pki` directory.  test_static.py runs only
when named (make test-static, which builds the static executables it
checks): a directory run of t/cli leaves it out."""

import pytest

from cli import DEFAULT, Forgery

collect_ignore = ["test_static.py"]


@pytest.fixture(scope="session")
def c(pki, other_pki, client_keys, t0, tmp_path_factory) -> Forgery:
    return Forgery(pki, other_pki, client_keys, t0,
                   str(tmp_path_factory.mktemp("inputs")))


@pytest.fixture
def verify(nitro, c):
    """verify(*inputs, at=, root=, args=): inputs are bytes (written to a
    file) or paths; at defaults to t0 + 1 s, root to the forged root."""
    def run(*inputs, at=DEFAULT, root=DEFAULT, args=()):
        argv = ["verify"]
        root = c.pki.root_pem if root is DEFAULT else root
        if root is not None:
            argv += ["--root", root]
        at = c.at if at is DEFAULT else at
        if at is not None:
            argv += ["--at", at]
        argv += list(args)
        argv += [c.file(x) if isinstance(x, bytes) else x for x in inputs]
        return nitro(*argv)
    return run


@pytest.fixture(scope="session")
def mock_pki(nitro, tmp_path_factory):
    """The directory `nitro-attest mock pki` wrote."""
    directory = str(tmp_path_factory.mktemp("mock") / "pki")
    run = nitro("mock", "pki", directory)
    assert run.code == 0, run.describe()
    return directory
