"""events.py: the JSON line of a verdict, as `nitro-attest verify` prints
it and nginx writes it to its event log, and reading that log."""

import json
import os
import time

# the line of `nitro-attest verify`, keys in this order
VERDICT_KEYS = ["event_type", "time", "status", "reason", "severity",
                "module_id", "timestamp_ms", "age_s", "digest", "pcrs",
                "policy", "policy_allowed", "binding", "user_data", "nonce",
                "cert_sha256", "doc_sha384", "cache", "verify_us", "resumed",
                "kind"]
# nginx's event line: the verdict, then the connection it was made for
EVENT_KEYS = VERDICT_KEYS + ["direction", "client_addr", "server_name",
                             "host", "upstream_addr", "rollback"]
# every reason code of a failed attestation
REASONS = ("no_certificate", "no_extension", "malformed_extension",
           "malformed_document", "unsupported_algorithm", "bad_signature",
           "untrusted_root", "chain_invalid", "certificate_expired", "stale",
           "future", "debug_enclave", "denied", "pcr_mismatch",
           "binding_mismatch", "key_not_proven", "rollback", "internal_error")
# failures of severity CRITICAL (nginx logs them at "error")
CRITICAL = ("bad_signature", "untrusted_root", "chain_invalid", "denied",
            "pcr_mismatch", "binding_mismatch", "debug_enclave",
            "key_not_proven", "rollback")
# failures after the signature and the chain held: the document's
# measurements are reported with them
MEASURED = ("stale", "future", "debug_enclave", "denied", "pcr_mismatch",
            "binding_mismatch")


class LogTail:
    """Lines appended to a file since the tail was made."""

    def __init__(self, path):
        self.path = path
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0

    def lines(self):
        with open(self.path) as f:
            f.seek(self.offset)
            return f.read().splitlines()

    def events(self, expect=0, timeout=10.0):
        """The new events; waits up to timeout for at least expect of them
        (a refused client may see its alert before the server has written
        the line)."""
        deadline = time.time() + timeout
        while len(self.lines()) < expect and time.time() < deadline:
            time.sleep(0.05)
        out = []
        for line in self.lines():
            event = json.loads(line)
            assert list(event) == EVENT_KEYS, line
            out.append(event)
        return out


def delta(after, before):
    """after - before, recursively over the numbers of a metrics dict."""
    if isinstance(after, dict):
        return {k: delta(after[k], before.get(k) if before else None)
                for k in after}
    if isinstance(after, bool) or not isinstance(after, int):
        return after
    return after - (before or 0)
