"""nitro-attest policy new|add|deny|remove|check, tested against CONTRACT.md
section 16 (and the policy file of sections 3 and 15).

Each test is a command a pipeline would run and what it reads back: the
policy printed or left in the file, the lines of `check`, the exit status
and the one-line message of a refusal.  Lint lines are `FILE: SET: text`;
a warning about the file as a whole (allow_debug) names the set `-`.
"""

import json
import os
import stat
import subprocess

import pytest

import forge
from conftest import CLI, REPO

H0 = "a0" * 48
H1 = "a1" * 48
H2 = "a2" * 48
H8 = "a8" * 48
ZERO = "00" * 48
SHA384_ALG = "Sha384 { ... }"


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].strip(), repr(stderr)
    return lines[0]


def refused(run, *needles) -> str:
    """Exit 2, nothing on stdout, one line on stderr holding needles."""
    assert run.code == 2, run.describe()
    assert run.stdout == "", run.describe()
    line = one_line(run.stderr)
    for needle in needles:
        assert needle in line, line
    return line


def write(path, doc) -> str:
    text = doc if isinstance(doc, str) else json.dumps(doc, indent=2)
    with open(str(path), "w") as f:
        f.write(text)
    return str(path)


def read(path) -> dict:
    with open(str(path)) as f:
        return json.load(f)


def raw(path) -> bytes:
    with open(str(path), "rb") as f:
        return f.read()


def pset(name, pcrs, **extra) -> dict:
    out = {"name": name, "pcrs": {str(k): v for k, v in pcrs.items()}}
    out.update(extra)
    return out


@pytest.fixture
def new(nitro):
    """new(*args) -> (run, the printed policy or None)."""
    def run(*args):
        r = nitro("policy", "new", *args)
        return r, (json.loads(r.stdout) if r.code == 0 else None)
    return run


@pytest.fixture
def base(tmp_path):
    """A policy file with two allow sets and a deny set, keys in an order
    the tool must keep."""
    return write(tmp_path / "policy.json", {
        "allow_debug": False,
        "deny": [pset("v40", {0: "d0" * 48})],
        "allow": [pset("v41", {0: H0, 1: H1}, expect_every="30s"),
                  pset("host", {4: "b4" * 48}, kind="nitrotpm")],
    })


def check(nitro, path):
    """(exit status, lint lines) of policy check."""
    r = nitro("policy", "check", path)
    assert r.code in (0, 1), r.describe()
    assert r.stderr == "", r.describe()
    return r.code, r.stdout.splitlines()


def temp_files(path):
    d = os.path.dirname(str(path))
    return sorted(n for n in os.listdir(d) if n.startswith("."))


# ---------------------------------------------------------------------------
# policy new

def test_s16_new_prints_one_allow_set_that_loads(nitro, new, tmp_path):
    r, pol = new("--name", "payments-v42", "--pcr", "2=" + H2, "--pcr",
                 "0=" + H0.upper(), "--pcr", "1=" + H1)
    assert r.code == 0 and r.stderr == "", r.describe()
    assert pol == {"allow": [{"name": "payments-v42",
                              "pcrs": {"0": H0, "1": H1, "2": H2}}]}
    # PCRs in index order, lowercase
    assert list(pol["allow"][0]["pcrs"]) == ["0", "1", "2"]
    p = write(tmp_path / "p.json", r.stdout)
    assert check(nitro, p) == (0, [])


def test_s16_new_policy_judges_documents(nitro, new, tmp_path, pki, t0):
    doc = forge.document(pki, timestamp_ms=t0)
    r, _ = new("--name", "prod", "--pcr", "0=" + doc.pcrs[0].hex(),
               "--pcr", "1=" + doc.pcrs[1].hex())
    p = write(tmp_path / "p.json", r.stdout)
    d = tmp_path / "doc.cose"
    d.write_bytes(doc.cose)
    v = nitro("verify", "--root", pki.root_pem, "--at", str(t0 + 1000),
              "--policy", p, str(d))
    assert v.code == 0, v.describe()
    assert v.event["policy"] == "prod"


def test_s16_new_expect_every(new):
    r, pol = new("--name", "a", "--pcr", "0=" + H0, "--expect-every",
                 "1h 30m")
    assert r.code == 0, r.describe()
    assert pol["allow"][0]["expect_every"] == "1h 30m"


@pytest.mark.parametrize("kind", ["enclave", "nitrotpm"])
def test_s15_new_kind_is_written(new, kind):
    r, pol = new("--name", "a", "--kind", kind, "--pcr", "0=" + H0,
                 "--pcr", "23=" + H1)
    assert r.code == 0, r.describe()
    assert pol["allow"][0]["kind"] == kind
    assert list(pol["allow"][0]) == ["name", "kind", "pcrs"]


def test_s15_new_default_kind_writes_no_key(new):
    r, pol = new("--name", "a", "--pcr", "31=" + H0)
    assert r.code == 0, r.describe()
    assert "kind" not in pol["allow"][0]


@pytest.mark.parametrize("args,needles", [
    ((), ["--name is required"]),
    (("--name", "a"), ["no PCR given"]),
    (("--name", "a", "--pcr", "x=" + H0), ["--pcr", "not N=HEX"]),
    (("--name", "a", "--pcr", H0), ["--pcr", "not N=HEX"]),
    (("--name", "a", "--pcr", "-1=" + H0), ["not N=HEX"]),
    (("--name", "a", "--pcr", "32=" + H0), ["PCR 32 is not 0..31"]),
    (("--name", "a", "--pcr", "0=" + H0[:-2]), ["PCR 0 must be 64, 96"]),
    (("--name", "a", "--pcr", "0=" + "zz" * 48), ["PCR 0 must be 64, 96"]),
    (("--name", "a", "--pcr", "0="), ["PCR 0 must be"]),
    (("--name", "a", "--pcr", "0=" + H0, "--pcr", "0=" + H1),
     ["PCR 0 given twice"]),
    (("--name", "a", "--kind", "nitrotpm", "--pcr", "24=" + H0),
     ["PCR 24 is not 0..23", "nitrotpm"]),
    (("--name", "a", "--kind", "vm", "--pcr", "0=" + H0),
     ["--kind must be enclave or nitrotpm", '"vm"']),
    (("--name", "a", "--pcr", "0=" + H0, "--expect-every", "soon"),
     ['--expect-every "soon"']),
    (("--name", "a", "--pcr", "0=" + H0, "--expect-every", "0s"),
     ["--expect-every"]),
    (("--name", "", "--pcr", "0=" + H0), ['"name" must be']),
    (("--name", "x" * 129, "--pcr", "0=" + H0), ['"name" must be']),
    (("--name", "a", "--name", "b", "--pcr", "0=" + H0),
     ["--name given twice"]),
    (("--name", "a", "--pcr", "0=" + H0, "extra"),
     ['unexpected argument "extra"']),
    (("--name", "a", "--pcr", "0=" + H0, "--colour"),
     ["unknown option --colour"]),
    (("--name",), ["--name needs a value"]),
])
def test_s16_new_usage_errors(new, args, needles):
    r, _ = new(*args)
    refused(r, "policy new", *needles)


# ---------------------------------------------------------------------------
# --from-eif: what nitro-cli build-enclave and describe-eif print

def build_enclave_output(signed=False) -> dict:
    m = {"HashAlgorithm": SHA384_ALG, "PCR0": H0.upper(), "PCR1": H1,
         "PCR2": H2}
    if signed:
        m["PCR8"] = H8
    return {"Measurements": m}


def describe_eif_output(signed=False) -> dict:
    return {"EifVersion": 4,
            "Measurements": build_enclave_output(signed)["Measurements"],
            "IsSigned": signed, "CheckCRC": True, "ImageName": "payments",
            "ImageVersion": "1.0",
            "Metadata": {"BuildTime": "2026-11-30T10:00:00Z",
                         "BuildTool": "nitro-cli", "BuildToolVersion": "1.3",
                         "OperatingSystem": "Linux", "KernelVersion": "6.1",
                         "DockerInfo": {"Id": "sha256:00"}}}


@pytest.mark.parametrize("shape", [build_enclave_output, describe_eif_output])
@pytest.mark.parametrize("signed", [False, True])
def test_s16_new_from_eif(new, tmp_path, shape, signed):
    eif = write(tmp_path / "eif.json", shape(signed))
    r, pol = new("--name", "v42", "--from-eif", eif)
    assert r.code == 0, r.describe()
    want = {"0": H0, "1": H1, "2": H2}
    if signed:
        want["8"] = H8
    assert pol == {"allow": [{"name": "v42", "pcrs": want}]}


def test_s16_new_from_eif_on_stdin_with_more_pcrs(nitro, tmp_path):
    r = nitro("policy", "new", "--name", "v42", "--from-eif", "-",
              "--pcr", "3=" + "a3" * 48, "--expect-every", "5m",
              stdin=json.dumps(describe_eif_output(True)).encode())
    assert r.code == 0, r.describe()
    pcrs = json.loads(r.stdout)["allow"][0]["pcrs"]
    assert list(pcrs) == ["0", "1", "2", "3", "8"]


@pytest.mark.parametrize("content,args,needles", [
    ("{", (), ["eif.json line"]),
    ('{"PCR0": "%s"}' % H0, (), ['no "Measurements"']),
    ('{"Measurements": [1]}', (), ['no "Measurements"']),
    ('{"Measurements": {"HashAlgorithm": "Sha256 { ... }", "PCR0": "%s"}}'
     % H0, (), ["HashAlgorithm is not Sha384"]),
    ('{"Measurements": {"HashAlgorithm": "%s", "PCR1": "%s"}}'
     % (SHA384_ALG, H1), (), ["no PCR0"]),
    ('{"Measurements": {"PCR0": "%s", "PCRx": "%s"}}' % (H0, H1), (),
     ['"PCRx" is not a PCR measurement']),
    ('{"Measurements": {"PCR0": 7}}', (), ['"PCR0" is not a PCR']),
    ('{"Measurements": {"PCR0": "%s"}}' % H0[:10], (),
     ["eif.json: PCR 0 must be 64, 96 or 128 hex digits"]),
    ('{"Measurements": {"PCR0": "%s", "PCR40": "%s"}}' % (H0, H0), (),
     ["PCR 40 is not 0..31"]),
    (json.dumps(build_enclave_output()), ("--pcr", "1=" + H2),
     ["--pcr: PCR 1 given twice"]),
    (json.dumps(build_enclave_output()), ("--kind", "nitrotpm"),
     ["--from-eif gives enclave measurements"]),
])
def test_s16_new_from_eif_refused(new, tmp_path, content, args, needles):
    eif = write(tmp_path / "eif.json", content)
    r, _ = new("--name", "a", "--from-eif", eif, *args)
    refused(r, "policy new", *needles)


def test_s16_new_from_missing_eif(new, tmp_path):
    r, _ = new("--name", "a", "--from-eif", str(tmp_path / "none.json"))
    refused(r, "none.json", "No such file")


# ---------------------------------------------------------------------------
# policy add / deny / remove: edits in place

def test_s16_add_appends_and_keeps_the_rest(nitro, base):
    before = read(base)
    r = nitro("policy", "add", base, "--name", "v42", "--pcr", "0=" + H2,
              "--pcr", "8=" + H8, "--expect-every", "10m")
    assert (r.code, r.stdout, r.stderr) == (0, "", ""), r.describe()
    after = read(base)
    assert list(after) == ["allow_debug", "deny", "allow"]
    assert after["allow"][:2] == before["allow"]
    assert list(after["allow"][0]) == ["name", "pcrs", "expect_every"]
    assert after["allow"][2] == pset("v42", {0: H2, 8: H8},
                                     expect_every="10m")
    assert after["deny"] == before["deny"]
    assert after["allow_debug"] is False


def test_s16_add_from_eif(nitro, base, tmp_path):
    eif = write(tmp_path / "eif.json", describe_eif_output(True))
    r = nitro("policy", "add", base, "--name", "v42", "--from-eif", eif)
    assert r.code == 0, r.describe()
    assert read(base)["allow"][-1] == pset("v42",
                                           {0: H0, 1: H1, 2: H2, 8: H8})


def test_s15_add_nitrotpm_set(nitro, base):
    r = nitro("policy", "add", base, "--name", "host-2", "--kind",
              "nitrotpm", "--pcr", "7=" + H1, "--pcr", "4=" + H0)
    assert r.code == 0, r.describe()
    assert read(base)["allow"][-1] == {"name": "host-2", "kind": "nitrotpm",
                                       "pcrs": {"4": H0, "7": H1}}


def test_s16_deny_appends_a_deny_set(nitro, base):
    r = nitro("policy", "deny", base, "--name", "v41-cve", "--pcr",
              "0=" + H0)
    assert (r.code, r.stderr) == (0, ""), r.describe()
    after = read(base)
    assert [s["name"] for s in after["deny"]] == ["v40", "v41-cve"]
    assert [s["name"] for s in after["allow"]] == ["v41", "host"]


def test_s16_deny_creates_the_deny_list(nitro, tmp_path):
    p = write(tmp_path / "p.json", {"allow": [pset("v1", {0: H0})]})
    r = nitro("policy", "deny", p, "--name", "v0", "--pcr", "0=" + H1)
    assert r.code == 0, r.describe()
    after = read(p)
    assert list(after) == ["allow", "deny"]
    assert after["deny"] == [pset("v0", {0: H1})]


def test_s16_remove_allow_and_deny_sets(nitro, base):
    assert nitro("policy", "remove", base, "--name", "v41").code == 0
    assert [s["name"] for s in read(base)["allow"]] == ["host"]
    assert nitro("policy", "remove", base, "--name", "v40").code == 0
    after = read(base)
    assert after["deny"] == [] and list(after) == ["allow_debug", "deny",
                                                   "allow"]
    assert check(nitro, base)[0] == 0


def test_s16_edit_is_a_rename(nitro, base):
    os.chmod(base, 0o640)
    inode = os.stat(base).st_ino
    r = nitro("policy", "add", base, "--name", "v42", "--pcr", "0=" + H2)
    assert r.code == 0, r.describe()
    st = os.stat(base)
    assert st.st_ino != inode
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert temp_files(base) == []


def test_s16_edit_through_a_symlink_edits_its_target(nitro, base,
                                                     tmp_path):
    link = tmp_path / "current.json"
    os.symlink(base, str(link))
    r = nitro("policy", "add", str(link), "--name", "v42", "--pcr",
              "0=" + H2)
    assert r.code == 0, r.describe()
    assert os.path.islink(str(link))
    assert read(base)["allow"][-1]["name"] == "v42"


REFUSED_EDITS = [
    (("add", "--name", "v41", "--pcr", "0=" + H2),
     ['allow set "v41" exists']),
    (("add", "--name", "v40", "--pcr", "0=" + H2),
     ['deny set "v40" exists']),
    (("deny", "--name", "host", "--pcr", "0=" + H2),
     ['allow set "host" exists']),
    (("remove", "--name", "v39"), ['no set is named "v39"']),
    (("add", "--name", "v42"), ["no PCR given"]),
    (("add", "--pcr", "0=" + H2), ["--name is required"]),
    (("remove",), ["--name is required"]),
    (("remove", "--name", "v41", "--pcr", "0=" + H2),
     ["takes --name only"]),
    (("deny", "--name", "v0", "--pcr", "0=" + H2, "--expect-every", "1m"),
     ["--expect-every is for allow sets only"]),
    (("add", "--name", "x" * 129, "--pcr", "0=" + H2),
     ["policy.json", '"name" must be']),
    (("add", "--name", "v42", "--kind", "nitrotpm", "--pcr", "30=" + H2),
     ["PCR 30 is not 0..23"]),
]


@pytest.mark.parametrize("args,needles", REFUSED_EDITS)
def test_s16_refused_edit_leaves_the_file(nitro, base, args, needles):
    before, inode = raw(base), os.stat(base).st_ino
    r = nitro("policy", args[0], base, *args[1:])
    refused(r, "policy " + args[0], *needles)
    assert raw(base) == before and os.stat(base).st_ino == inode
    assert temp_files(base) == []


def test_s16_remove_of_the_last_allow_set_is_refused(nitro, tmp_path):
    p = write(tmp_path / "p.json", {"allow": [pset("only", {0: H0})],
                                    "deny": [pset("old", {0: H1})]})
    before = raw(p)
    r = nitro("policy", "remove", p, "--name", "only")
    refused(r, "p.json", '"only" is the last allow set')
    assert raw(p) == before


@pytest.mark.parametrize("content,needle", [
    ('{"allow": [', "line"),
    ('{"allow": []}', '"allow" must not be empty'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}}], "owner": "ops"}' % H0,
     'unknown key "owner"'),
])
@pytest.mark.parametrize("cmd", ["add", "deny", "remove"])
def test_s16_malformed_file_is_not_edited(nitro, tmp_path, content, needle,
                                          cmd):
    p = write(tmp_path / "p.json", content)
    args = ["--name", "b"] + ([] if cmd == "remove" else ["--pcr", "0=" + H1])
    r = nitro("policy", cmd, p, *args)
    refused(r, "p.json", needle)
    assert raw(p) == content.encode()


@pytest.mark.parametrize("files", [[], ["a.json", "b.json"]])
def test_s16_edit_needs_exactly_one_file(nitro, tmp_path, files):
    r = nitro("policy", "add", *[str(tmp_path / f) for f in files],
              "--name", "x", "--pcr", "0=" + H0)
    refused(r, "exactly one FILE")


def test_s16_edit_of_a_missing_file(nitro, tmp_path):
    r = nitro("policy", "remove", str(tmp_path / "none.json"), "--name", "a")
    refused(r, "none.json", "No such file")
    assert os.listdir(str(tmp_path)) == []


def test_s16_concurrent_edits_all_land(tmp_path):
    """Editors started together on one file: every add, deny and remove
    is in the result and exits 0; an add of a name that exists still
    exits 2.  Each edit renames a new file over the path, so an editor
    that waited for another must edit the new file, not the old one."""
    for rnd in range(3):
        p = write(tmp_path / "p.json", {
            "allow": [pset("keep", {0: H0})] +
                     [pset("old%d" % i, {0: H1}) for i in range(5)],
            "deny": [pset("gone%d" % i, {0: H2}) for i in range(5)],
        })
        os.chmod(p, 0o640)
        edits = ([("add", "--name", "a%d" % i, "--pcr",
                   "0=" + "%02x" % (16 + i) * 48)
                  for i in range(20)] +
                 [("deny", "--name", "d%d" % i, "--pcr",
                   "1=" + "%02x" % (64 + i) * 48)
                  for i in range(10)] +
                 [("remove", "--name", "old%d" % i) for i in range(5)] +
                 [("remove", "--name", "gone%d" % i) for i in range(5)] +
                 [("add", "--name", "keep", "--pcr", "0=" + H8)])
        procs = [subprocess.Popen([str(CLI), "policy", e[0], p] +
                                  list(e[1:]), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
                 for e in edits]
        runs = [(e, pr.wait(timeout=60), pr.stderr.read().decode())
                for e, pr in zip(edits, procs)]
        for pr in procs:
            pr.stdout.close()
            pr.stderr.close()

        assert [r for r in runs[:-1] if r[1:] != (0, "")] == [], rnd
        assert runs[-1][1] == 2 and 'set "keep" exists' in runs[-1][2]
        after = read(p)
        assert sorted(s["name"] for s in after["allow"]) == sorted(
            ["keep"] + ["a%d" % i for i in range(20)]), rnd
        assert sorted(s["name"] for s in after["deny"]) == sorted(
            "d%d" % i for i in range(10)), rnd
        assert after["allow"][0] == pset("keep", {0: H0})
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o640
        assert temp_files(p) == []


# ---------------------------------------------------------------------------
# policy check: lint lines `FILE: SET: text`

def test_s16_check_clean(nitro, base):
    assert check(nitro, base) == (0, [])


@pytest.mark.parametrize("doc,lines", [
    # an allow set pinning neither PCR0 nor PCR8 (deny and nitrotpm sets
    # are not about an image, so they are not warned)
    ({"allow": [pset("lax", {1: H1, 2: H2}), pset("signed", {8: H8}),
                pset("host", {4: H0}, kind="nitrotpm")],
      "deny": [pset("d", {1: H0})]},
     ["lax: pins neither PCR0 nor PCR8: it does not name an enclave "
      "image"]),
    # all-zero values, in allow and deny sets alike
    ({"allow": [pset("z", {0: H0, 3: ZERO, 4: "00" * 32})],
      "deny": [pset("dz", {1: "00" * 64})]},
     ["z: PCR3 is all zero", "z: PCR4 is all zero", "dz: PCR1 is all zero"]),
    ({"allow": [pset("a", {0: H0})], "allow_debug": True},
     ["-: allow_debug is true: debug enclaves (PCR0, PCR1 and PCR2 all "
      "zero) are accepted"]),
    # covered: every PCR of the deny set is in the allow set, same value
    ({"allow": [pset("v41", {0: H0, 1: H1, 2: H2}),
                pset("v42", {0: H2, 1: H1}),
                pset("v43", {0: H0})],
      "deny": [pset("cve", {0: H0.upper(), 1: H1}), pset("old", {1: H1}),
               pset("tpm", {0: H0}, kind="nitrotpm")]},
     ['v41: covered by deny set "cve": every document it allows is denied',
      'v41: covered by deny set "old": every document it allows is denied',
      'v42: covered by deny set "old": every document it allows is denied']),
    # the same PCRs (as a map: order and case do not matter), same kind
    ({"allow": [pset("a", {0: H0, 1: H1}), pset("b", {1: H1.upper(), 0: H0}),
                pset("c", {0: H0}, kind="nitrotpm"),
                pset("d", {0: H0, 1: H1, 2: H2})],
      "deny": [pset("e", {0: H0}, kind="nitrotpm"), pset("f", {0: H2})]},
     ['b: same PCRs as allow set "a"',
      'c: covered by deny set "e": every document it allows is denied',
      'e: same PCRs as allow set "c"']),
    # an allow set equal to a deny set is both covered and a repeat
    ({"allow": [pset("a", {0: H0})], "deny": [pset("d", {0: H0})]},
     ['a: covered by deny set "d": every document it allows is denied',
      'd: same PCRs as allow set "a"']),
])
def test_s16_check_warnings(nitro, tmp_path, doc, lines):
    p = write(tmp_path / "p.json", doc)
    code, out = check(nitro, p)
    assert out == ["%s: %s" % (p, line) for line in lines]
    assert code == 1


def test_s16_check_names_the_file_as_given(nitro, tmp_path):
    write(tmp_path / "p.json", {"allow": [pset("lax", {1: H1})]})
    # the runner works from the repository root
    rel = os.path.relpath(str(tmp_path / "p.json"), str(REPO))
    r = nitro("policy", "check", rel)
    assert r.code == 1
    assert r.stdout.startswith(rel + ": lax: ")


@pytest.mark.parametrize("content,needle", [
    ('{"allow": [', "line 1"),
    ('[]', "not a JSON object"),
    ('{"allow": []}', '"allow" must not be empty'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}, "kind": "vm"}]}' % H0,
     '"kind" must be "enclave" or "nitrotpm"'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}, "kind": 1}]}' % H0,
     '"kind" must be'),
    ('{"allow": [{"name": "a", "kind": "nitrotpm", "pcrs": {"24": "%s"}}]}'
     % H0, 'PCR index "24" is not 0..23'),
    ('{"allow": [{"name": "a", "pcrs": {"0": "%s"}}, '
     '{"name": "a", "pcrs": {"1": "%s"}}]}' % (H0, H1), 'duplicate name'),
])
def test_s16_check_malformed(nitro, tmp_path, content, needle):
    p = write(tmp_path / "p.json", content)
    r = nitro("policy", "check", p)
    refused(r, "policy check", p, needle)


def test_s15_nitrotpm_set_up_to_pcr23_loads(nitro, tmp_path):
    p = write(tmp_path / "p.json", {"allow": [
        pset("a", {0: H0}, kind="enclave"),
        pset("b", {23: H0, 4: H1}, kind="nitrotpm")]})
    assert check(nitro, p) == (0, [])


def test_s16_check_several_files(nitro, tmp_path, base):
    lax = write(tmp_path / "lax.json", {"allow": [pset("lax", {1: H1})]})
    bad = write(tmp_path / "bad.json", "{")
    r = nitro("policy", "check", base, lax)
    assert (r.code, r.stdout) == (1, "%s: lax: pins neither PCR0 nor PCR8: "
                                  "it does not name an enclave image\n"
                                  % lax)
    r = nitro("policy", "check", lax, bad, base)
    assert r.code == 2 and r.stdout.count("\n") == 1
    assert "bad.json" in one_line(r.stderr)


def test_s16_check_usage(nitro, tmp_path):
    refused(nitro("policy", "check"), "no FILE given")
    refused(nitro("policy", "check", str(tmp_path / "none.json")),
            "none.json")
    refused(nitro("policy", "check", "--strict", "x"),
            "unknown option --strict")


@pytest.mark.parametrize("args,needle", [
    ((), "missing command"),
    (("edit",), 'unknown command "edit"'),
])
def test_s16_policy_usage(nitro, args, needle):
    refused(nitro("policy", *args), needle)


def test_s16_help_lists_the_policy_commands(nitro):
    r = nitro("--help")
    assert r.code == 0
    for cmd in ("new", "add|deny", "remove", "check"):
        assert "nitro-attest policy " + cmd in r.stdout
