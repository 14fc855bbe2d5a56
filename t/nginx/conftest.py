"""Fixtures of the nginx suites.  test_load.py runs only when named
(make test-load): a directory run of t/nginx leaves it out."""

import os

import pytest

import forge
import tokens
from files import write
from forge import GOOD

collect_ignore = ["test_load.py"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, pki):
    """Files a configuration names: a policy allowing GOOD, a policy that
    is no JSON and one with no allow set, the test root, a token key."""
    d = str(tmp_path_factory.mktemp("nginx-config"))
    out = {"dir": d, "root": pki.root_pem}
    out["policy"] = write(os.path.join(d, "policy.json"),
                          forge.policy([("payments-v42", GOOD)]))
    out["bad_json"] = write(os.path.join(d, "bad.json"), '{"allow": [')
    out["empty_allow"] = write(os.path.join(d, "empty.json"),
                               '{"allow": []}')
    out["token_key"] = write(os.path.join(d, "token-key.pem"),
                             tokens.key_pem(tokens.new_key("p256")))
    return out
