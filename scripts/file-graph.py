#!/usr/bin/python3
"""Which C files of a directory use each other's functions.

    scripts/file-graph.py [--longest N] DIR...

Maps each function with external linkage to the file that defines it (the
nginx style: the name at the start of a line, its type on the line above),
then prints, for the .c files directly in each DIR, the files each one
calls into, the strongly connected components of that graph (a component
of more than one file is a circle: files that use each other), and the N
longest functions of DIR with their lengths in lines, the type line to the
closing brace.  Exits 1 when there is a circle.
"""

import argparse
import os
import re
import sys

DEF = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'')


def code_of(text):
    """The text without comments and string literals, lines kept."""
    def blank(m):
        return re.sub(r"[^\n]", " ", m.group(0))
    return STRING.sub(blank, COMMENT.sub(blank, text))


def functions(path):
    """(name, static, first line, last line) of each definition in path."""
    lines = code_of(open(path, encoding="utf-8").read()).split("\n")
    found = []
    for i, line in enumerate(lines):
        m = DEF.match(line)
        if not m or i == 0 or not lines[i - 1].strip():
            continue
        rtype = lines[i - 1]
        if rtype.rstrip().endswith((";", "}", ")", ",")) or "#" in rtype:
            continue
        # a definition: the parameters are followed by a body, not a ';'
        k = i
        while k < len(lines) and not lines[k].rstrip().endswith(")"):
            k += 1
        if k + 1 >= len(lines) or lines[k + 1].strip() != "{":
            continue
        end = k + 1
        while end < len(lines) and lines[end] != "}":
            end += 1
        found.append((m.group(1), "static" in rtype.split(), i, end + 1))
    return found


def scc(nodes, edges):
    """Tarjan's strongly connected components, each sorted."""
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

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--longest", type=int, default=5)
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    circles = 0

    for d in args.dirs:
        files = sorted(os.path.join(d, f) for f in os.listdir(d)
                       if f.endswith(".c"))
        owner, lengths = {}, []
        for f in files:
            for name, static, first, last in functions(f):
                lengths.append((last - first + 1, name, f))
                if not static:
                    owner[name] = f

        edges = {f: set() for f in files}
        for f in files:
            words = set(WORD.findall(code_of(open(f, encoding="utf-8").read())))
            for w in words:
                if w in owner and owner[w] != f:
                    edges[f].add(owner[w])

        print("%s: %d files, %d functions with external linkage"
              % (d, len(files), len(owner)))
        for f in files:
            print("  %s -> %s" % (os.path.basename(f),
                                  " ".join(sorted(os.path.basename(t)
                                                  for t in edges[f]))
                                  or "-"))
        comps = [c for c in scc(files, edges) if len(c) > 1]
        for c in comps:
            print("  circle: " + " <-> ".join(os.path.basename(f) for f in c))
        if not comps:
            print("  no circle")
        circles += len(comps)

        lengths.sort(reverse=True)
        for n, name, f in lengths[:args.longest]:
            print("  %4d lines  %s (%s)" % (n, name, os.path.basename(f)))

    return 1 if circles else 0


if __name__ == "__main__":
    sys.exit(main())
