"""The layout's rules, read off the source: imports run one way, no cycles, lazy imports say why,
no module grows past the size a reader takes in at once, search_spaces knows nothing of ReID.

Dependency direction (an arrow: may import):

    automl  -> studies, search_spaces, schemas, reid_core (its public modules only)
    studies -> schemas                     (and optuna, pandas, plotly)
    search_spaces -> schemas               (and optuna, ray.tune, numpy)
    reid_core -> schemas                   (and torch, lightning, omegaconf)
    schemas -> nothing of ours             (jsonschema, omegaconf)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reid_core", "schemas", "search_spaces", "automl", "studies")
ALLOWED = {
    "automl": {"studies", "search_spaces", "schemas", "reid_core"},
    "studies": {"schemas"},
    "search_spaces": {"schemas"},
    "reid_core": {"schemas"},
    "schemas": set(),
}
# what other packages may use of the trainer: its spec, errors, checkpoint names, status lines, CLI
REID_CORE_PUBLIC = {"reid_core", "reid_core.config", "reid_core.errors", "reid_core.checkpoints", "reid_core.status",
                    "reid_core.cli", "reid_core.throughput", "reid_core.training_set"}
MAX_LINES = 400
REID_WORDS = ("reid", "re_identification", "cmc_", "market1501", "person")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported first-party module
    line: int
    lazy: bool  # inside a function
    commented: bool  # a comment on its line or the line above


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The first-party module an imported dotted name lands in (a module, else its package)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str, path: Path) -> list[Import]:
    text = path.read_text()
    lines = text.splitlines()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def commented(node: ast.stmt) -> bool:
        here = lines[node.lineno - 1]
        above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
        return "#" in here or above.startswith("#")

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                continue  # annotations only, never run
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - child.level + 1] + [base]).strip(".")
                names = [f"{base}.{alias.name}" for alias in child.names]
            else:
                visit(child, inner)
                continue
            for name in names:
                target = _resolve(name)
                if target is not None and target != module:
                    found.append(Import(module, target, child.lineno, lazy, commented(child)))

    visit(ast.parse(text), False)
    return found


EDGES = [edge for module, path in MODULES.items() for edge in _imports(module, path)]


def _package(module: str) -> str:
    return module.split(".")[0]


def test_packages_import_one_way_only():
    wrong = [f"{e.source}:{e.line} imports {e.target}" for e in EDGES
             if _package(e.target) != _package(e.source) and _package(e.target) not in ALLOWED[_package(e.source)]]
    assert not wrong, "imports against the dependency direction:\n" + "\n".join(wrong)


def test_other_packages_use_only_the_trainers_public_modules():
    private = [f"{e.source}:{e.line} imports {e.target}" for e in EDGES
               if _package(e.target) == "reid_core" and _package(e.source) != "reid_core"
               and e.target not in REID_CORE_PUBLIC]
    assert not private, "imports of reid_core internals:\n" + "\n".join(private)


def test_no_import_cycle_between_or_inside_packages():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for edge in EDGES:
        graph[edge.source].add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            connect(node)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_imports_inside_functions_say_why():
    silent = [f"{e.source}:{e.line} imports {e.target}" for e in EDGES if e.lazy and not e.commented]
    assert not silent, "imports inside functions without a one-line why:\n" + "\n".join(silent)


@pytest.mark.parametrize("package", PACKAGES + ("bench",))
def test_no_module_is_longer_than_a_reader_takes_in(package):
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in sorted((ROOT / package).rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, long


def test_search_spaces_knows_nothing_of_reid():
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in sorted((ROOT / "search_spaces").rglob("*.py"))
             for i, line in enumerate(p.read_text().splitlines(), start=1)
             if any(word in line.lower() for word in REID_WORDS)]
    assert not found, found


def test_the_checker_sees_a_back_edge_and_a_cycle(tmp_path, monkeypatch):
    """The rules above are not vacuous: a planted back-edge and cycle are found."""
    planted = {"studies.planted": "from automl.options import StudyOptions\n",
               "search_spaces.planted_a": "from search_spaces import planted_b\n",
               "search_spaces.planted_b": "import search_spaces.planted_a\n"}
    edges = []
    for module, text in planted.items():
        path = tmp_path / f"{module.replace('.', '_')}.py"
        path.write_text(text)
        monkeypatch.setitem(MODULES, module, path)
    for module in planted:
        edges += _imports(module, MODULES[module])
    assert any(e.source == "studies.planted" and e.target == "automl.options" for e in edges)
    assert {(e.source, e.target) for e in edges} >= {("search_spaces.planted_a", "search_spaces.planted_b"),
                                                    ("search_spaces.planted_b", "search_spaces.planted_a")}
