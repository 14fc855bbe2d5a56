"""The README and docs/: what a user reads must hold together and match
the code.  Every relative link and #anchor resolves (anchors as GitHub
makes them from headings); the README stays short; no document refers to
the project's internal documents or issue numbers; every directive of the
modules' command tables has an entry in docs/directives.md whose Context
line names exactly the contexts the code accepts, every variable one in
docs/variables.md, every reason code one in docs/reason-codes.md; and the
Debian package ships the documents the README links to.  Reads files
only: nothing to build."""

import glob
import os
import re

import pytest

import repo

REPO = str(repo.REPO)
DOCS = os.path.join(REPO, "docs")
README = os.path.join(REPO, "README.md")
README_MAX_LINES = 400

# the C sources whose ngx_command_t tables and variable names are public
HTTP_MODULE = os.path.join(REPO, "ngx_http_nitro_attest_module.c")
STREAM_MODULE = os.path.join(REPO, "nginx", "ngx_stream_nitro_attest_module.c")


def nginx_sources():
    return [HTTP_MODULE] + sorted(glob.glob(os.path.join(REPO, "nginx",
                                                         "*.c")))


def documents():
    """Every Markdown file at the top of the tree and in docs/."""
    return sorted(glob.glob(os.path.join(REPO, "*.md"))
                  + glob.glob(os.path.join(DOCS, "*.md")))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def rel(path):
    return os.path.relpath(path, REPO)


# -- Markdown as GitHub reads it --------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)")


def prose_lines(text):
    """(line number, line) outside fenced code blocks."""
    fenced = False
    for n, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield n, line


def headings(text):
    """The headings' texts, in order."""
    out = []
    for _, line in prose_lines(text):
        m = re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if m:
            out.append(m.group(2))
    return out


def slug(heading):
    """GitHub's anchor for a heading: the text without markup, lowercase,
    without punctuation but hyphens and underscores, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """Every anchor of a Markdown file, duplicates numbered as GitHub does."""
    seen = {}
    out = set()
    for h in headings(read(path)):
        s = slug(h)
        if s in seen:
            seen[s] += 1
            out.add("%s-%d" % (s, seen[s]))
        else:
            seen[s] = 0
            out.add(s)
    return out


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def links(text):
    """(line number, target) of every inline link and image, code spans
    and fenced blocks left out."""
    for n, line in prose_lines(text):
        for m in LINK.finditer(re.sub(r"`[^`]*`", "", line)):
            yield n, m.group(1)


@pytest.mark.parametrize("path", documents(), ids=rel)
def test_relative_links_and_anchors_resolve(path):
    broken = []
    for n, target in links(read(path)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue                    # https:, mailto:
        file_part, _, anchor = target.partition("#")
        dest = (os.path.normpath(os.path.join(os.path.dirname(path),
                                              file_part))
                if file_part else path)
        if not os.path.exists(dest):
            broken.append("%d: %s: no such file" % (n, target))
            continue
        if not os.path.realpath(dest).startswith(REPO + os.sep):
            broken.append("%d: %s: outside the tree" % (n, target))
            continue
        if anchor and dest.endswith(".md") and anchor not in anchors(dest):
            broken.append("%d: %s: no such anchor" % (n, target))
    assert broken == [], "%s:\n%s" % (rel(path), "\n".join(broken))


def test_anchors_are_computed_as_github_does():
    assert slug("What nginx -t checks") == "what-nginx--t-checks"
    assert slug("`$nitro_attest_pcr0` .. `$nitro_attest_pcr31`") \
        == "nitro_attest_pcr0--nitro_attest_pcr31"
    assert slug("OpenSSL 3.0 and 3.1: where certificates are parsed") \
        == "openssl-30-and-31-where-certificates-are-parsed"
    assert slug("1. Structure") == "1-structure"


def test_readme_is_short():
    with open(README, encoding="utf-8") as f:
        n = sum(1 for _ in f)
    assert n <= README_MAX_LINES, n


# the name of the project's interface notes, which users do not have
INTERNAL_NOTES = "contract".upper()


@pytest.mark.parametrize("path", documents(), ids=rel)
def test_no_reference_to_internal_documents(path):
    """Users have neither the project's interface notes nor its tracker:
    a document says what the code does instead."""
    bad = []
    for n, line in enumerate(read(path).splitlines(), 1):
        if re.search(r"\b%s\b" % INTERNAL_NOTES, line) \
                or re.search(r"(?i)\bsection\s+\d", line) \
                or re.search(r"(?i)\bissue\s*#?\s*\d", line):
            bad.append("%d: %s" % (n, line.strip()))
    assert bad == [], "%s:\n%s" % (rel(path), "\n".join(bad))


# -- the code's names, each documented --------------------------------------

COMMAND_TABLE = re.compile(r"ngx_command_t\s+\w+\[\]\s*=\s*\{(.*?)"
                           r"ngx_null_command", re.S)
COMMAND = re.compile(r"\{\s*ngx_string\(\"(nitro_attest\w*)\"\),\s*"
                     r"([A-Z0-9_|\s]+?),")
NAME = re.compile(r"ngx_string\(\"(nitro_attest\w*)\"\)")

CONTEXTS = [("NGX_HTTP_MAIN_CONF", "http"), ("NGX_HTTP_SRV_CONF", "server"),
            ("NGX_HTTP_LOC_CONF", "location"),
            ("NGX_STREAM_MAIN_CONF", "stream"),
            ("NGX_STREAM_SRV_CONF", "server")]


def commands(path):
    """name -> the contexts its command table entry accepts, in order."""
    out = {}
    for table in COMMAND_TABLE.findall(read(path)):
        for name, flags in COMMAND.findall(table):
            out[name] = [ctx for flag, ctx in CONTEXTS if flag in flags]
    return out


def directives():
    """name -> the Context line nginx.org would print for it: the http
    module's contexts, then "; stream, server" when the stream module
    takes the directive too."""
    http = {}
    for path in nginx_sources():
        if path != STREAM_MODULE:
            http.update(commands(path))
    stream = commands(STREAM_MODULE)
    assert http and stream
    out = {}
    for name in sorted(set(http) | set(stream)):
        parts = [", ".join(c[name]) for c in (http, stream) if name in c]
        out[name] = "; ".join(parts)
    return out


def variables():
    """Every nitro_attest_* name the nginx sources register that is not a
    directive: the variables (nitro_attest_pcr is the prefix of
    $nitro_attest_pcr0..31)."""
    names = set()
    for path in nginx_sources():
        text = COMMAND_TABLE.sub("", read(path))
        names.update(NAME.findall(text))
    assert "nitro_attest_status" in names and "nitro_attest_pcr" in names
    return sorted(names)


def reason_codes():
    for path in sorted(glob.glob(os.path.join(REPO, "src", "na_*.c"))):
        m = re.search(r"na_reason_names\[[^\]]*\]\s*=\s*\{(.*?)\};",
                      read(path), re.S)
        if m:
            codes = [c for c in re.findall(r"\"([a-z_]*)\"", m.group(1)) if c]
            assert "key_not_proven" in codes and "expired" in codes
            return codes
    raise AssertionError("no reason name table in src/na_*.c")


def sections(path):
    """heading text (markup removed) -> the text up to the next heading."""
    out = {}
    current = None
    for line in read(path).splitlines():
        m = re.match(r"^#{2,6}\s+(.*?)\s*$", line)
        if m:
            current = m.group(1).replace("`", "")
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


@pytest.mark.parametrize("name,context", sorted(directives().items()))
def test_every_directive_is_documented(name, context):
    doc = sections(os.path.join(DOCS, "directives.md"))
    assert name in doc, "docs/directives.md has no \"## %s\"" % name
    body = doc[name]
    syntax = re.search(r"^Syntax:\s+([\w]+)", body, re.M)
    assert syntax and syntax.group(1) == name, body
    assert re.search(r"^Default:\s+\S", body, re.M), body
    documented = re.search(r"^Context:\s+(.*?)\s*$", body, re.M)
    assert documented, body
    assert documented.group(1) == context
    # and a paragraph after the block
    assert len(body.split("```")[-1].strip()) > 40, body


def test_directives_page_lists_only_real_directives():
    known = set(directives())
    doc = sections(os.path.join(DOCS, "directives.md"))
    listed = {h for h in doc if re.match(r"^nitro_attest\w*$", h)}
    assert listed == known


@pytest.mark.parametrize("name", variables())
def test_every_variable_is_documented(name):
    titles = headings(read(os.path.join(DOCS, "variables.md")))
    assert any("$" + name in t.replace("`", "") for t in titles), name


@pytest.mark.parametrize("code", reason_codes())
def test_every_reason_code_is_documented(code):
    doc = sections(os.path.join(DOCS, "reason-codes.md"))
    assert code in doc, "docs/reason-codes.md has no \"## %s\"" % code
    assert "*What to do:*" in doc[code], code
    # the summary table gives its severity
    table = read(os.path.join(DOCS, "reason-codes.md"))
    assert re.search(r"^\| \[`%s`\]\(#%s\) \|[^|]*\| (CRITICAL|WARNING) \|"
                     % (code, code), table, re.M), code


# -- what the package ships -------------------------------------------------

def test_the_module_package_ships_the_documentation():
    """README.md links to docs/: the package installs both, with the
    picture the events page shows."""
    with open(os.path.join(REPO, "debian",
                           "libnginx-mod-http-nitro-attest.docs")) as f:
        listed = f.read().split()
    assert "README.md" in listed and "docs" in listed
    assert os.path.isfile(os.path.join(DOCS, "dashboard.png"))
