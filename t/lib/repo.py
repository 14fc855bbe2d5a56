"""repo.py: where the tests find the tree they check: the repository, the
test documents under t/fixtures and the programs `make` builds (the
environment may name other builds: NITRO_ATTEST_CLI for the CLI, see
nginx.py for the modules)."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "t" / "fixtures"
REAL = FIXTURES / "real"
REAL_TPM = FIXTURES / "real-tpm"
AWS_ROOT = FIXTURES / "aws_nitro_root_g1.pem"
EXAMPLES = REPO / "conf-examples"
CLI = Path(os.environ.get("NITRO_ATTEST_CLI",
                          REPO / "build" / "nitro-attest"))
