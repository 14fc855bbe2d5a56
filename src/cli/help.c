/*
 * help.c: the usage of nitro-attest and of each of its commands, printed
 * on standard output by `nitro-attest help [COMMAND]` and by `--help`
 * anywhere on a command line (main.c routes both here).  The man page
 * (nitro-attest.1) documents every option these texts show.
 */

#include "cli.h"

#include <string.h>


typedef struct {
    const char  *topic;
    const char  *text;
} cli_help_t;


static const char  help_main[] =
    "usage: nitro-attest COMMAND [ARGS]\n"
    "\n"
    "Verifies AWS Nitro Enclaves and NitroTPM attestation documents, and the\n"
    "client certificates that carry them, as the nginx module does; makes\n"
    "such certificates and policy files; inside an enclave, gets documents\n"
    "from its Nitro Secure Module and reads, extends and locks its PCRs,\n"
    "and keeps its client certificate fresh.\n"
    "\n"
    "commands:\n"
    "  nitro-attest verify [OPTIONS] FILE...\n"
    "  nitro-attest inspect [OPTIONS] FILE\n"
    "  nitro-attest cert --key KEY.pem (--doc DOC | --nsm) [OPTIONS] "
    "--out CERT.pem\n"
    "  nitro-attest mock pki DIR\n"
    "  nitro-attest mock cert --pki DIR [OPTIONS] --out-key K --out-cert C\n"
    "  nitro-attest policy new [--name NAME] [OPTIONS]\n"
    "  nitro-attest policy add|deny FILE [--name NAME] [OPTIONS]\n"
    "  nitro-attest policy remove FILE --name NAME\n"
    "  nitro-attest policy check FILE...\n"
    "  nitro-attest nsm attest [--public-key SPKI.der | --key KEY.pem] "
    "[OPTIONS]\n"
    "  nitro-attest nsm describe [--device PATH]\n"
    "  nitro-attest nsm pcr|lock N [--device PATH]\n"
    "  nitro-attest nsm extend N --data HEX|@FILE [--device PATH]\n"
    "  nitro-attest expect [--from FILE] --textfile OUT.prom [OPTIONS]\n"
    "  nitro-attest agent --dir DIR [OPTIONS]\n"
    "  nitro-attest audit verify [OPTIONS] LOG...\n"
    "  nitro-attest help [COMMAND]\n"
    "\n"
    "options:\n"
    "  -h, --help        print this help (COMMAND --help: the command's)\n"
    "  --version         print the version\n"
    "\n"
    "TIME options take nginx time syntax (90, 90s, 5m, 1h30m, 500ms; a bare\n"
    "number is seconds).  Exit status: 0 verified or done, 1 a verification\n"
    "failed, 2 a usage, input or configuration error.\n"
    "\n"
    "\"nitro-attest help COMMAND\" shows a command's options; the manual is\n"
    "\"man nitro-attest\".\n";

static const char  help_verify[] =
    "usage: nitro-attest verify [OPTIONS] FILE...\n"
    "\n"
    "Verifies each FILE, an attestation document (raw, base64 or hex) or a\n"
    "client certificate (PEM or DER) carrying one, and prints one JSON event\n"
    "line per FILE, in order (\"-\" reads standard input).  Exit 0 when all\n"
    "verified, 1 when one failed, 2 on a usage or input error.\n"
    "\n"
    "options:\n"
    "  --root PEM             the one root to pin (default: AWS Nitro\n"
    "                         Enclaves Root-G1, built in)\n"
    "  --policy JSON          judge the PCRs by this policy file (default:\n"
    "                         report them, judge nothing)\n"
    "  --at WHEN              verification time: RFC 3339, milliseconds since\n"
    "                         the epoch, or \"document\" (each document's own\n"
    "                         timestamp); default now\n"
    "  --max-age TIME         oldest acceptable document (default 5m)\n"
    "  --clock-skew TIME      how far in the future a document may be\n"
    "                         (default 60s)\n"
    "  --binding MODE         public_key (default), user_data_spki,\n"
    "                         user_data_sha256 or user_data_sha384\n"
    "  --cert CERT            check a bare document's binding against CERT\n"
    "  --extension OID        the extension carrying the document (default\n"
    "                         1.3.6.1.5.5.7.1.35)\n"
    "  --extension-format cmw|raw\n"
    "                         its content: a CMW (default) or the document\n"
    "  --allow-debug          accept debug enclaves (PCR0, 1 and 2 zero)\n"
    "  --token-key KEY        add the signed token nginx would send upstream,\n"
    "                         signed with KEY (PEM: P-256, P-384 or Ed25519)\n"
    "  --token-issuer TEXT    its issuer (default nitro-attest)\n"
    "  --token-lifetime TIME  its lifetime (default 5m)\n"
    "  -h, --help             print this help\n"
    "\n"
    "TIME is nginx time syntax (90, 90s, 5m, 1h30m, 500ms) or seconds.\n";

static const char  help_inspect[] =
    "usage: nitro-attest inspect [OPTIONS] FILE\n"
    "\n"
    "Prints the attestation document of FILE (a document, raw, base64 or hex,\n"
    "or a certificate carrying one) decoded as JSON, verifying nothing.\n"
    "\n"
    "options:\n"
    "  --extension OID        the extension carrying the document (default\n"
    "                         1.3.6.1.5.5.7.1.35)\n"
    "  --extension-format cmw|raw\n"
    "                         its content: a CMW (default) or the document\n"
    "  -h, --help             print this help\n";

/* the option --device and the exit statuses of what asks the NSM */
#define HELP_NSM_DEVICE                                                      \
    "  --device PATH          the NSM's device (default:\n"                  \
    "                         $NITRO_ATTEST_NSM_DEVICE, else /dev/nsm)\n"

#define HELP_NSM_EXIT                                                        \
    "Exit status: 0 done; 1 when the device is missing, the ioctl fails,\n"  \
    "the answer does not decode or the NSM answers an error code (one line\n"\
    "names the device and the error: the errno text or the code, such as\n"  \
    "InvalidIndex); 2 a usage or input error.\n"

static const char  help_cert[] =
    "usage: nitro-attest cert --key KEY.pem --doc DOC [OPTIONS] "
    "--out CERT.pem\n"
    "       nitro-attest cert --key KEY.pem --nsm [OPTIONS] --out CERT.pem\n"
    "\n"
    "Inside an enclave, or on an EC2 instance with NitroTPM: wraps an\n"
    "attestation document for KEY, read from DOC or asked of the enclave's\n"
    "NSM (--nsm), in a self-signed client certificate for KEY, under the\n"
    "default extension.  A document that does not attest KEY under the\n"
    "binding mode is refused, and nothing is written: no certificate made\n"
    "from it could ever verify.  Only the binding is judged here; verify\n"
    "judges the signature, the chain and the age.\n"
    "\n"
    "options:\n"
    "  --key KEY.pem          the private key the document attests (PEM)\n"
    "  --doc DOC              the document: raw, base64 or hex (\"-\":\n"
    "                         standard input)\n"
    "  --nsm                  ask the NSM for a document attesting KEY\n"
    "  --binding MODE         how the document attests KEY: public_key\n"
    "                         (default: its public_key is KEY's\n"
    "                         SubjectPublicKeyInfo), user_data_spki,\n"
    "                         user_data_sha256 or user_data_sha384 (its\n"
    "                         user_data is that SPKI, or its SHA-256 or\n"
    "                         SHA-384)\n"
    "  --user-data HEX|@FILE  with --nsm: the document's user_data (hex\n"
    "                         digits, or the bytes of FILE); not with a\n"
    "                         user_data_* binding\n"
    "  --nonce HEX|@FILE      with --nsm: the document's nonce\n"
    HELP_NSM_DEVICE
    "  --days N               the certificate's validity, 1..3650 days\n"
    "                         (default 1)\n"
    "  --server NAME          a TLS server's certificate for NAME instead\n"
    "                         (a DNS subjectAltName, serverAuth): an\n"
    "                         enclave serving attested TLS, which nginx\n"
    "                         verifies with nitro_attest_proxy_verify\n"
    "  --out CERT.pem         where to write the certificate\n"
    "  -h, --help             print this help\n"
    "\n"
    "Exit status: 0 written; 1 when --nsm fails (a missing device, a\n"
    "failed ioctl, an answer that does not decode, an NSM error code); 2 a\n"
    "usage or input error, or a document that does not attest KEY.\n";

static const char  help_nsm[] =
    "usage: nitro-attest nsm attest [--public-key SPKI.der | --key KEY.pem] "
    "[OPTIONS]\n"
    "       nitro-attest nsm describe [--device PATH]\n"
    "       nitro-attest nsm pcr N [--device PATH]\n"
    "       nitro-attest nsm extend N --data HEX|@FILE [--device PATH]\n"
    "       nitro-attest nsm lock N [--device PATH]\n"
    "\n"
    "Inside an enclave: asks its Nitro Secure Module (NSM) for attestation\n"
    "documents, and reads, extends and locks its PCRs.\n"
    "\"nitro-attest help nsm COMMAND\" shows each command's options.\n";

static const char  help_nsm_attest[] =
    "usage: nitro-attest nsm attest [--public-key SPKI.der | --key KEY.pem]\n"
    "           [--user-data HEX|@FILE] [--nonce HEX|@FILE] [--out FILE]\n"
    "           [--device PATH]\n"
    "\n"
    "Asks the NSM for an attestation document and writes the COSE_Sign1\n"
    "bytes as it returned them to FILE (default: standard output).  The\n"
    "answer is taken only when it decodes and its document parses and\n"
    "carries what was asked.\n"
    "\n"
    "options:\n"
    "  --public-key SPKI.der  the document's public_key: this\n"
    "                         SubjectPublicKeyInfo (DER or PEM)\n"
    "  --key KEY.pem          the document's public_key: the SPKI of this\n"
    "                         private key\n"
    "  --user-data HEX|@FILE  its user_data: hex digits, or the bytes of\n"
    "                         FILE\n"
    "  --nonce HEX|@FILE      its nonce\n"
    "  --out FILE             where to write the document\n"
    HELP_NSM_DEVICE
    "  -h, --help             print this help\n"
    "\n"
    HELP_NSM_EXIT
    "A request larger than the NSM takes (4096 bytes) is a usage error.\n";

static const char  help_nsm_describe[] =
    "usage: nitro-attest nsm describe [--device PATH]\n"
    "\n"
    "Prints what the NSM says of itself, one JSON line: {\"module_id\",\n"
    "\"version\": \"MAJOR.MINOR.PATCH\", \"max_pcrs\",\n"
    "\"locked_pcrs\": [...], \"digest\"}.\n"
    "\n"
    "options:\n"
    HELP_NSM_DEVICE
    "  -h, --help             print this help\n"
    "\n"
    HELP_NSM_EXIT;

static const char  help_nsm_pcr[] =
    "usage: nitro-attest nsm pcr N [--device PATH]\n"
    "\n"
    "Prints PCR N, one JSON line: {\"index\": N, \"locked\": BOOL, \"value\":\n"
    "HEX}.  Which indexes exist is the NSM's to say: it answers\n"
    "InvalidIndex for the others.\n"
    "\n"
    "options:\n"
    HELP_NSM_DEVICE
    "  -h, --help             print this help\n"
    "\n"
    HELP_NSM_EXIT;

static const char  help_nsm_extend[] =
    "usage: nitro-attest nsm extend N --data HEX|@FILE [--device PATH]\n"
    "\n"
    "Extends PCR N with the data: the NSM sets it to the hash of its value\n"
    "and the data (SHA-384 for its SHA384 bank).  Prints the PCR's JSON\n"
    "line, as nsm pcr does, with the new value.  A locked PCR is refused\n"
    "(ReadOnlyIndex).\n"
    "\n"
    "options:\n"
    "  --data HEX|@FILE       the data: hex digits, or the bytes of FILE\n"
    HELP_NSM_DEVICE
    "  -h, --help             print this help\n"
    "\n"
    HELP_NSM_EXIT;

static const char  help_nsm_lock[] =
    "usage: nitro-attest nsm lock N [--device PATH]\n"
    "\n"
    "Locks PCR N: from then on the NSM refuses to extend it.  Prints the\n"
    "PCR's JSON line, as nsm pcr does.\n"
    "\n"
    "options:\n"
    HELP_NSM_DEVICE
    "  -h, --help             print this help\n"
    "\n"
    HELP_NSM_EXIT;

static const char  help_expect[] =
    "usage: nitro-attest expect [--from FILE] --textfile OUT.prom "
    "[--state FILE]\n"
    "                           [--every TIME]\n"
    "\n"
    "On a parent instance: reads what nitro-cli describe-enclaves prints and\n"
    "writes, atomically and mode 0644, a text file for node_exporter's\n"
    "textfile collector with nitro_attest_expected_enclave_since_seconds\n"
    "{module_id, instance_id, enclave_name, pcr0, debug} for each RUNNING\n"
    "enclave: the Unix time it was first seen running.  module_id is the\n"
    "EnclaveID with its slot as 16 hex digits, as documents carry it.\n"
    "Malformed input exits 2 and leaves both files as they were.\n"
    "\n"
    "options:\n"
    "  --from FILE            the JSON (default: standard input; with\n"
    "                         --every: run nitro-cli describe-enclaves)\n"
    "  --textfile OUT.prom    the file to write, in node_exporter's\n"
    "                         --collector.textfile.directory\n"
    "  --state FILE           keeps first sightings across runs (JSON)\n"
    "  --every TIME           run again every TIME until SIGTERM (exit 0);\n"
    "                         a bad run logs one line and keeps the files\n"
    "  -h, --help             print this help\n";

static const char  help_agent[] =
    "usage: nitro-attest agent --dir DIR [OPTIONS]\n"
    "\n"
    "Inside an enclave: keeps a fresh attested client certificate in DIR\n"
    "(made when missing).  Every TIME it makes a new key, asks the NSM for a\n"
    "document attesting it, wraps it as cert --nsm does and replaces\n"
    "DIR/key.pem (mode 0600), DIR/cert.pem and DIR/bundle.pem (the key then\n"
    "the certificate, mode 0600) by writing, syncing and renaming, so that\n"
    "a reader of bundle.pem always finds a matching pair and no file is\n"
    "ever half-written.  After each attempt it rewrites DIR/status.json:\n"
    "{\"renewed_at\", \"next_at\", \"module_id\", \"timestamp_ms\",\n"
    "\"cert_sha256\", \"failures\", \"last_error\"}.  A failed renewal keeps\n"
    "the last good files and is retried after 1s, 2s, 4s... (at most TIME).\n"
    "One line per attempt on standard error.  It runs in the foreground:\n"
    "SIGTERM or SIGINT stops it (exit 0), SIGHUP renews now.\n"
    "\n"
    "options:\n"
    "  --dir DIR              where the files are kept\n"
    "  --every TIME           how often to renew (default 60s, at most 1y);\n"
    "                         keep it well under the verifier's max age\n"
    "                         (nginx: 5m)\n"
    "  --key-type TYPE        the key made each time: p256 (default), p384\n"
    "                         or ed25519\n"
    "  --binding MODE         how the document attests the key, as for\n"
    "                         cert: public_key (default), user_data_spki,\n"
    "                         user_data_sha256 or user_data_sha384\n"
    "  --exec CMD             after each renewal, run CMD with /bin/sh -c\n"
    "                         (such as \"nginx -s reload\"); its failure is\n"
    "                         logged; \"\" runs nothing\n"
    "  --once                 renew once and exit\n"
    "  --server NAME          keep a TLS server's certificate for NAME\n"
    "                         instead, as cert --server makes\n"
    HELP_NSM_DEVICE
    "  -h, --help             print this help\n"
    "\n"
    "Exit status: 0 stopped by a signal, or --once renewed; 1 --once\n"
    "failed; 2 a usage error or a DIR that cannot be made.\n";

static const char  help_mock[] =
    "usage: nitro-attest mock pki DIR\n"
    "       nitro-attest mock cert --pki DIR [OPTIONS] --out-key K "
    "--out-cert C\n"
    "\n"
    "A test PKI shaped like AWS's and attested client certificates signed\n"
    "under it, for trying the nginx module without an enclave.\n"
    "\"nitro-attest help mock pki\" and \"nitro-attest help mock cert\" show\n"
    "each command's options.\n";

static const char  help_mock_pki[] =
    "usage: nitro-attest mock pki DIR\n"
    "\n"
    "Writes a test PKI shaped like AWS's into DIR (made when missing): the\n"
    "certificates and P-384 keys of a root, a regional (pathLen 2), a zonal\n"
    "(pathLen 1) and an instance CA (pathLen 0), as DIR/NAME.pem and\n"
    "DIR/NAME.key.  Pin DIR/root.pem (nitro_attest_trusted_root, --root) to\n"
    "accept what \"mock cert\" makes.\n"
    "\n"
    "options:\n"
    "  -h, --help             print this help\n";

static const char  help_mock_cert[] =
    "usage: nitro-attest mock cert --pki DIR [OPTIONS] --out-key K "
    "--out-cert C\n"
    "\n"
    "Makes a fresh client key and a client certificate for it carrying an\n"
    "attestation document signed under the PKI in DIR, whose public_key is\n"
    "that key.\n"
    "\n"
    "options:\n"
    "  --pki DIR              the PKI that \"mock pki DIR\" wrote\n"
    "  --out-key K            where to write the client key (PEM)\n"
    "  --out-cert C           where to write the client certificate (PEM)\n"
    "  --kind enclave|nitrotpm\n"
    "                         an enclave's document (default: 16 PCRs) or an\n"
    "                         EC2 instance's NitroTPM one (24 nitrotpm_pcrs)\n"
    "  --pcr N=HEX            PCR N (repeatable; the others are zero)\n"
    "  --module-id ID         the document's module id\n"
    "  --timestamp WHEN       its timestamp: RFC 3339 or milliseconds since\n"
    "                         the epoch (default now)\n"
    "  --user-data HEX        its user_data\n"
    "  --nonce HEX            its nonce\n"
    "  --leaf-lifetime TIME   the validity of its signing certificate, in\n"
    "                         whole seconds (default 3h)\n"
    "  --key-type TYPE        the client key: p256, p384 (default), p521,\n"
    "                         rsa2048, rsa4096 or ed25519\n"
    "  --server NAME          a TLS server's certificate for NAME instead\n"
    "                         (a DNS subjectAltName, serverAuth), as an\n"
    "                         enclave behind nginx presents\n"
    "  -h, --help             print this help\n"
    "\n"
    "TIME is nginx time syntax (90, 90s, 5m, 1h30m) or seconds.\n";

static const char  help_policy[] =
    "usage: nitro-attest policy new [--name NAME] [OPTIONS]\n"
    "       nitro-attest policy add|deny FILE [--name NAME] [OPTIONS]\n"
    "       nitro-attest policy remove FILE --name NAME\n"
    "       nitro-attest policy check FILE...\n"
    "\n"
    "Makes, edits and checks policy files: \"new\" prints a policy with one\n"
    "allow set, \"add\" and \"deny\" append an allow or a deny set to FILE,\n"
    "\"remove\" removes one, \"check\" validates and lints.\n"
    "\"nitro-attest help policy COMMAND\" shows each command's options.\n";

/* the options of policy new and add|deny: DOC names --from-doc's value */
#define HELP_POLICY_SET_OPTIONS(doc, every)                                  \
    "options:\n"                                                             \
    "  --name NAME            the set's name; with --from-doc the default"   \
    " is\n"                                                                  \
    "                         its kind, its first PCR and that PCR's first"  \
    " 12\n"                                                                  \
    "                         hex digits, such as enclave-pcr0-0123456789ab\n"\
    "  --pcr N=HEX            pin PCR N to HEX, 64, 96 or 128 hex digits\n"  \
    "                         (repeatable)\n"                                \
    "  --from-eif FILE        pin the PCRs of the JSON that nitro-cli\n"     \
    "                         build-enclave or describe-eif printed (\"-\":\n"\
    "                         standard input)\n"                             \
    "  --from-doc " doc "        pin the PCRs of an attestation document, or"\
    " of\n"                                                                  \
    "                         the certificate carrying one, once it"         \
    " verified\n"                                                            \
    "                         at its own timestamp (signature, chain, debug\n"\
    "                         rule; not its age)\n"                          \
    "  --root PEM             the root --from-doc's document must chain to\n"\
    "                         (default: AWS Nitro Enclaves Root-G1)\n"       \
    "  --pcrs LIST            the PCRs --from-doc pins, such as 0,1,2,3\n"   \
    "                         (default: enclave 0, 1, 2, and 8 when not"     \
    " zero;\n"                                                               \
    "                         nitrotpm 4, 7 and 12)\n"                       \
    "  --kind enclave|nitrotpm\n"                                            \
    "                         the documents the set judges (default"         \
    " enclave;\n"                                                            \
    "                         with --from-doc, the document's)\n"            \
    "  --expect-every TIME    report the set as silent when no client\n"     \
    "                         attested with it for TIME (" every ")\n"       \
    "  --service NAME --version N\n"                                         \
    "                         the release the set admits, N a whole number,\n"\
    "                         higher is newer: an instance that proved a\n"  \
    "                         higher version of NAME before and comes back\n"\
    "                         with this one is a rollback (" every ")\n"     \
    "  -h, --help             print this help\n"                             \
    "\n"                                                                     \
    "TIME is nginx time syntax (90, 90s, 5m, 1h30m) or seconds.\n"

static const char  help_policy_new[] =
    "usage: nitro-attest policy new --name NAME [--pcr N=HEX ...]\n"
    "           [--from-eif FILE] [--kind enclave|nitrotpm] "
    "[--expect-every TIME]\n"
    "       nitro-attest policy new --from-doc FILE [--root PEM] "
    "[--pcrs LIST]\n"
    "           [--name NAME] [--expect-every TIME]\n"
    "       (either form: [--service NAME --version N])\n"
    "\n"
    "Prints a policy with one allow set pinning the PCRs given.\n"
    "\n"
    HELP_POLICY_SET_OPTIONS("FILE", "allow sets only");

static const char  help_policy_edit[] =
    "usage: nitro-attest policy add|deny FILE --name NAME "
    "[--pcr N=HEX ...]\n"
    "           [--from-eif FILE] [--kind enclave|nitrotpm] "
    "[--expect-every TIME]\n"
    "       nitro-attest policy add|deny FILE --from-doc DOC [--root PEM]\n"
    "           [--pcrs LIST] [--name NAME] [--expect-every TIME]\n"
    "       (add, either form: [--service NAME --version N])\n"
    "\n"
    "Appends an allow set (add) or a deny set (deny) to the policy FILE, in\n"
    "place and atomically; a name that exists is refused and leaves FILE\n"
    "as it was.\n"
    "\n"
    HELP_POLICY_SET_OPTIONS("DOC ", "add only");

static const char  help_policy_remove[] =
    "usage: nitro-attest policy remove FILE --name NAME\n"
    "\n"
    "Removes the allow or deny set NAME from the policy FILE, in place and\n"
    "atomically; a name that does not exist, or the last allow set, is\n"
    "refused and leaves FILE as it was.\n"
    "\n"
    "options:\n"
    "  --name NAME            the set to remove\n"
    "  -h, --help             print this help\n";

static const char  help_policy_check[] =
    "usage: nitro-attest policy check FILE...\n"
    "\n"
    "Loads each policy FILE as nginx does and prints one line per warning,\n"
    "\"FILE: SET: text\", as nginx -t logs them.  Exit 0 clean, 1 with\n"
    "warnings, 2 when a FILE is malformed or unreadable.\n"
    "\n"
    "options:\n"
    "  -h, --help             print this help\n";

static const char  help_audit[] =
    "usage: nitro-attest audit verify [OPTIONS] LOG...\n"
    "\n"
    "Checks event logs that nginx hash-chained and signed\n"
    "(nitro_attest_event_log_key).\n"
    "\"nitro-attest help audit verify\" shows the command's options.\n";

static const char  help_audit_verify[] =
    "usage: nitro-attest audit verify [OPTIONS] LOG...\n"
    "\n"
    "Checks every chain of the event logs LOG (\"-\" reads standard input),\n"
    "read in the order given (rotated files oldest first): each line's seq\n"
    "follows the one before, its prev is the SHA-256 of the one before, each\n"
    "checkpoint's signature verifies.  Prints one line per chain: intact,\n"
    "with the unsealed tail after its last checkpoint, or where it broke\n"
    "(file and line).  Lines of JSON or OCSF events, and lines a syslog\n"
    "receiver wrote with its header first, are read alike.  Exit 0 when\n"
    "every chain is intact up to its last checkpoint, 1 when a line was\n"
    "removed, changed, reordered, inserted or forged or a signature fails,\n"
    "2 on a usage or input error.\n"
    "\n"
    "options:\n"
    "  --key PUB.pem          the Ed25519 public key (or its private key) of\n"
    "                         nitro_attest_event_log_key; without it no\n"
    "                         signature is checked\n"
    "  --evidence             verify each line's evidence at the document's\n"
    "                         own time and check that the line says what it\n"
    "                         does: pcrs, module_id, digests, status\n"
    "  --root PEM             with --evidence, the one root to pin (default:\n"
    "                         AWS Nitro Enclaves Root-G1, built in)\n"
    "  --policy JSON          with --evidence, also judge the PCRs: debug,\n"
    "                         denied and unknown builds and the set matched\n"
    "  -h, --help             print this help\n";

static const char  help_help[] =
    "usage: nitro-attest help [COMMAND]\n"
    "\n"
    "Prints the usage of nitro-attest, or of COMMAND: verify, inspect, cert,\n"
    "mock, mock pki, mock cert, policy, policy new, policy add, policy deny,\n"
    "policy remove, policy check, nsm, nsm attest, nsm describe, nsm pcr,\n"
    "nsm extend, nsm lock, expect, agent, audit or audit verify.\n";


static const cli_help_t  cli_helps[] = {
    { "", help_main },
    { "verify", help_verify },
    { "inspect", help_inspect },
    { "cert", help_cert },
    { "mock", help_mock },
    { "mock pki", help_mock_pki },
    { "mock cert", help_mock_cert },
    { "policy", help_policy },
    { "policy new", help_policy_new },
    { "policy add", help_policy_edit },
    { "policy deny", help_policy_edit },
    { "policy remove", help_policy_remove },
    { "policy check", help_policy_check },
    { "nsm", help_nsm },
    { "nsm attest", help_nsm_attest },
    { "nsm describe", help_nsm_describe },
    { "nsm pcr", help_nsm_pcr },
    { "nsm extend", help_nsm_extend },
    { "nsm lock", help_nsm_lock },
    { "expect", help_expect },
    { "agent", help_agent },
    { "audit", help_audit },
    { "audit verify", help_audit_verify },
    { "help", help_help },
    { NULL, NULL }
};


int
cli_help(const char *topic)
{
    const cli_help_t  *h;

    for (h = cli_helps; h->topic != NULL; h++) {
        if (strcmp(h->topic, topic) == 0) {
            fputs(h->text, stdout);
            return 0;
        }
    }

    return -1;
}
