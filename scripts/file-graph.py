#!/usr/bin/python3
"""Which C files use which: each non-static function (with --data, each
non-static global too, except a module's ngx_module_t, which every file of
its face names as nginx's own modules name theirs) is mapped to the file
that defines it; a file uses another when it names one of its functions.
Prints the file-to-file graph, then its strongly connected components of
more than one file (circles), or "no circle".

    scripts/file-graph.py [--data] FILE.c...

Exit status 1 when there is a circle."""

import re
import sys

TOKEN = re.compile(r"""
      (?P<comment>/\*.*?\*/|//[^\n]*)
    | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
    | (?P<pp>^[ \t]*\#(?:\\\n|[^\n])*)
    | (?P<ident>[A-Za-z_]\w*)
    | (?P<punct>[{}()\[\];=,])
    | (?P<other>\S)
""", re.S | re.M | re.X)


def tokens(text):
    for m in TOKEN.finditer(text):
        kind = m.lastgroup
        if kind in ("comment", "string", "pp"):
            continue
        yield kind, m.group()


def scan(path):
    """(functions defined, data defined, identifiers used) of one file."""
    with open(path) as f:
        toks = list(tokens(f.read()))

    funcs, data, used = set(), set(), set()
    depth = 0
    stmt = []          # top-level tokens since the last ';' or '}'

    i = 0
    while i < len(toks):
        kind, text = toks[i]
        if kind == "ident":
            used.add(text)
        if text == "{":
            if depth == 0 and stmt:
                define(stmt, funcs, data, body=True)
                stmt = []
            depth += 1
        elif text == "}":
            depth -= 1
            if depth == 0:
                stmt = []
        elif depth == 0:
            if text == ";":
                if stmt:
                    define(stmt, funcs, data, body=False)
                stmt = []
            else:
                stmt.append((kind, text))
        i += 1

    return funcs, data, used


def define(stmt, funcs, data, body):
    words = [t for k, t in stmt if k == "ident"]
    if not words or words[0] in ("static", "extern", "typedef"):
        return
    texts = [t for k, t in stmt]

    # a function definition: NAME ( ... ) { at the top level; NAME is
    # before the "(" that the last ")" closes, as the type may hold a
    # macro call (STACK_OF(X509) *name(...))
    if body and ")" in texts and texts[-1] == ")":
        depth, k = 0, len(texts) - 1
        while k >= 0:
            depth += {")": 1, "(": -1}.get(texts[k], 0)
            if depth == 0:
                break
            k -= 1
        if k > 0 and stmt[k - 1][0] == "ident":
            funcs.add(texts[k - 1])
            return

    if body and texts[-1] != "=":
        return          # struct, union or enum body

    # data: the name before "=", "[" or the end
    if "ngx_module_t" in words:
        return
    for k, t in enumerate(texts):
        if t in ("=", "[", "("):
            break
    else:
        k = len(texts)
    if k > 0 and stmt[k - 1][0] == "ident" and "(" not in texts[:k]:
        data.add(texts[k - 1])


def sccs(nodes, edges):
    """Tarjan's strongly connected components."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in nodes:
        if v not in index:
            visit(v)
    return out


def main(argv):
    with_data = "--data" in argv
    files = [a for a in argv if a != "--data"]
    if not files:
        sys.exit(__doc__)

    owner, used = {}, {}
    for path in files:
        funcs, data, names = scan(path)
        for name in funcs | (data if with_data else set()):
            owner[name] = path
        used[path] = names

    edges = {f: set() for f in files}
    why = {}
    for f in files:
        for name in sorted(used[f]):
            g = owner.get(name)
            if g and g != f:
                edges[f].add(g)
                why.setdefault((f, g), []).append(name)

    for f in files:
        for g in sorted(edges[f]):
            names = why[(f, g)]
            more = " (+%d more)" % (len(names) - 3) if len(names) > 3 else ""
            print("%s -> %s: %s%s" % (f, g, ", ".join(names[:3]), more))

    circles = [c for c in sccs(files, edges) if len(c) > 1]
    for c in circles:
        print("circle: " + " ".join(c))
    if not circles:
        print("no circle")
    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
