"""dockerfile.py: a Dockerfile and .dockerignore read as Docker reads them,
and the two copies a build makes: the build context (the tree minus
.dockerignore) and a COPY instruction's."""

import fnmatch
import os
import re
import shlex
import shutil

from repo import REPO

DOCKERFILE = os.path.join(REPO, "Dockerfile")


class Stage:
    def __init__(self, base, name):
        self.base = base
        self.name = name
        self.steps = []     # (INSTRUCTION, arguments text)

    def all(self, instruction):
        return [args for ins, args in self.steps if ins == instruction]

    def one(self, instruction):
        found = self.all(instruction)
        assert len(found) == 1, (instruction, found)
        return found[0]


def parse_dockerfile(path=DOCKERFILE):
    """The stages of a Dockerfile: continuation lines joined, comments and
    blank lines dropped."""
    logical, current = [], ""
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            if line.lstrip().startswith("#") or not line.strip():
                continue
            if line.endswith("\\"):
                current += line[:-1] + " "
                continue
            logical.append(current + line)
            current = ""
    assert not current, "Dockerfile ends inside a continuation"
    stages = []
    for line in logical:
        instruction, _, args = line.strip().partition(" ")
        instruction, args = instruction.upper(), " ".join(args.split())
        if instruction == "FROM":
            m = re.fullmatch(r"(\S+)(?: AS (\S+))?", args, re.I)
            assert m, args
            stages.append(Stage(m.group(1), m.group(2)))
        else:
            assert stages, "%s before FROM" % instruction
            stages[-1].steps.append((instruction, args))
    return stages


def copy_args(args):
    """(--from stage or None, [sources], destination) of a COPY."""
    words = shlex.split(args)
    source_stage = None
    while words[0].startswith("--"):
        option = words.pop(0)
        if option.startswith("--from="):
            source_stage = option.split("=", 1)[1]
    return source_stage, words[:-1], words[-1]


def dockerignore_patterns():
    with open(os.path.join(REPO, ".dockerignore")) as f:
        return [line.strip() for line in f
                if line.strip() and not line.startswith("#")]


def ignored(relpath, patterns):
    """Docker's rule, for the patterns this tree uses: a path is excluded
    when it or one of its parent directories matches a pattern."""
    parts = relpath.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for p in patterns:
            if fnmatch.fnmatchcase(prefix, p) or (
                    p.startswith("**/")
                    and fnmatch.fnmatchcase(parts[i - 1], p[3:])):
                return True
    return False


def build_context(directory):
    """Copies the working tree, minus .dockerignore, to directory."""
    patterns = dockerignore_patterns()
    for top, dirs, files in os.walk(REPO):
        rel_top = os.path.relpath(top, REPO)
        rel_top = "" if rel_top == "." else rel_top + "/"
        dirs[:] = [d for d in dirs if not ignored(rel_top + d, patterns)]
        for name in files:
            rel = rel_top + name
            if ignored(rel, patterns):
                continue
            os.makedirs(os.path.join(directory, rel_top), exist_ok=True)
            shutil.copy2(os.path.join(REPO, rel), os.path.join(directory, rel),
                         follow_symlinks=False)


def copy_into(sources, destination):
    """COPY semantics: a destination ending in / is a directory; a source
    directory's contents are copied."""
    assert sources, "COPY of nothing"
    for src in sources:
        if os.path.isdir(src):
            shutil.copytree(src, destination, dirs_exist_ok=True,
                            symlinks=True)
        elif destination.endswith("/"):
            os.makedirs(destination, exist_ok=True)
            shutil.copy2(src, destination)
        else:
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            shutil.copy2(src, destination)
