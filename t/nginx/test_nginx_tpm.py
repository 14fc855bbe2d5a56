"""NitroTPM clients inside a real nginx: an instance's
document is judged only against NitroTPM sets and an enclave's only
against enclave sets, even when the PCR values would match;
$nitro_attest_kind and X-Nitro-Attest-Kind say which.

One nginx:
  port0  tpm.test: optional, echoes the variables; on.test: enforcing;
         headers.test: upstream headers to port1
  port1  the upstream, echoing the X-Nitro-Attest-* headers it got
"""

import os
from types import SimpleNamespace

import pytest

import forge
import nginx
from clients import attested
from files import write

PCR7 = {7: bytes.fromhex("77" * 48)}
ENCLAVE = {i: forge.default_pcrs()[i] for i in (0, 1, 2)}


@pytest.fixture(scope="module")
def world(tmp_path_factory, pki):
    w = SimpleNamespace()
    w.dir = d = str(tmp_path_factory.mktemp("tpm"))
    # the same values under both kinds: only the kind tells them apart
    write(os.path.join(d, "policy.json"), forge.policy(
        [("ami-v1", {**PCR7, **ENCLAVE}, "nitrotpm"),
         ("enclave-v1", ENCLAVE, "enclave")]))
    write(os.path.join(d, "tpm-only.json"), forge.policy(
        [("ami-v1", PCR7, "nitrotpm")]))
    write(os.path.join(d, "enclave-only.json"), forge.policy(
        [("enclave-v1", {**ENCLAVE, 7: PCR7[7]}, "enclave")]))
    tpm_pcrs = {**forge.tpm_pcrs(), **PCR7, **ENCLAVE}
    w.tpm = attested(d, "tpm", pki, kind="nitrotpm", pcrs=tpm_pcrs)
    w.enclave = attested(d, "enclave", pki,
                         pcrs={**forge.default_pcrs(), **PCR7})

    def attesting(listen, name, mode, policy, *directives):
        return nginx.server(listen,
                            "nitro_attest_policy %s/%s;" % (d, policy),
                            *directives, name=name, attest=mode)

    body = (
        "nitro_attest_trusted_root %s;\n" % pki.root_pem
        + attesting("@port0@ ssl default_server", "tpm.test", "optional",
                    "policy.json",
                    'location / { return 200 "status=$nitro_attest_status'
                    '\\npolicy=$nitro_attest_policy\\nkind=$nitro_attest_kind'
                    '\\npcr7=$nitro_attest_pcr7'
                    '\\nmodule_id=$nitro_attest_module_id\\n"; }')
        + attesting("@port0@ ssl", "tpm-only.test", "on", "tpm-only.json",
                    'location / { return 200 "served $nitro_attest_kind"; }')
        + attesting("@port0@ ssl", "enclave-only.test", "optional",
                    "enclave-only.json",
                    'location / { return 200 '
                    '"$nitro_attest_status $nitro_attest_kind"; }')
        + attesting("@port0@ ssl", "headers.test", "on", "tpm-only.json",
                    "nitro_attest_upstream_headers on;",
                    "location / { proxy_pass http://127.0.0.1:@port1@; }")
        + nginx.server("@port1@",
                       'location / { return 200 '
                       '"kind=$http_x_nitro_attest_kind'
                       '\\npolicy=$http_x_nitro_attest_policy'
                       '\\npcr7=$http_x_nitro_attest_pcr7\\n"; }'))
    yield from nginx.serving(w, body, ports=2)


def fetch(w, client, host):
    resp, conn = nginx.get(w.port[0], client.ctx(), host)
    conn.close()
    return resp


def test_tpm_document_matches_only_a_nitrotpm_set(world):
    f = fetch(world, world.tpm, "tpm.test").fields()
    assert f["status"] == "SUCCESS"
    assert f["policy"] == "ami-v1"
    assert f["kind"] == "nitrotpm"
    assert f["pcr7"] == PCR7[7].hex()
    assert f["module_id"].endswith("-tpm0000000000000000")


def test_enclave_document_matches_only_an_enclave_set(world):
    f = fetch(world, world.enclave, "tpm.test").fields()
    assert f["status"] == "SUCCESS"
    assert f["policy"] == "enclave-v1"
    assert f["kind"] == "enclave"


def test_kinds_never_mix_even_when_the_values_match(world):
    # an instance under enclave sets only: pcr_mismatch, still measured
    assert fetch(world, world.tpm, "enclave-only.test").text == \
        "FAILED:pcr_mismatch nitrotpm"
    # an enclave at an enforcing NitroTPM-only server: refused
    with pytest.raises(Exception):
        fetch(world, world.enclave, "tpm-only.test")
    assert fetch(world, world.tpm, "tpm-only.test").text == "served nitrotpm"


def test_upstream_gets_the_kind_header(world):
    f = fetch(world, world.tpm, "headers.test").fields()
    assert f == {"kind": "nitrotpm", "policy": "ami-v1",
                 "pcr7": PCR7[7].hex()}
