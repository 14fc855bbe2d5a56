"""`nitro-attest agent`: the enclave's renewal loop, run as
the shipped binary in front of the tests' NSM emulator (t/lib/nsm.py).
Faults are switched on and off while it runs through a file the emulator
reads at each request, so a test makes renewals fail and recover.

What is checked: the files of DIR and their modes, status.json after a
success and after failures, the last good files kept, the backoff bounded
by TIME, --exec after successes only, SIGHUP, SIGTERM and SIGINT, --once's
exit status, and that DIR never holds a half-written file.
"""

import datetime
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import forge
from cli import cert_document, one_line
from nsm import EMU, MODULE_ID, emulator_env
from repo import CLI, REPO

FILES = ["bundle.pem", "cert.pem", "key.pem", "status.json"]
STATUS_KEYS = ["renewed_at", "next_at", "module_id", "timestamp_ms",
               "cert_sha256", "failures", "last_error"]
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# a temporary name of the agent's, seen only while it renames a file
TEMPORARY = re.compile(r"\.(bundle\.pem|cert\.pem|key\.pem|status\.json)"
                       r"\.[A-Za-z0-9]{6}")


def ms(text) -> int:
    """An RFC 3339 UTC time of status.json in ms since the epoch."""
    assert RFC3339.fullmatch(text), text
    t = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return int(t.replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)


class Agent:
    """An emulated NSM and a DIR of its own; run() for --once, start() for
    the loop in the background (its standard error in a file)."""

    def __init__(self, directory, pki):
        self.home = directory
        self.dir = directory / "certs"
        self.faults = directory / "faults"
        self.faults.write_text("")
        self.env = dict(emulator_env(directory, pki),
                        NITRO_NSM_EMU_FAULT="@%s" % self.faults)
        self.device = self.env["NITRO_NSM_EMU_DEVICE"]
        self.log = directory / "agent.log"
        self.proc = None

    def argv(self, *args):
        return [str(CLI), "agent", "--dir", str(self.dir)] + [
            str(a) for a in args]

    def run(self, *args):
        return subprocess.run(self.argv(*args), cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=60)

    def start(self, *args) -> "Agent":
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen(
                self.argv(*args), cwd=REPO, env=self.env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        return self

    def fault(self, spec=""):
        """The emulator's faults from the next request on ("": none)."""
        self.faults.write_text(spec + "\n")

    def lines(self) -> list:
        return self.log.read_text().splitlines()

    def wait_lines(self, n, timeout=20.0) -> list:
        """The log once it has n lines."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            lines = self.lines()
            if len(lines) >= n:
                return lines
            assert self.proc.poll() is None, (self.proc.returncode,
                                              self.lines())
            time.sleep(0.05)
        raise AssertionError("%d log lines after %gs, not %d: %s" % (
            len(self.lines()), timeout, n, self.lines()))

    def stop(self, sig=signal.SIGTERM) -> int:
        """Sends sig; the exit status.  Nothing on standard output."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("the agent did not stop on %s" % sig)
        assert self.proc.stdout.read() == b""
        self.proc.stdout.close()
        self.proc = None
        return code

    def status(self) -> dict:
        text = (self.dir / "status.json").read_text()
        assert text.endswith("\n") and text.count("\n") == 1, text
        pairs = json.loads(text, object_pairs_hook=lambda p: p)
        assert [k for k, _ in pairs] == STATUS_KEYS, text
        return dict(pairs)

    def files(self) -> dict:
        return {name: (self.dir / name).read_bytes()
                for name in FILES[:3]}


@pytest.fixture
def agent(tmp_path, mock_pki):
    if not EMU.exists():
        pytest.fail("%s is missing: run `make build/nsm-emu.so` first" % EMU)
    a = Agent(tmp_path, mock_pki)
    yield a
    if a.proc is not None:
        a.proc.kill()
        a.proc.wait()
        a.proc.stdout.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_pair(files) -> x509.Certificate:
    """bundle.pem is key.pem then cert.pem, and the key is the
    certificate's; the certificate."""
    assert files["bundle.pem"] == files["key.pem"] + files["cert.pem"]
    key = serialization.load_pem_private_key(files["key.pem"], None)
    cert = x509.load_pem_x509_certificate(files["cert.pem"])
    assert forge.spki_der(key) == forge.spki_der(cert.public_key())
    return cert


def check_success(agent, before_ms, every_ms=60000) -> dict:
    """The files in place with their modes; status.json after a success,
    naming that certificate and its document."""
    names = sorted(os.listdir(agent.dir))
    assert names == FILES, names
    for name, mode in (("key.pem", 0o600), ("bundle.pem", 0o600),
                       ("cert.pem", 0o644), ("status.json", 0o644)):
        st = os.stat(agent.dir / name)
        assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == mode, \
            (name, oct(st.st_mode))
    files = agent.files()
    cert = check_pair(files)
    doc = forge.decode(cert_document(agent.dir / "cert.pem"))
    s = agent.status()
    now = forge.now_ms()
    assert before_ms - 1000 <= ms(s["renewed_at"]) <= now + 1000, s
    assert ms(s["next_at"]) - ms(s["renewed_at"]) == \
        pytest.approx(every_ms, abs=1000), s
    assert s["module_id"] == MODULE_ID == doc["module_id"]
    assert s["timestamp_ms"] == doc["timestamp"]
    assert before_ms - 1000 <= s["timestamp_ms"] <= now + 1000
    assert s["cert_sha256"] == sha256(
        cert.public_bytes(serialization.Encoding.DER))
    assert s["failures"] == 0 and s["last_error"] is None, s
    return s


def renewed_line(line, s):
    """The log line of a renewal names its module id, timestamp and
    certificate."""
    assert line.startswith("nitro-attest: agent: renewed "), line
    assert "module_id=%s" % s["module_id"] in line, line
    assert "cert_sha256=%s" % s["cert_sha256"] in line, line
    ts = datetime.datetime.fromtimestamp(
        s["timestamp_ms"] / 1000, datetime.timezone.utc)
    assert "timestamp=%s.%03dZ" % (ts.strftime("%Y-%m-%dT%H:%M:%S"),
                                   s["timestamp_ms"] % 1000) in line, line


# ---------------------------------------------------------------------------
# --once: one renewal.

def test_agent_once_writes_the_files_and_exits_0(agent, mock_pki):
    before = forge.now_ms()
    p = agent.run("--once")
    assert p.returncode == 0 and p.stdout == "", p
    s = check_success(agent, before)
    renewed_line(one_line(p.stderr), s)
    # the certificate verifies as nginx would take it
    v = subprocess.run([str(CLI), "verify", "--root",
                        os.path.join(mock_pki, "root.pem"),
                        str(agent.dir / "cert.pem")],
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v
    assert json.loads(v.stdout)["status"] == "SUCCESS"


def test_agent_makes_dir_and_clears_its_leftovers(agent):
    """A temporary file a killed agent left is removed; the rest of DIR
    is not the agent's to touch."""
    agent.dir.mkdir()
    (agent.dir / ".bundle.pem.a1B2c3").write_text("half")
    (agent.dir / "app.conf").write_text("mine")
    (agent.dir / ".bundle.pem.kept").write_text("not ours")
    assert agent.run("--once").returncode == 0
    assert sorted(os.listdir(agent.dir)) == sorted(
        FILES + ["app.conf", ".bundle.pem.kept"])
    assert (agent.dir / "app.conf").read_text() == "mine"


@pytest.mark.parametrize("key_type,kind", [
    (None, ec.SECP256R1), ("p256", ec.SECP256R1), ("p384", ec.SECP384R1),
    ("ed25519", None)])
def test_agent_key_types(agent, key_type, kind):
    args = ["--once"] + (["--key-type", key_type] if key_type else [])
    assert agent.run(*args).returncode == 0
    key = check_pair(agent.files()).public_key()
    if kind is None:
        assert isinstance(key, ed25519.Ed25519PublicKey)
    else:
        assert isinstance(key.curve, kind)


@pytest.mark.parametrize("mode,field", [
    ("public_key", "public_key"), ("user_data_spki", "user_data"),
    ("user_data_sha256", "user_data"), ("user_data_sha384", "user_data")])
def test_agent_binding(agent, mock_pki, mode, field):
    assert agent.run("--once", "--binding", mode).returncode == 0
    cert = check_pair(agent.files())
    spki = forge.spki_der(cert.public_key())
    doc = forge.decode(cert_document(agent.dir / "cert.pem"))
    expected = {"public_key": spki, "user_data_spki": spki,
                "user_data_sha256": hashlib.sha256(spki).digest(),
                "user_data_sha384": hashlib.sha384(spki).digest()}[mode]
    assert doc[field] == expected
    v = subprocess.run([str(CLI), "verify", "--binding", mode, "--root",
                        os.path.join(mock_pki, "root.pem"),
                        str(agent.dir / "cert.pem")],
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v


def test_agent_server_keeps_a_server_certificate(agent, mock_pki):
    """--server NAME: an enclave that serves attested TLS keeps a server
    certificate for NAME, which still verifies."""
    assert agent.run("--once", "--server", "enclave.test").returncode == 0
    cert = check_pair(agent.files())
    san = cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["enclave.test"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(eku.value) == [x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]
    v = subprocess.run([str(CLI), "verify", "--root",
                        os.path.join(mock_pki, "root.pem"),
                        str(agent.dir / "cert.pem")],
                       capture_output=True, text=True, timeout=60)
    assert v.returncode == 0, v
    assert agent.run("--once", "--server", "a,b").returncode == 2


def test_agent_a_new_key_each_renewal(agent):
    assert agent.run("--once").returncode == 0
    first = agent.files()
    assert agent.run("--once").returncode == 0
    second = agent.files()
    for name in ("key.pem", "cert.pem"):
        assert first[name] != second[name]


# a broken NSM, each way: exit 1, status.json says why, no certificate
FAULTS = [("errno=EIO", "Input/output error"),
          ("open=ENOENT", "No such file or directory"),
          ("error=InternalError", "InternalError"),
          ("truncate=20", ""),
          ("reply=a0", "")]


@pytest.mark.parametrize("fault,fragment", FAULTS,
                         ids=[f for f, _ in FAULTS])
def test_agent_once_failure_exits_1(agent, fault, fragment):
    agent.fault(fault)
    p = agent.run("--once")
    assert p.returncode == 1 and p.stdout == "", p
    line = one_line(p.stderr)
    assert "renewal failed (1 in a row" in line, line
    assert agent.device in line and fragment in line, line
    assert sorted(os.listdir(agent.dir)) == ["status.json"]
    s = agent.status()
    assert {k: s[k] for k in ("renewed_at", "module_id", "timestamp_ms",
                              "cert_sha256", "failures")} == {
        "renewed_at": None, "module_id": None, "timestamp_ms": None,
        "cert_sha256": None, "failures": 1}, s
    assert agent.device in s["last_error"] and fragment in s["last_error"]
    assert s["last_error"] in line
    # the retry is due a second later
    assert ms(s["next_at"]) - forge.now_ms() == pytest.approx(1000, abs=1000)


def test_agent_once_runs_exec_and_waits_for_it(agent):
    """--exec after the files are in place; --once exits after it."""
    mark = agent.home / "exec.txt"
    p = agent.run("--once", "--exec", "sleep 0.3; sha256sum %s/cert.pem > %s"
                  % (agent.dir, mark))
    assert p.returncode == 0, p
    assert mark.read_text().split()[0] == sha256(
        (agent.dir / "cert.pem").read_bytes())


def test_agent_once_exec_failure_is_logged_not_fatal(agent):
    p = agent.run("--once", "--exec", "echo from-exec; exit 7")
    assert p.returncode == 0 and p.stdout == "from-exec\n", p
    lines = p.stderr.splitlines()
    assert len(lines) == 2 and "renewed" in lines[0], lines
    assert lines[1] == ('nitro-attest: agent: --exec "echo from-exec; '
                        'exit 7" exited 7'), lines


def test_agent_once_failure_runs_no_exec(agent):
    mark = agent.home / "exec.txt"
    agent.fault("errno=EIO")
    p = agent.run("--once", "--exec", "touch %s" % mark)
    assert p.returncode == 1, p
    assert not mark.exists()


def test_agent_a_file_it_cannot_write_changes_nothing(agent):
    """A write that fails half-way (a file size limit below bundle.pem's
    size): exit 1, DIR's files as they were,
    no temporary left; status.json, small enough, says why."""
    assert agent.run("--once").returncode == 0
    files = agent.files()

    def limit():
        import resource
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    p = subprocess.run(agent.argv("--once"), cwd=REPO, env=agent.env,
                       capture_output=True, text=True, timeout=60,
                       preexec_fn=limit)
    assert p.returncode == 1, p
    error = "%s/bundle.pem: File too large" % agent.dir
    assert error in one_line(p.stderr)
    assert agent.files() == files
    assert sorted(os.listdir(agent.dir)) == FILES
    s = agent.status()
    assert s["failures"] == 1 and s["last_error"] == error, s


@pytest.mark.parametrize("args", [
    [], ["--dir"], ["--dir", ""], ["--dir", "d", "extra"],
    ["--dir", "d", "--every", "0"], ["--dir", "d", "--every", "soon"],
    ["--dir", "d", "--every", "-5"], ["--dir", "d", "--every", "366d"],
    ["--dir", "d", "--key-type", "rsa2048"],
    ["--dir", "d", "--key-type", "p521"], ["--dir", "d", "--binding", "none"],
    ["--dir", "d", "--binding", "spki"], ["--dir", "d", "--once=yes"],
    ["--dir", "d", "--frobnicate"],
], ids=lambda a: "_".join(a) or "nothing")
def test_agent_usage_errors_exit_2(agent, tmp_path, args):
    p = subprocess.run([str(CLI), "agent"] + args, cwd=tmp_path,
                       env=agent.env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2 and p.stdout == "", p
    one_line(p.stderr)
    assert not (tmp_path / "d").exists()


def test_agent_dir_that_cannot_be_made_exits_2(agent, tmp_path):
    (tmp_path / "file").write_text("")
    p = subprocess.run([str(CLI), "agent", "--once", "--dir",
                        str(tmp_path / "file" / "certs")], env=agent.env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stdout == "", p
    assert "Not a directory" in one_line(p.stderr)


# ---------------------------------------------------------------------------
# The loop.

def test_agent_failures_keep_the_last_good_files(agent):
    """A success, three failures (status.json counts them, the files stay
    byte for byte), then a success again."""
    before = forge.now_ms()
    agent.start("--every", "1h")
    first = agent.wait_lines(1)
    good = check_success(agent, before, every_ms=3600 * 1000)
    renewed_line(first[0], good)
    files = agent.files()

    agent.fault("error=InternalError")
    for n in (1, 2, 3):
        agent.proc.send_signal(signal.SIGHUP)
        line = agent.wait_lines(1 + n)[-1]
        assert "renewal failed (%d in a row" % n in line, line
        assert "InternalError" in line and agent.device in line, line
        s = agent.status()
        assert s["failures"] == n, s
        assert "InternalError" in s["last_error"], s
        # the last success, as it was
        for k in ("renewed_at", "module_id", "timestamp_ms", "cert_sha256"):
            assert s[k] == good[k], (k, s, good)
        assert agent.files() == files
        assert sorted(os.listdir(agent.dir)) == FILES

    agent.fault()
    before = forge.now_ms()
    agent.proc.send_signal(signal.SIGHUP)
    line = agent.wait_lines(5)[-1]
    s = check_success(agent, before, every_ms=3600 * 1000)
    renewed_line(line, s)
    assert s["cert_sha256"] != good["cert_sha256"]
    assert agent.stop() == 0


def test_agent_backoff_doubles_up_to_time(agent):
    """Failures from the start, --every 3s: retries 1 s, 2 s, then 3 s
    (not 4 s) apart, each due at the next_at its status.json says."""
    agent.fault("errno=EIO")
    agent.start("--every", "3s")
    due = []
    for n in range(1, 6):
        line = agent.wait_lines(n, timeout=10)[-1]
        assert "renewal failed (%d in a row" % n in line, line
        due.append(ms(re.search(r"next_at=(\S+)$", line)[1]))
        if n > 1:
            # this attempt came when the one before said it would
            assert forge.now_ms() >= due[-2] - 50
    gaps = [(b - a) / 1000 for a, b in zip(due, due[1:])]
    for gap, expected in zip(gaps, [2, 3, 3, 3]):
        assert gap == pytest.approx(expected, abs=0.4), gaps
    assert agent.stop() == 0
    assert agent.status()["failures"] >= 5


def test_agent_renews_every_time(agent):
    agent.start("--every", "700ms")
    lines = agent.wait_lines(4)
    due = [ms(re.search(r"next_at=(\S+)$", line)[1]) for line in lines]
    gaps = [(b - a) / 1000 for a, b in zip(due, due[1:])]
    assert all(g == pytest.approx(0.7, abs=0.3) for g in gaps), gaps
    assert len({re.search(r"cert_sha256=(\S+)", line)[1]
                for line in lines}) == 4
    assert agent.stop() == 0


def test_agent_exec_after_successes_only(agent):
    """--exec runs after each success, once the files are in place (it
    sees the new certificate), never after a failure; its failure is
    logged and the agent goes on."""
    marks = agent.home / "exec.txt"
    agent.start("--every", "1h", "--exec",
                "openssl x509 -in %s/cert.pem -outform DER | sha256sum >> %s; "
                "exit 3"
                % (agent.dir, marks))
    agent.wait_lines(2)
    agent.fault("errno=EIO")
    agent.proc.send_signal(signal.SIGHUP)
    agent.wait_lines(3)
    agent.proc.send_signal(signal.SIGHUP)
    agent.wait_lines(4)
    agent.fault()
    agent.proc.send_signal(signal.SIGHUP)
    lines = agent.wait_lines(6)
    assert agent.stop() == 0
    lines = agent.lines()
    kinds = [("renewed" if " renewed " in line else
              "failed" if "renewal failed" in line else
              "exec" if '--exec "' in line else line) for line in lines]
    assert kinds == ["renewed", "exec", "failed", "failed", "renewed",
                     "exec", "nitro-attest: agent: SIGTERM: stopped"], lines
    assert lines[1].endswith(" exited 3"), lines
    seen = [line.split()[0] for line in marks.read_text().splitlines()]
    shas = [re.search(r"cert_sha256=(\S+)", line)[1] for line in lines
            if " renewed " in line]
    assert seen == shas


def test_agent_sighup_renews_now(agent):
    agent.start("--every", "1h")
    agent.wait_lines(1)
    first = agent.status()
    asked = forge.now_ms()
    agent.proc.send_signal(signal.SIGHUP)
    line = agent.wait_lines(2, timeout=5)[-1]
    assert forge.now_ms() - asked < 5000
    s = check_success(agent, asked, every_ms=3600 * 1000)
    renewed_line(line, s)
    assert s["cert_sha256"] != first["cert_sha256"]
    assert agent.stop() == 0


@pytest.mark.parametrize("sig,name", [(signal.SIGTERM, "SIGTERM"),
                                      (signal.SIGINT, "SIGINT")])
def test_agent_sigterm_and_sigint_exit_0(agent, sig, name):
    agent.start("--every", "1h")
    agent.wait_lines(1)
    files = agent.files()
    assert agent.stop(sig) == 0
    assert agent.lines()[-1] == "nitro-attest: agent: %s: stopped" % name
    assert agent.files() == files
    assert sorted(os.listdir(agent.dir)) == FILES


def test_agent_stop_during_a_renewal_finishes_it(agent):
    """SIGTERM while the NSM is slow to answer: the renewal is finished,
    then the agent exits 0 with its files whole."""
    agent.start("--every", "1h")
    agent.wait_lines(1)
    agent.fault("slow=1500")
    agent.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert agent.stop() == 0
    lines = agent.lines()
    assert len(lines) == 3 and " renewed " in lines[1], lines
    check_pair(agent.files())
    assert agent.status()["cert_sha256"] in lines[1]


def test_agent_signals_before_the_first_renewal_ends(agent):
    """A SIGHUP and a SIGTERM that come during the first renewal wait
    until it is done: it is finished, then the agent stops, exit 0."""
    agent.fault("slow=1000")
    agent.start("--every", "1h")
    time.sleep(0.4)
    agent.proc.send_signal(signal.SIGHUP)
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(15) == 0
    lines = agent.lines()
    assert " renewed " in lines[0] and lines[-1].endswith("stopped"), lines


def test_agent_dir_never_holds_a_half_written_file(agent):
    """Renewing every 50 ms, DIR listed at random moments for 3 s: every
    file there is whole (the key and certificate of bundle.pem a pair,
    status.json JSON), other names are only the agent's temporaries of
    the instant before a rename; once stopped, the four files only."""
    import random
    agent.start("--every", "50ms")
    agent.wait_lines(1)
    deadline = time.time() + 3
    looks = temporaries = 0
    while time.time() < deadline:
        time.sleep(random.uniform(0, 0.03))
        looks += 1
        for name in os.listdir(agent.dir):
            try:
                data = (agent.dir / name).read_bytes()
            except FileNotFoundError:
                temporaries += 1        # renamed since the listing
                assert TEMPORARY.fullmatch(name), name
                continue
            if name == "bundle.pem":
                key = serialization.load_pem_private_key(data, None)
                cert = x509.load_pem_x509_certificate(data)
                assert forge.spki_der(key) == \
                    forge.spki_der(cert.public_key())
            elif name == "key.pem":
                serialization.load_pem_private_key(data, None)
            elif name == "cert.pem":
                x509.load_pem_x509_certificate(data)
            elif name == "status.json":
                assert json.loads(data)["failures"] == 0
            else:
                temporaries += 1
                assert TEMPORARY.fullmatch(name), name
                # named only once written in full
                if name.startswith(".status.json."):
                    json.loads(data)
                elif data:
                    assert data.rstrip().endswith(b"-----")
    renewals = len(agent.lines())
    assert agent.stop() == 0
    assert sorted(os.listdir(agent.dir)) == FILES
    print("%d listings, %d renewals, %d temporary names seen"
          % (looks, renewals, temporaries))
    assert renewals > 10 and looks > 50
