"""nsm.py: the tests' Nitro Secure Module.  There is no /dev/nsm here: the
NSM is the emulator of t/nsm/nsm_emu.c (build/nsm-emu.so), an LD_PRELOAD
library answering the NSM's ioctl on the path NITRO_NSM_EMU_DEVICE names,
with documents signed under a `nitro-attest mock pki`, so the nitro-attest
under test is the shipped binary, unmodified.  emulator_env() is the
environment that puts a process in front of one.
"""

import os
import re
import subprocess
from pathlib import Path

from repo import CLI, REPO

EMU = REPO / "build" / "nsm-emu.so"
# the emulator's module id unless NITRO_NSM_EMU_MODULE_ID says another
MODULE_ID = "i-0123456789abcdef0-enc0123456789abcdef"


def asan_runtime():
    """The sanitizer runtime an ASan build of the CLI links: it must come
    first in LD_PRELOAD, before the emulator."""
    out = subprocess.run(["ldd", str(CLI)], capture_output=True,
                         text=True).stdout
    m = re.search(r"libasan\.so\S* => (\S+)", out)
    return m.group(1) if m else None


def emulator_env(directory, pki) -> dict:
    """os.environ with an emulated NSM at DIRECTORY/nsm (which does not
    exist: only the emulator answers it), documents signed under the mock
    PKI in pki, the PCR state in DIRECTORY/state and each request logged
    to DIRECTORY/requests.log; nitro-attest's default device is it."""
    directory = Path(directory)
    device = str(directory / "nsm")
    preload = [p for p in (asan_runtime(), str(EMU)) if p]
    env = dict(os.environ,
               LD_PRELOAD=" ".join(preload),
               NITRO_NSM_EMU_DEVICE=device,
               NITRO_NSM_EMU_PKI=str(pki),
               NITRO_NSM_EMU_STATE=str(directory / "state"),
               NITRO_NSM_EMU_LOG=str(directory / "requests.log"),
               NITRO_ATTEST_NSM_DEVICE=device)
    for name in ("NITRO_NSM_EMU_FAULT", "NITRO_NSM_EMU_PCRS",
                 "NITRO_NSM_EMU_MODULE_ID"):
        env.pop(name, None)
    return env


def emulator_policy(directory, pki, env) -> Path:
    """DIRECTORY/policy.json: a policy (one allow set, "enclave") pinning
    the PCRs of the emulated NSM that env points at, from one of its
    documents verified under the mock PKI in pki."""
    directory = Path(directory)
    doc = directory / "emulator.cose"
    subprocess.run([str(CLI), "nsm", "attest", "--out", str(doc)], env=env,
                   check=True, capture_output=True, timeout=60)
    policy = subprocess.run(
        [str(CLI), "policy", "new", "--name", "enclave", "--from-doc",
         str(doc), "--root", str(Path(pki) / "root.pem")],
        check=True, capture_output=True, timeout=60).stdout
    path = directory / "policy.json"
    path.write_bytes(policy)
    return path
