#!/usr/bin/env python3
"""Finds import cycles between sibling modules of a Rust crate.

    module_cycles.py SRC_DIR [MODULE] [--shallow]

SRC_DIR is the crate's `src`; MODULE (e.g. `http`, or `.` for the whole
crate) limits the check to that module's descendants, and `--shallow` to its
direct children (`.ci/module_cycles.py src . --shallow`: `core`, `config`,
`http`, ... among themselves). A file's references are its `use` paths and inline
paths that start with `crate::`, `super::` or `self::` (`#[cfg(test)]`
modules and comments skipped). A reference from module A to module B counts
as an edge between the two children of their lowest common ancestor that
contain them (so `http::pages::login -> http::error` is `pages -> error`
under `http`); a reference to one's own ancestor or descendant is the module
tree itself and is ignored. Any cycle among siblings is printed, and the
exit status is 1.
"""

import os
import re
import sys


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip(text):
    """Drops comments, string literals and everything from the first
    top-level `#[cfg(test)]` on."""
    cut = re.search(r"^#\[cfg\(test\)\]", text, re.M)
    if cut:
        text = text[: cut.start()]
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def expand(path):
    """`a::{b, c::{d, e}}` -> [`a::b`, `a::c::d`, `a::c::e`] (paths only)."""
    m = re.match(r"^(.*?)::\{(.*)\}$", path, re.S)
    if not m:
        return [path]
    head, body = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        p = re.sub(r"\s+as\s+\w+$", "", p.strip())
        if not p:
            continue
        if p == "self":
            out.append(head)
        else:
            out.extend(expand(f"{head}::{p}"))
    return out


def references(text):
    text = strip(text)
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        paths.extend(expand(re.sub(r"\s+", "", m.group(1)).replace(",}", "}")))
    for m in re.finditer(r"\b(?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+", text):
        paths.append(m.group(0))
    return paths


def resolve(here, path, modules):
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        # `self` is the module itself; `super` its parent.
        base = here
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    else:
        return None
    target = base
    for s in segs:
        if target + (s,) in modules:
            target = target + (s,)
        else:
            break
    return target


def main():
    args = [a for a in sys.argv[1:] if a != "--shallow"]
    shallow = "--shallow" in sys.argv[1:]
    src = args[0]
    scope = tuple(args[1].split("::")) if len(args) > 1 and args[1] != "." else ()
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                files[module_of(src, p)] = p
    modules = set(files)
    edges = {}
    for mod, path in files.items():
        if mod[: len(scope)] != scope:
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for ref in references(text):
            tgt = resolve(mod, ref, modules)
            if tgt is None or tgt[: len(scope)] != scope:
                continue
            # Children of the lowest common ancestor.
            i = 0
            while i < min(len(mod), len(tgt)) and mod[i] == tgt[i]:
                i += 1
            if i == len(mod) or i == len(tgt):
                continue  # ancestor or descendant: the tree itself
            a, b = mod[: i + 1], tgt[: i + 1]
            if shallow and len(a) != len(scope) + 1:
                continue
            edges.setdefault(a, set()).add(b)
    # Tarjan's strongly connected components.
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
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
            if len(comp) > 1:
                sccs.append(comp)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    for comp in sccs:
        names = sorted("::".join(m) for m in comp)
        print("import cycle: " + " <-> ".join(names))
    sys.exit(1 if sccs else 0)


if __name__ == "__main__":
    main()
