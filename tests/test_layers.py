"""Layers one way (STYLE.md): an import scan of src/babysitter.

Every ``import`` statement is read with ``ast`` (module level and inside functions alike: a lazy import
is still a dependency). The engine (nn/, optim/, data/, train/, spec.py) never imports the doctor,
the reports or the command line; the integrations never import the command line; and no module
imports, directly or through others, a module that imports it back (no cycles).
"""

import ast
from pathlib import Path


SRC = Path(__file__).resolve().parents[1] / "src"
ENGINE = ("babysitter.nn", "babysitter.optim", "babysitter.data", "babysitter.train", "babysitter.spec")
ABOVE_ENGINE = ("babysitter.doctor", "babysitter.report", "babysitter.cli", "babysitter.integrations",
                "babysitter.search", "babysitter.lab", "babysitter.transfer")


def _name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {".".join(p.relative_to(SRC).with_suffix("").parts) for p in SRC.rglob("*.py")} | {
    ".".join(p.relative_to(SRC).parts[:-1]) for p in SRC.rglob("__init__.py")}


def _imports(path: Path, name: str) -> set[str]:
    """The babysitter modules ``path`` imports (``from a.b import c``: a.b.c when that is a module, else a.b)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            out |= {f"{base}.{a.name}" for a in node.names}
            out.add(base)   # dropped below when every name is a submodule (``from babysitter import files``)
            if all(f"{base}.{a.name}" in MODULES for a in node.names):
                out.discard(base)
    return {m for m in out if m.startswith("babysitter")}


def graph() -> dict[str, set[str]]:
    files = {_name(p): p for p in SRC.rglob("*.py")}
    g = {}
    for name, path in files.items():
        # an import of a package's name is its __init__; of a name inside a module, the module
        g[name] = {m for m in _imports(path, name) if m in files and m != name}
    return g


def _under(module: str, prefixes) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_engine_never_imports_the_layers_above_it():
    upward = sorted(f"{m} -> {d}" for m, deps in graph().items() if _under(m, ENGINE)
                    for d in deps if _under(d, ABOVE_ENGINE))
    assert upward == []


def test_the_integrations_never_import_the_command_line():
    assert sorted(f"{m} -> {d}" for m, deps in graph().items() if _under(m, ("babysitter.integrations",))
                  for d in deps if _under(d, ("babysitter.cli",))) == []


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
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
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_scan_finds_a_cycle_and_an_upward_import():
    """The scan itself: a made-up graph with a cycle and an engine module importing the doctor."""
    g = {"babysitter.a": {"babysitter.b"}, "babysitter.b": {"babysitter.a"}, "babysitter.c": set()}
    assert cycles(g) == [["babysitter.a", "babysitter.b"]]
    assert _under("babysitter.train.trainer", ENGINE) and _under("babysitter.doctor.probes.kit", ABOVE_ENGINE)


def test_no_import_cycles():
    assert cycles(graph()) == []
