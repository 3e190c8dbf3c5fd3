"""The package's layers: no module imports a layer above its own, and no import cycle.

Layers, lowest first (README, "Architecture"): the shared base (errors, settings, the functional
registry), chem, engine, runs, analyses, present, then the front ends (cli, the public API in
explorer/__init__, __main__). Imports inside functions count as much as those at the top.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "explorer"

LAYERS = {
    "explorer.errors": 0,
    "explorer.settings": 0,
    "explorer.functionals": 0,
    "explorer.chem": 1,
    "explorer.engine": 2,
    "explorer.runs": 3,
    "explorer.analyses": 4,
    "explorer.present": 5,
    "explorer.cli": 6,
    "explorer.__main__": 6,
    "explorer": 6,  # the public API re-exports from every layer
}


def _modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def layer(module: str) -> int:
    """The layer of ``module``: that of its longest prefix in LAYERS."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in LAYERS:
            return LAYERS[prefix]
    raise AssertionError(f"{module} belongs to no layer: add its package to LAYERS")


def imports_of(module: str) -> set[str]:
    """The explorer modules ``module`` imports anywhere in its source (package imports resolved to
    the imported submodule where the name is one)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("explorer")
        ):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.add(sub if sub in MODULES else node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "explorer")
        assert not (isinstance(node, ast.ImportFrom) and node.level), f"{module}: relative import"
    return out - {module}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_import_from_a_higher_layer(module):
    upward = [m for m in GRAPH[module] if layer(m) > layer(module)]
    assert not upward, f"{module} (layer {layer(module)}) imports higher layers: {upward}"


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module, path):
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target in GRAPH and not state.get(target):
                visit(target, path + [target])
        state[module] = 2

    for module in sorted(GRAPH):
        if not state.get(module):
            visit(module, [module])


def test_backend_never_imports_streamlit_or_pages():
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in ("streamlit", "pages"), f"{module} imports {name}"


def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The rule is live: an engine module importing the store is reported."""
    monkeypatch.setitem(GRAPH, "explorer.engine.scf", GRAPH["explorer.engine.scf"] | {"explorer.runs.store"})
    with pytest.raises(AssertionError, match="imports higher layers"):
        test_no_import_from_a_higher_layer("explorer.engine.scf")
    monkeypatch.setitem(GRAPH, "explorer.chem.units", {"explorer.chem.molecules"})
    monkeypatch.setitem(GRAPH, "explorer.chem.molecules", {"explorer.chem.units"})
    with pytest.raises(AssertionError, match="import cycle"):
        test_no_import_cycle()
