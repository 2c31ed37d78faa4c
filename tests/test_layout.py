"""The package's shape: subpackages that import only the layers beneath them, no import cycle between
modules (imports inside functions counted), and reading results that never loads torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "videmo"

# What each part may import besides itself. The modules at the top (api, cli, signals) sit above them all.
LAYERS = {
    "core": set(),
    "video": {"core"},
    "model": {"core"},
    "results": {"core", "video"},
    "batch": {"core", "video", "results"},
    "faces": {"core", "video", "model"},
    "training": {"core", "model"},
    "run": {"core", "video", "model", "faces", "results", "batch"},
}
TOP = {"__init__", "__main__", "api", "cli", "cli_options", "signals"}
LONGEST_MODULE = 320  # lines: a module past it does more than one job


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every videmo module ``path`` imports, at its top, inside functions and for type checking alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "videmo" and node.level == 0:
            for alias in node.names:  # `from videmo.faces import detect` imports the module videmo.faces.detect
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).is_file() else node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.add(f"relative import in {path.name}")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "videmo")
    return found


def graph() -> dict[str, set[str]]:
    edges = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}
    return {name: {t for t in targets if t != name} for name, targets in edges.items()}


def part(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def test_imports_are_absolute():
    relative = sorted(t for targets in graph().values() for t in targets if t.startswith("relative"))
    assert not relative


def test_each_part_imports_only_the_layers_beneath_it():
    wrong = []
    for module, targets in graph().items():
        here = part(module)
        if here in TOP:
            continue
        for target in targets:
            there = part(target)
            if there != here and (there in TOP or there not in LAYERS[here]):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_import_cycle_between_modules():
    edges = graph()
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in list(edges):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_every_subpackage_says_what_it_owns():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init} has no docstring"


def test_no_module_does_too_many_jobs():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > LONGEST_MODULE
    }
    assert not long


@pytest.mark.parametrize(
    "modules",
    [
        "videmo",
        "videmo, videmo.results.io, videmo.results.reanalysis, videmo.batch.index, videmo.batch.report, videmo.core.options",
    ],
)
def test_reading_results_does_not_import_torch(modules, tmp_path):
    code = (
        f"import sys; import {modules}; import videmo\n"
        "try:\n    videmo.read_index(sys.argv[1])\nexcept videmo.VidemoError:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)


def test_the_graph_sees_imports_inside_functions():
    edges = graph()
    assert defaultdict(set, edges)["videmo.api"] >= {"videmo.run.runner"}  # imported inside analyze()
