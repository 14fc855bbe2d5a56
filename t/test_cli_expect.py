"""nitro-attest expect: what nitro-cli describe-enclaves lists as running,
written as a node_exporter textfile
(nitro_attest_expected_enclave_since_seconds), first sightings kept in a
state file, files replaced atomically, bad input changing nothing, a loop
that runs the nitro-cli it finds on PATH; and a real
prometheus-node-exporter serving what it wrote.
"""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
import urllib.request

import pytest

from conftest import CLI

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
METRIC = "nitro_attest_expected_enclave_since_seconds"
INSTANCE = "i-0123456789abcdef0"
PCR0 = "AB" * 48


def enclave(slot="1", state="RUNNING", flags="NONE", name="pay",
            pcr0=PCR0, pid=4242, instance=INSTANCE):
    """One object as nitro-cli describe-enclaves prints it
    (aws-nitro-enclaves-cli, src/common/json_output.rs)."""
    return {
        "EnclaveName": name,
        "EnclaveID": "%s-enc%s" % (instance, slot),
        "ProcessID": pid,
        "EnclaveCID": 16,
        "NumberOfCPUs": 2,
        "CPUIDs": [1, 3],
        "MemoryMiB": 512,
        "State": state,
        "Flags": flags,
        "Measurements": {"HashAlgorithm": "Sha384 { ... }", "PCR0": pcr0,
                         "PCR1": "00" * 48, "PCR2": "00" * 48}
        if state == "RUNNING" else {},
    }


def samples(text):
    """[(labels dict, value)] of the metric, in file order."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^%s\{(.*)\} (\S+)$" % METRIC, line)
        if m:
            labels = dict((k, re.sub(r"\\(.)", lambda x: {"n": "\n"}.get(
                x.group(1), x.group(1)), v)) for k, v in re.findall(
                    r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(1)))
            out.append((labels, float(m.group(2))))
    return out


def expect(tmp_path, enclaves, *extra, state=True):
    src = tmp_path / "in.json"
    src.write_text(enclaves if isinstance(enclaves, str)
                   else json.dumps(enclaves))
    args = [str(CLI), "expect", "--from", str(src),
            "--textfile", str(tmp_path / "out.prom")]
    if state:
        args += ["--state", str(tmp_path / "state.json")]
    return subprocess.run(args + list(extra), capture_output=True,
                          text=True, timeout=30)


@pytest.mark.parametrize("slot, padded", [
    ("1", "0000000000000001"),
    ("1a", "000000000000001a"),
    ("1A", "000000000000001a"),
    ("0123456789abcdef", "0123456789abcdef"),
])
def test_module_id_carries_the_slot_as_16_hex_digits(tmp_path, slot,
                                                      padded):
    p = expect(tmp_path, [enclave(slot)])
    assert p.returncode == 0, p.stderr
    [(labels, _)] = samples((tmp_path / "out.prom").read_text())
    assert labels["module_id"] == "%s-enc%s" % (INSTANCE, padded)
    assert labels["instance_id"] == INSTANCE


def test_running_enclaves_only_with_their_labels(tmp_path):
    t0 = time.time()
    p = expect(tmp_path, [
        enclave("1", name='pay "v2"\\x'),
        enclave("2", state="TERMINATING"),
        enclave("3", flags="DEBUG_MODE", name="dbg"),
        enclave("4", state="EMPTY"),
    ])
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "out.prom").read_text()
    assert text.startswith("# HELP %s " % METRIC)
    assert "# TYPE %s gauge\n" % METRIC in text
    got = samples(text)
    assert [lab for lab, _ in got] == [
        {"module_id": INSTANCE + "-enc0000000000000001",
         "instance_id": INSTANCE, "enclave_name": 'pay "v2"\\x',
         "pcr0": PCR0.lower(), "debug": "false"},
        {"module_id": INSTANCE + "-enc0000000000000003",
         "instance_id": INSTANCE, "enclave_name": "dbg",
         "pcr0": PCR0.lower(), "debug": "true"},
    ]
    assert all(int(t0) <= v <= time.time() for _, v in got)
    # the exposition format's escapes, exactly
    assert 'enclave_name="pay \\"v2\\"\\\\x"' in text


def test_first_sighting_kept_across_runs_and_dropped_when_gone(tmp_path):
    out = tmp_path / "out.prom"
    assert expect(tmp_path, [enclave("1")]).returncode == 0
    [(_, first)] = samples(out.read_text())
    time.sleep(1.1)
    assert expect(tmp_path, [enclave("1"), enclave("2")]).returncode == 0
    got = {lab["module_id"][-1]: v for lab, v in samples(out.read_text())}
    assert got["1"] == first and got["2"] > first
    # 1 stops: dropped from both files; it comes back: a new first sighting
    assert expect(tmp_path, [enclave("2")]).returncode == 0
    assert [lab["module_id"][-1] for lab, _ in samples(out.read_text())] \
        == ["2"]
    assert INSTANCE + "-enc0000000000000001" not in json.loads(
        (tmp_path / "state.json").read_text())
    time.sleep(1.1)
    assert expect(tmp_path, [enclave("1"), enclave("2")]).returncode == 0
    got = {lab["module_id"][-1]: v for lab, v in samples(out.read_text())}
    assert got["1"] > first
    # a relaunch in the slot between two runs (another process, another
    # PCR0) is a new enclave too
    before = got["1"]
    time.sleep(1.1)
    assert expect(tmp_path, [enclave("1", pid=7), enclave("2")]) \
        .returncode == 0
    got = {lab["module_id"][-1]: v for lab, v in samples(out.read_text())}
    assert got["1"] > before


def test_files_replaced_atomically_with_mode_0644(tmp_path):
    os.umask(0o077)
    try:
        out = tmp_path / "out.prom"
        out.write_text("old\n")
        os.chmod(out, 0o600)
        inode = os.stat(out).st_ino
        assert expect(tmp_path, [enclave("1")]).returncode == 0
    finally:
        os.umask(0o022)
    for f in (out, tmp_path / "state.json"):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o644, f
    # a new inode renamed over the old one, nothing left behind
    assert os.stat(out).st_ino != inode
    assert sorted(os.listdir(tmp_path)) == ["in.json", "out.prom",
                                            "state.json"]


@pytest.mark.parametrize("bad", [
    "[{", "{}", "[1]", "",
    [dict(enclave("1"), EnclaveID="i-0123-enc")],
    [dict(enclave("1"), EnclaveID="nothing")],
    [dict(enclave("1"), EnclaveID="i-0123-encxyz")],
    [dict(enclave("1"), EnclaveID="i-0123-enc00000000000000001")],
    [dict(enclave("1"), ProcessID="4242")],
    [{k: v for k, v in enclave("1").items() if k != "State"}],
    [dict(enclave("1"), Measurements={"PCR1": "00"})],
    [dict(enclave("1"), Flags="SOMETHING")],
    [enclave("1"), enclave("1")],
])
def test_malformed_input_exits_2_and_changes_nothing(tmp_path, bad):
    assert expect(tmp_path, [enclave("5")]).returncode == 0
    before = {f: (tmp_path / f).read_bytes()
              for f in ("out.prom", "state.json")}
    inodes = {f: os.stat(tmp_path / f).st_ino for f in before}
    p = expect(tmp_path, bad)
    assert p.returncode == 2, p.stdout + p.stderr
    assert len(p.stderr.splitlines()) == 1, p.stderr
    for f, data in before.items():
        assert (tmp_path / f).read_bytes() == data, f
        assert os.stat(tmp_path / f).st_ino == inodes[f], f
    assert sorted(os.listdir(tmp_path)) == ["in.json", "out.prom",
                                            "state.json"]


def test_standard_input_by_default(tmp_path):
    p = subprocess.run([str(CLI), "expect", "--textfile",
                        str(tmp_path / "out.prom")],
                       input=json.dumps([enclave("b")]), text=True,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    [(labels, _)] = samples((tmp_path / "out.prom").read_text())
    assert labels["module_id"].endswith("-enc000000000000000b")


def test_usage_errors(tmp_path):
    out = str(tmp_path / "o.prom")
    for args in (["--from", "x"], ["--textfile", out, "--every", "soon"],
                 ["--textfile", out, "--every", "0"],
                 ["--textfile", out, "--every", "1s", "--from", "-"],
                 ["--textfile", out, "extra"]):
        p = subprocess.run([str(CLI), "expect"] + args, capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2, (args, p.stderr)


def fake_nitro_cli(tmp_path):
    """A nitro-cli on PATH that prints bin/out.json (exit status in
    bin/rc) and counts its runs in bin/runs."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "nitro-cli"
    script.write_text(
        "#!/bin/sh\n"
        "[ \"$1\" = describe-enclaves ] || exit 64\n"
        "echo run >> \"%s/runs\"\n"
        "cat \"%s/out.json\"\n"
        "exit $(cat \"%s/rc\" 2>/dev/null || echo 0)\n"
        % (bindir, bindir, bindir))
    script.chmod(0o755)
    return bindir


def runs(bindir):
    try:
        return len((bindir / "runs").read_text().splitlines())
    except FileNotFoundError:
        return 0


def wait_for(cond, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_every_runs_nitro_cli_keeps_the_last_good_file_and_stops_on_sigterm(
        tmp_path):
    bindir = fake_nitro_cli(tmp_path)
    (bindir / "out.json").write_text(json.dumps([enclave("1")]))
    out = tmp_path / "out.prom"
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]))
    proc = subprocess.Popen([str(CLI), "expect", "--textfile", str(out),
                             "--state", str(tmp_path / "state.json"),
                             "--every", "200ms"],
                            env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(lambda: out.exists() and runs(bindir) >= 2)
        [(_, first)] = samples(out.read_text())
        # a new enclave appears; the first keeps its first sighting
        (bindir / "out.json").write_text(json.dumps([enclave("1"),
                                                     enclave("2")]))
        assert wait_for(lambda: len(samples(out.read_text())) == 2)
        assert samples(out.read_text())[0][1] == first
        good = out.read_bytes()
        # bad runs: malformed output, then nitro-cli failing
        n = runs(bindir)
        (bindir / "out.json").write_text("[{")
        assert wait_for(lambda: runs(bindir) >= n + 3)
        (bindir / "out.json").write_text(json.dumps([enclave("1")]))
        (bindir / "rc").write_text("1\n")
        n = runs(bindir)
        assert wait_for(lambda: runs(bindir) >= n + 3)
        assert out.read_bytes() == good
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    lines = err.splitlines()
    assert lines and all(ln.startswith("nitro-attest: expect: ")
                         for ln in lines), err
    assert any("nitro-cli describe-enclaves failed (exit status 1)" in ln
               for ln in lines), err
    assert out.read_bytes() == good


# ---------------------------------------------------------------------------
# A real prometheus-node-exporter, its textfile collector on the directory
# expect writes.

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_node_exporter_serves_the_series(tmp_path):
    if not os.access(NODE_EXPORTER, os.X_OK):
        pytest.fail("%s is missing: install prometheus-node-exporter "
                    "(make deps)" % NODE_EXPORTER)
    textdir = tmp_path / "textfile"
    textdir.mkdir()
    p = subprocess.run([str(CLI), "expect", "--textfile",
                        str(textdir / "nitro-attest.prom")],
                       input=json.dumps([
                           enclave("1", name='pay "x"'),
                           enclave("1a", flags="DEBUG_MODE"),
                           enclave("2", state="TERMINATING")]),
                       text=True, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    port = free_port()
    ne = subprocess.Popen([NODE_EXPORTER,
                           "--web.listen-address=127.0.0.1:%d" % port,
                           "--collector.disable-defaults",
                           "--collector.textfile",
                           "--collector.textfile.directory=%s" % textdir],
                          stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    try:
        text = None
        deadline = time.time() + 15
        while time.time() < deadline and text is None:
            try:
                with urllib.request.urlopen(
                        "http://127.0.0.1:%d/metrics" % port,
                        timeout=5) as r:
                    text = r.read().decode()
            except OSError:
                time.sleep(0.1)
        assert text is not None, "node_exporter did not answer"
    finally:
        ne.terminate()
        ne.wait(timeout=10)
    got = sorted((lab["module_id"], lab["enclave_name"], lab["debug"],
                  lab["pcr0"], lab["instance_id"])
                 for lab, _ in samples(text))
    assert got == [
        (INSTANCE + "-enc0000000000000001", 'pay "x"', "false",
         PCR0.lower(), INSTANCE),
        (INSTANCE + "-enc000000000000001a", "pay", "true", PCR0.lower(),
         INSTANCE),
    ]
    # the collector read the file without an error
    assert re.search(r'node_textfile_scrape_error 0\b', text), text
