"""make static: build/static/nitro-attest-x86_64 and -aarch64, each one
fully static executable (glibc, OpenSSL, jansson and libcbor inside).

Both run in an empty root: a directory holding only the executables, the
test fixtures and, for the aarch64 one, qemu-user's static emulator; no
/lib, no /etc, no dynamic loader (the dynamic build/nitro-attest cannot
start there, which shows the root really is empty).  On the real
documents, and on a mock PKI, certificates and policies they make, they
print what build/nitro-attest prints on the host for the same inputs
(the time of verification and verify_us aside)."""

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import forge
from conftest import CLI, FIXTURES, REPO

STATIC = REPO / "build" / "static"
ARCHS = {
    # arch: (ELF e_machine, what file(1) calls it)
    "x86_64": (62, "x86-64"),
    "aarch64": (183, "ARM aarch64"),
}
AWS_ROOT = "t/fixtures/aws_nitro_root_g1.pem"
QEMU = "qemu-aarch64-static"
# PT_INTERP (the dynamic loader's path) and PT_DYNAMIC
PT_INTERP, PT_DYNAMIC = 3, 2
# the fields that differ from one run to the next
VOLATILE = {"time", "verify_us"}
PCR0 = "ab" * 48


def binary(arch: str) -> Path:
    return STATIC / ("nitro-attest-" + arch)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The empty root: the executables, qemu, t/fixtures; nothing else."""
    for arch in ARCHS:
        if not os.access(binary(arch), os.X_OK):
            pytest.fail("%s is missing: run `make static` first"
                        % binary(arch))
    qemu = shutil.which(QEMU)
    if qemu is None:
        pytest.fail("%s is missing: scripts/install-deps.sh static" % QEMU)
    r = tmp_path_factory.mktemp("static-root")
    for arch in ARCHS:
        shutil.copy2(binary(arch), r / binary(arch).name)
    shutil.copy2(qemu, r / QEMU)
    shutil.copytree(FIXTURES, r / "t" / "fixtures")
    return r


def chroot(root: Path) -> list:
    """chroot(8) into root: as root, or in a user namespace mapping us to
    root when we are not (unshare -r)."""
    if os.geteuid() == 0:
        return ["chroot", str(root)]
    return ["unshare", "-r", "chroot", str(root)]


def run_static(root: Path, arch: str, *args) -> subprocess.CompletedProcess:
    """The arch's executable inside root, from its / (paths are relative
    to the root, as they are to the host's cwd in run_dynamic)."""
    argv = ["/" + binary(arch).name] + [str(a) for a in args]
    if arch == "aarch64":
        argv = ["/" + QEMU] + argv
    # nothing of the host's environment but where chroot(8) is
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin")}
    return subprocess.run(chroot(root) + argv, capture_output=True,
                          text=True, timeout=120, env=env)


def run_dynamic(root: Path, *args) -> subprocess.CompletedProcess:
    """build/nitro-attest on the host, from the root's directory."""
    return subprocess.run([str(CLI)] + [str(a) for a in args], cwd=root,
                          capture_output=True, text=True, timeout=120)


def events(p: subprocess.CompletedProcess) -> list:
    """stdout's JSON lines, the volatile fields left out."""
    out = []
    for line in p.stdout.splitlines():
        ev = json.loads(line)
        for k in VOLATILE:
            ev.pop(k, None)
        out.append(ev)
    return out


def same_as_dynamic(root: Path, arch: str, *args) -> list:
    """Runs both; asserts the same exit status, stdout events and stderr;
    returns the events."""
    s, d = run_static(root, arch, *args), run_dynamic(root, *args)
    assert d.returncode in (0, 1), d.stderr
    assert (s.returncode, s.stderr) == (d.returncode, d.stderr), \
        (args, s.stderr, d.stderr)
    assert events(s) == events(d), args
    return events(s)


def real_documents() -> list:
    """Every real document, relative to the root: the AWS-signed ones, the
    invalid ones, the NitroTPM ones, the TLS certificates carrying some."""
    files = []
    for sub in ("real", "real/invalid", "real-tpm"):
        for f in sorted((FIXTURES / sub).iterdir()):
            if f.suffix in (".cose", ".der"):
                files.append("t/fixtures/%s/%s" % (sub, f.name))
    return files


def elf_program_types(path: Path) -> set:
    """The p_type of each program header of a 64-bit little-endian ELF,
    and its e_machine."""
    with open(path, "rb") as f:
        data = f.read(1 << 16)
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, path
    machine = struct.unpack_from("<H", data, 18)[0]
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    types = {struct.unpack_from("<I", data, phoff + i * phentsize)[0]
             for i in range(phnum)}
    return machine, types


# -- what the executables are -------------------------------------------

@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_static_executable_has_no_loader(root, arch):
    machine, name = ARCHS[arch]
    p = subprocess.run(["file", "-b", str(binary(arch))],
                       capture_output=True, text=True, check=True)
    assert "statically linked" in p.stdout, p.stdout
    assert "ELF 64-bit LSB executable, %s," % name in p.stdout, p.stdout
    got_machine, types = elf_program_types(binary(arch))
    assert got_machine == machine
    assert PT_INTERP not in types and PT_DYNAMIC not in types, types


def test_root_is_empty_and_the_dynamic_build_cannot_start_there(root):
    assert sorted(os.listdir(root)) == sorted(
        [binary(a).name for a in ARCHS] + [QEMU, "t"])
    for d in ("lib", "lib64", "usr", "etc"):
        assert not (root / d).exists()
    # the same command works on the host; in the root the kernel finds no
    # dynamic loader for build/nitro-attest
    shutil.copy2(CLI, root / "nitro-attest-dynamic")
    try:
        p = subprocess.run(chroot(root) + ["/nitro-attest-dynamic",
                                           "--version"],
                           capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(root / "nitro-attest-dynamic")
    assert p.returncode == 127, p
    assert "No such file or directory" in p.stderr, p.stderr
    assert run_dynamic(root, "--version").returncode == 0


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_version_and_help_match(root, arch):
    for args in (["--version"], ["help", "verify"]):
        s, d = run_static(root, arch, *args), run_dynamic(root, *args)
        assert s.returncode == d.returncode == 0, s.stderr
        assert s.stdout == d.stdout and s.stdout


# -- the real documents -------------------------------------------------

@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_real_documents_verify_as_the_dynamic_build_does(root, arch):
    docs = real_documents()
    evs = same_as_dynamic(root, arch, "verify", "--at", "document",
                          "--root", AWS_ROOT, *docs)
    assert len(evs) == len(docs)
    by_status = {}
    for doc, ev in zip(docs, evs):
        by_status.setdefault(ev["status"], []).append(doc)
    # genuine documents verify, in enclaves and on NitroTPM instances
    assert "t/fixtures/real/turnkey_prod_2025-05-05.cose" in \
        by_status["SUCCESS"]
    assert "t/fixtures/real-tpm/vaportpm_nitrotpm_2026-02-01.cose" in \
        by_status["SUCCESS"]
    assert "t/fixtures/real/invalid/veracruz_bad_sig_2022-11-09.cose" in \
        by_status["FAILED"]
    # the root built into the executable is AWS's
    same_as_dynamic(root, arch, "verify", "--at", "document", *docs)


def test_x86_64_on_the_host_as_in_the_empty_root(root):
    # on the host it finds Debian's OpenSSL configuration, and still runs
    # only what is linked in
    args = ["verify", "--at", "document", "--root", AWS_ROOT] + \
        real_documents()
    h = subprocess.run([str(binary("x86_64"))] + args, cwd=root,
                       capture_output=True, text=True, timeout=120)
    s = run_static(root, "x86_64", *args)
    assert (h.returncode, h.stderr) == (s.returncode, s.stderr)
    assert events(h) == events(s)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_real_documents_inspect_as_the_dynamic_build_does(root, arch):
    for doc in real_documents():
        s, d = run_static(root, arch, "inspect", doc), \
            run_dynamic(root, "inspect", doc)
        assert (s.returncode, s.stdout, s.stderr) == \
            (d.returncode, d.stdout, d.stderr), doc


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_policy_from_a_real_document(root, arch):
    doc = "t/fixtures/real/turnkey_prod_2025-05-05.cose"
    args = ["policy", "new", "--from-doc", doc, "--root", AWS_ROOT]
    s, d = run_static(root, arch, *args), run_dynamic(root, *args)
    assert s.returncode == d.returncode == 0, s.stderr
    assert s.stdout == d.stdout
    policy = "policy-%s.json" % arch
    (root / policy).write_text(s.stdout)
    s = run_static(root, arch, "policy", "check", policy)
    assert s.returncode == 0, s.stderr
    other = "t/fixtures/real/evervault_ga_2023-09-18.cose"
    evs = same_as_dynamic(root, arch, "verify", "--at", "document",
                          "--root", AWS_ROOT, "--allow-debug", "--policy",
                          policy, doc, other)
    assert [ev["policy_allowed"] for ev in evs] == [True, False]


# -- made by the static executable, read by both --------------------------

@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("key_type", ["p384", "p256", "ed25519"])
def test_mock_pki_and_cert_round_trip(root, arch, key_type):
    pki = "pki-%s-%s" % (arch, key_type)
    key, cert = pki + "/client.key", pki + "/client.pem"
    p = run_static(root, arch, "mock", "pki", pki)
    assert p.returncode == 0, p.stderr
    p = run_static(root, arch, "mock", "cert", "--pki", pki, "--pcr",
                   "0=" + PCR0, "--key-type", key_type, "--out-key", key,
                   "--out-cert", cert)
    assert p.returncode == 0, p.stderr
    for a in ARCHS:
        evs = same_as_dynamic(root, a, "verify", "--root",
                              pki + "/root.pem", cert)
        assert evs[0]["status"] == "SUCCESS", evs
        assert evs[0]["pcrs"]["0"] == PCR0
        assert evs[0]["binding"] == "public_key"


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_cert_wraps_a_document(root, arch):
    pki_dir = "pki-cert-" + arch
    p = run_static(root, arch, "mock", "pki", pki_dir)
    assert p.returncode == 0, p.stderr
    pki = forge.Pki.load(str(root / pki_dir))
    key = forge.new_key("p384")
    (root / pki_dir / "client.key").write_bytes(forge.key_pem(key))
    doc = forge.document(pki, public_key=forge.spki_der(key))
    (root / pki_dir / "doc.cose").write_bytes(doc.cose)
    cert = pki_dir + "/client.pem"
    p = run_static(root, arch, "cert", "--key", pki_dir + "/client.key",
                   "--doc", pki_dir + "/doc.cose", "--out", cert)
    assert p.returncode == 0, p.stderr
    for a in ARCHS:
        evs = same_as_dynamic(root, a, "verify", "--root",
                              pki_dir + "/root.pem", cert)
        assert evs[0]["status"] == "SUCCESS", evs
        assert evs[0]["doc_sha384"] == doc.sha384
