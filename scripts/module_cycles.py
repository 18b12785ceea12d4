#!/usr/bin/env python3
"""Import cycles among supplygate's src/ modules.

Reads every .rs file under src/ (the library; main.rs only calls it), collects the modules
each one names through `crate::…` paths (in `use` lines or inline, `crate::{a, b::c}` groups
too) and `super::…` paths that leave its top-level module, and builds the graph of
top-level modules (`--depth 2`: of their children, e.g. `verify::discover`). Test code is
left out: files named `tests.rs` or `*_tests.rs`, files under a `tests/` directory, and a
`#[cfg(test)] mod tests { … }` block at the end of a file.

Prints each module's dependencies, then every cycle (strongly connected component of more than
one module) with one path around it and the files that make each edge. Exits 1 when there is a
cycle, 0 when there is none.

    python3 scripts/module_cycles.py            # top-level modules
    python3 scripts/module_cycles.py --depth 2  # one level further down
    python3 scripts/module_cycles.py --quiet    # only the verdict and any cycle (tests/run.sh)
"""
import argparse
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def module_path(path):
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts and parts[-1] in ("mod", "lib"):
        parts.pop()
    return parts


def is_test_file(path):
    rel = path.relative_to(SRC)
    name = rel.stem
    return name == "tests" or name.endswith("_tests") or "tests" in rel.parts[:-1]


def strip(text):
    """The code without comments, string contents and a trailing test module."""
    m = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*mod \w+ \{", text, re.M)
    if m:
        text = text[: m.start()]
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "r" and re.match(r'r#*"', text[i:]) and not re.match(r"\w", text[i - 1 : i] or " "):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            out.append('""')
            i = n if end < 0 else end + 1 + len(hashes)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", text[i:]).group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def group_items(body):
    """`a, b::c, d::{e, f}` -> ['a', 'b::c', 'd::e', 'd::f'] (nested groups flattened)."""
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        items.append(cur.strip())
    flat = []
    for item in items:
        m = re.match(r"^(" + IDENT + r"(?:::" + IDENT + r")*)::\{(.*)\}$", item, re.S)
        if m:
            flat += [m.group(1) + "::" + sub for sub in group_items(m.group(2))]
        else:
            flat.append(item)
    return flat


def referenced(code, here):
    """Module paths (lists) that `code`, in module `here`, names."""
    paths = []
    for m in re.finditer(r"\b(crate|super)((?:::super)*)::(\{|" + IDENT + r")", code):
        base = [] if m.group(1) == "crate" else here[:-1]
        base = base[: len(base) - m.group(2).count("super")] if m.group(2) else base
        if m.group(3) == "{":
            depth, j = 1, m.end()
            while j < len(code) and depth:
                depth += {"{": 1, "}": -1}.get(code[j], 0)
                j += 1
            tails = group_items(code[m.end() : j - 1])
        else:
            tail = re.match(IDENT + r"(?:::" + IDENT + r")*", code[m.start(3) :]).group(0)
            tails = [tail]
        for tail in tails:
            parts = [p for p in re.split(r"\s*::\s*", tail.split(" as ")[0].strip()) if p]
            if parts and parts != ["self"]:
                paths.append(base + [p for p in parts if p != "self"])
    return paths


def known_modules():
    mods = set()
    for path in SRC.rglob("*.rs"):
        parts = module_path(path)
        for k in range(1, len(parts) + 1):
            mods.add(tuple(parts[:k]))
    return mods


def node(path, depth, mods):
    """The module a path points into, cut at `depth` (None for the crate root itself)."""
    parts = list(path)
    while parts and tuple(parts) not in mods:
        parts.pop()  # an item (type, fn, const) of the module before it
    return "::".join(parts[:depth]) if parts else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--depth", type=int, default=1)
    ap.add_argument("--quiet", action="store_true", help="leave out the module graph")
    args = ap.parse_args()
    mods = known_modules()
    edges = {}
    for path in sorted(SRC.rglob("*.rs")):
        if path.name == "main.rs" and path.parent == SRC or is_test_file(path):
            continue
        here = module_path(path)
        if not here:
            continue
        src = node(here, args.depth, mods)
        code = strip(path.read_text(encoding="utf-8"))
        # `super::` in a mod.rs/lib.rs file is relative to the module itself.
        here_for_super = here + ["_"] if path.stem == "mod" else here
        for ref in referenced(code, here_for_super):
            dst = node(ref, args.depth, mods)
            if dst and src and dst != src:
                edges.setdefault(src, {}).setdefault(dst, set()).add(
                    str(path.relative_to(ROOT))
                )
    nodes = sorted({n for n in edges} | {d for e in edges.values() for d in e})
    if not args.quiet:
        print(f"module graph of src/ (depth {args.depth}): {len(nodes)} modules")
        for n in nodes:
            print(f"  {n} -> {', '.join(sorted(edges.get(n, {}))) or '(nothing)'}")

    # Tarjan's strongly connected components.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, {})):
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
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in nodes:
        if v not in index:
            visit(v)
    if not sccs:
        print(f"no import cycle among the {len(nodes)} modules of src/ (depth {args.depth})")
        return 0
    for comp in sccs:
        members = set(comp)
        print(f"\nCYCLE among {len(comp)} modules: {', '.join(comp)}")
        for a in comp:
            for b in sorted(edges.get(a, {})):
                if b in members:
                    files = sorted(edges[a][b])
                    more = f" (+{len(files) - 3} more)" if len(files) > 3 else ""
                    print(f"  {a} -> {b}: {', '.join(files[:3])}{more}")
    print(f"\n{len(sccs)} cycle(s)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
