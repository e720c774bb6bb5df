"""The package layout: imports run one way (engine at the bottom, cli at the top), no cycles,
no oversized module or class, and the public API imports nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "iris_envs"

# Every stage with the layer it sits on: a module may import from its own stage and from
# stages on LOWER layers only (docs/architecture.md draws the same table). Top-level modules
# are stages of their own.
LAYERS: dict[str, int] = {
    "iris_envs": 0,  # the package root: __version__ only (its lazy API is resolved on access)
    "iris_envs.exit_codes": 0,
    "iris_envs.errors": 1,
    "iris_envs.naming": 1,
    "iris_envs.progress": 1,
    "iris_envs.engine": 2,
    "iris_envs.config": 3,
    "iris_envs.cache": 4,
    "iris_envs.instance": 5,
    "iris_envs.fixtures": 6,
    "iris_envs.key": 7,
    "iris_envs.share": 8,
    "iris_envs.build": 9,
    "iris_envs.monitor": 9,
    "iris_envs.run": 10,
    "iris_envs.dbapi": 11,
    "iris_envs.unittest": 11,
    "iris_envs.pytest_plugin": 12,
    "iris_envs.nox": 12,
    "iris_envs.testcontainers": 12,
    "iris_envs.cli": 13,
    "iris_envs.__main__": 14,
}
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 200
HEAVY = ("docker", "rich", "iris", "testcontainers", "requests", "irisnative")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield module_name(path), path


def stage(module: str) -> str:
    """The longest LAYERS entry that is ``module`` or one of its parents."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in LAYERS:
            return candidate
    raise AssertionError(f"{module} belongs to no stage in LAYERS: add it there")


def imported(path: Path, known: set[str]) -> Iterator[tuple[str, int]]:
    """Every iris_envs module ``path`` imports (also inside functions), with its line.

    The package root's ``if TYPE_CHECKING:`` imports are left out: they only name the lazy
    API's types for mypy, and nothing imports them at run time."""
    tree = ast.parse(path.read_text(), str(path))
    if path == PACKAGE / "__init__.py":
        tree.body = [n for n in tree.body if not _type_checking_block(n)]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("iris_envs"):
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("iris_envs"):
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                # `from iris_envs.run import spares` imports the module iris_envs.run.spares.
                yield (sub if sub in known else node.module), node.lineno


def _type_checking_block(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"


def import_graph() -> dict[str, dict[str, int]]:
    known = {name for name, _ in modules()}
    return {
        name: {target: line for target, line in imported(path, known) if target != name}
        for name, path in modules()
    }


def upward_imports(graph: dict[str, dict[str, int]]) -> list[str]:
    problems = []
    for source, targets in graph.items():
        own = stage(source)
        for target, line in targets.items():
            theirs = stage(target)
            if theirs != own and LAYERS[theirs] >= LAYERS[own]:
                problems.append(
                    f"{source}:{line} imports {target}: {theirs} (layer {LAYERS[theirs]}) is "
                    f"not below {own} (layer {LAYERS[own]})"
                )
    return problems


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every import cycle between modules (strongly connected components of two or more)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, {}):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_stage() -> None:
    for name, _ in modules():
        stage(name)


def test_imports_run_from_the_cli_down_to_the_engine() -> None:
    assert upward_imports(import_graph()) == []


def test_an_upward_import_is_caught() -> None:
    # The check itself: the engine importing the runner is exactly what must fail.
    graph = import_graph()
    graph["iris_envs.engine.adapter"]["iris_envs.run.runner"] = 1
    graph["iris_envs.config.spec"]["iris_envs.cli.main"] = 2
    assert [p.split(" imports ")[0] for p in upward_imports(graph)] == [
        "iris_envs.config.spec:2",
        "iris_envs.engine.adapter:1",
    ]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_a_cycle_is_caught() -> None:
    graph = import_graph()
    graph["iris_envs.cli._common"]["iris_envs.cli.cache"] = 1
    graph["iris_envs.cli.cache"]["iris_envs.cli._common"] = 1
    assert ["iris_envs.cli._common", "iris_envs.cli.cache"] in cycles(graph)


def test_only_the_engine_imports_the_docker_sdk() -> None:
    offenders = []
    for name, path in modules():
        if stage(name) == "iris_envs.engine":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{name}: {n}" for n in names if n.split(".")[0] == "docker"]
    assert offenders == []


def test_no_module_over_400_lines_and_no_class_over_200() -> None:
    too_long = []
    for name, path in modules():
        text = path.read_text()
        if (lines := len(text.splitlines())) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    too_long.append(f"{name}.{node.name}: {size} lines")
    assert too_long == []


def test_every_module_starts_with_a_docstring() -> None:
    missing = [
        name for name, path in modules() if not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert missing == []


def test_the_documented_api_imports() -> None:
    import iris_envs
    from iris_envs.dbapi import connect
    from iris_envs.nox import iris_session
    from iris_envs.testcontainers import IRISEnvContainer

    assert iris_envs.connect is connect
    assert callable(iris_session)
    assert IRISEnvContainer.__name__ == "IRISEnvContainer"
    assert "connect" in dir(iris_envs)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = iris_envs.nope  # type: ignore[attr-defined]


def test_the_pytest_entry_point_names_the_plugin() -> None:
    from importlib.metadata import entry_points

    (plugin,) = [ep for ep in entry_points(group="pytest11") if ep.name == "iris_envs"]
    assert plugin.load().__name__ == "iris_envs.pytest_plugin"


@pytest.mark.parametrize(
    "code",
    [
        "import iris_envs",
        "import iris_envs; iris_envs.__version__",
        "from iris_envs.cli.main import build_parser; build_parser()",
    ],
)
def test_the_cli_and_the_package_import_nothing_heavy(code: str) -> None:
    probe = (
        f"{code}\nimport sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_connect_through_the_package_after_the_plugin_loaded_its_module() -> None:
    # Importing iris_envs.dbapi (as the pytest plugin does) must not shadow iris_envs.connect.
    code = (
        "import iris_envs.dbapi, iris_envs, iris_envs.pytest_plugin\n"
        "assert iris_envs.connect is iris_envs.dbapi.connect, iris_envs.connect\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version_imports_nothing_heavy() -> None:
    # The acceptance check as written: `python -X importtime -m iris_envs --version`.
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "iris_envs", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("iris-envs ")
    imported_modules = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    heavy = sorted(m for m in imported_modules if m.split(".")[0] in HEAVY)
    assert heavy == []
    assert "iris_envs.cli.main" in imported_modules  # the probe saw the imports at all
