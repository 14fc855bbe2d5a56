"""bench_cli.py: `make bench-cli`: the CLI against the library.

CPU time (user + system, from getrusage of the child) of one
`nitro-attest verify --at document` over the 19 real AWS documents, and of
one run over the same real document given 200 times, each against P-384
verifications measured in the same run (openssl speed): 5 per never-seen
document, 1 for the document repeated (its first verification aside, the
memo answers).  Median of ROUNDS runs.
"""

import glob
import os
import resource
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from bench_handshake import p384_verify_us  # noqa: E402

CLI = os.path.join(REPO, "build", "nitro-attest")
ROOT = os.path.join(REPO, "t", "fixtures", "aws_nitro_root_g1.pem")
DOCS = sorted(glob.glob(os.path.join(REPO, "t", "fixtures", "real",
                                     "*.cose")))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
REPEAT = 200


def cpu_us(files):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([CLI, "verify", "--root", ROOT, "--at", "document",
                    "--allow-debug"] + files, check=True,
                   stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ((after.ru_utime - before.ru_utime)
            + (after.ru_stime - before.ru_stime)) * 1e6


def main():
    fleet, same, p384 = [], [], []
    for _ in range(ROUNDS):
        p384.append(p384_verify_us())
        fleet.append(cpu_us(DOCS))
        same.append(cpu_us([DOCS[0]] * REPEAT))
    p384 = statistics.median(p384)
    fleet = statistics.median(fleet)
    same = statistics.median(same)
    print("P-384 verify (openssl speed): %.0f us" % p384)
    print("CLI, %d real documents: %.0f us CPU, %.0f us per document, "
          "%.3f x 5 P-384 verifications (target <= 1.15)"
          % (len(DOCS), fleet, fleet / len(DOCS),
             fleet / (len(DOCS) * 5 * p384)))
    print("CLI, one real document %d times: %.0f us CPU, %.3f x one P-384 "
          "verification for all of them" % (REPEAT, same, same / p384))


if __name__ == "__main__":
    main()
