"""nginx -t logs the policy lint: the warnings of
`nitro-attest policy check`, at warn level, naming the file and the set,
once per file however many servers use it; a clean policy logs none, and
a warning never fails the configuration test."""

import os

from files import write
from nginx import nginx_t

H0, H1 = "a0" * 48, "a1" * 48

SERVERS = """
server {
    listen 127.0.0.1:@port0@ ssl;
    nitro_attest on;
    nitro_attest_policy %(policy)s;
}
server {
    listen 127.0.0.1:@port0@ ssl;
    server_name other;
    nitro_attest optional;
    nitro_attest_policy %(policy)s;
}
"""


def test_nginx_t_logs_the_lint_warnings(nitro, tmp_path):
    policy = write(str(tmp_path / "policy.json"), {
        "allow": [{"name": "lax", "pcrs": {"1": H1}},
                  {"name": "v41", "pcrs": {"0": H0, "1": H1}}],
        "deny": [{"name": "cve", "pcrs": {"0": H0}}],
        "allow_debug": True})
    check = nitro("policy", "check", policy)
    assert check.code == 1, check.describe()
    lines = check.stdout.splitlines()
    assert len(lines) == 3

    rc, out, _ = nginx_t(SERVERS % {"policy": policy})
    assert rc == 0, out
    warnings = [line for line in out.splitlines() if "[warn]" in line]
    assert len(warnings) == len(lines), out

    for line, warning in zip(lines, warnings):
        set_and_text = line[len(policy) + 2:]
        assert 'policy "%s": %s in ' % (policy, set_and_text) in warning, out


def test_nginx_t_clean_policy_logs_nothing(tmp_path):
    policy = write(str(tmp_path / "policy.json"), {
        "allow": [{"name": "v42", "pcrs": {"0": H0}}]})
    rc, out, _ = nginx_t(SERVERS % {"policy": policy})
    assert rc == 0, out
    assert "[warn]" not in out and os.path.basename(policy) not in out, out
