"""The package's structure rules (ARCHITECTURE.md, "Structure rules"), checked on its source.

Every ``.py`` file under ``sweepctl/`` is parsed (never imported) into one table of imports,
each with its line, whether it runs when the module is imported (module level, class bodies
included) or only when a function is called, and whether it sits in an ``if TYPE_CHECKING:``
block. Each rule is a small function over that table (and, for the rules about calls, over the
syntax trees) that returns its violations as ``path:line: what`` lines; the tests at the
bottom run each rule on a small tree written for it, so no rule passes by checking nothing.
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]  # the directory that holds `sweepctl/`
PACKAGE = "sweepctl"


# -- the import table ------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One module imported by one statement of one file."""

    path: str  # the importing file, relative to the root: "sweepctl/spec/model.py"
    line: int
    importer: str  # the importing module: "sweepctl.spec.model"
    module: str  # what is imported, resolved: `from sweepctl import render` → "sweepctl.render"
    name: str | None  # for `from os import kill`: "kill" (module "os"); else None
    module_level: bool  # runs when the importer is imported (not only inside a function)
    type_checking: bool  # inside `if TYPE_CHECKING:`

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    @property
    def full(self) -> str:
        """The module, or for ``from sweepctl import render`` when no render.py was found,
        the name it would be: "sweepctl.render" (for prefix checks only)."""
        return f"{self.module}.{self.name}" if self.name else self.module

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass
class Source:
    path: str
    module: str
    tree: ast.Module


@dataclass
class Package:
    """Every parsed file of the package and every import in them."""

    sources: dict[str, Source] = field(default_factory=dict)  # by module name
    imports: list[Import] = field(default_factory=list)
    unparsable: list[str] = field(default_factory=list)

    def is_package(self, module: str) -> bool:
        source = self.sources.get(module)
        return source is not None and source.path.endswith("__init__.py")


def module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def within(module: str, prefix: str) -> bool:
    """Whether ``module`` is ``prefix`` or inside it (``sweepctl.spec.model`` is in spec)."""
    return module == prefix or module.startswith(prefix + ".")


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def walk(tree: ast.AST) -> Iterator[tuple[ast.AST, bool, bool]]:
    """Every node with (module level, inside TYPE_CHECKING). Class bodies run at import time,
    so they count as module level; function bodies and lambdas do not."""
    stack: list[tuple[ast.AST, bool, bool]] = [(tree, True, False)]
    while stack:
        node, module_level, type_checking = stack.pop()
        yield node, module_level, type_checking
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            # Decorators and default values run at import; the body does not.
            outer = [*node.decorator_list] if not isinstance(node, ast.Lambda) else []
            outer += [d for d in (*node.args.defaults, *node.args.kw_defaults) if d]
            body = node.body if isinstance(node.body, list) else [node.body]
            stack += [(n, module_level, type_checking) for n in outer]
            stack += [(n, False, type_checking) for n in body]
        elif isinstance(node, ast.If) and is_type_checking(node.test):
            stack += [(n, module_level, True) for n in node.body]
            stack += [(n, module_level, type_checking) for n in node.orelse]
        else:
            stack += [(n, module_level, type_checking) for n in ast.iter_child_nodes(node)]


def resolve_from(node: ast.ImportFrom, importer: str, is_init: bool) -> str:
    """The absolute module of ``from X import ...`` (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    # In a package's __init__, `.` is the package itself; elsewhere it is the parent.
    drop = node.level - 1 if is_init else node.level
    base = base[: len(base) - drop] if drop else base
    return ".".join([*base, node.module] if node.module else base)


def scan(root: Path = ROOT, package: str = PACKAGE) -> Package:
    """Parse every file of ``root/package`` and build the import table."""
    pkg = Package()
    for file in sorted((root / package).rglob("*.py")):
        relative = file.relative_to(root)
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(relative))
        except SyntaxError as exc:
            pkg.unparsable.append(f"{relative.as_posix()}:{exc.lineno}: {exc.msg}")
            continue
        module = module_name(relative)
        pkg.sources[module] = Source(relative.as_posix(), module, tree)
    for source in pkg.sources.values():
        is_init = source.path.endswith("__init__.py")
        for node, module_level, type_checking in walk(source.tree):
            targets: list[tuple[str, str | None]] = []
            if isinstance(node, ast.Import):
                targets = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = resolve_from(node, source.module, is_init)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    # `from sweepctl import render` imports the module sweepctl.render.
                    targets.append((sub, None) if sub in pkg.sources else (base, alias.name))
            elif (
                isinstance(node, ast.Call)
                # cli.py's lazy_import("sweepctl.api"): a module-level import, run on first use
                and dotted(node.func) in ("importlib.import_module", "__import__", "lazy_import")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                targets = [(node.args[0].value, None)]
            for target, name in targets:
                pkg.imports.append(
                    Import(
                        source.path,
                        node.lineno,
                        source.module,
                        target,
                        name,
                        module_level,
                        type_checking,
                    )
                )
    pkg.imports.sort(key=lambda i: (i.path, i.line, i.module))
    return pkg


def dotted(node: ast.AST) -> str:
    """``os.kill`` for the expression ``os.kill``; "" for anything not a dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


def aliases(source: Source) -> dict[str, str]:
    """Local name → module, for `import os`, `import os as _os`, `import os.path`."""
    names = {}
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
    return names


def uses(source: Source, wanted: Callable[[str], bool]) -> Iterator[tuple[int, str]]:
    """(line, "module.attr") for every ``module.attr`` expression that ``wanted`` accepts,
    with local aliases of the module (``import os as _os``) resolved."""
    names = aliases(source)
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            full = f"{names.get(node.value.id, node.value.id)}.{node.attr}"
            if node.value.id in names and wanted(full):
                yield node.lineno, full


# -- exceptions, each with its reason ----------------------------------------------------------


@dataclass(frozen=True)
class Allowed:
    path: str  # a file, or a folder ending in "/"
    module: str | None  # the imported module (or a package, meaning anything inside); None: any
    reason: str

    def covers(self, imp_path: str, module: str | None = None) -> bool:
        at = imp_path.startswith(self.path) if self.path.endswith("/") else imp_path == self.path
        return at and (self.module is None or module is None or within(module, self.module))


# Rule d: who else may start or signal processes.
PROCESS_EXCEPTIONS = (
    Allowed(
        "sweepctl/agent/bootstrap/",
        None,
        "runs inside the user's child process (as its sitecustomize), under whatever Python "
        "the child uses, where the sweepctl package and so the process module may not be "
        "importable",
    ),
)

# Rule g: in-function imports of sweepctl's own modules that stay in functions. cli.py has
# none: it imports sweepctl.api at module level, and `sweepctl --help` still imports no heavy
# package (tests/test_imports.py). Should --help need the API's import time back, a lazy
# `sweepctl.api` import in cli.py goes here with that reason.
LAZY_IMPORT_EXCEPTIONS = (
    Allowed(
        "sweepctl/__init__.py",
        "sweepctl.agent.metrics",
        "log() imports the metrics writer when called, so `import sweepctl` (which every "
        "training script that calls sweepctl.log does) stays light",
    ),
    Allowed(
        "sweepctl/__init__.py",
        "sweepctl.library",
        "the public Python API (sweep, agent, best, ...) loads on first use, so `import "
        "sweepctl` in a training script stays light",
    ),
    Allowed(
        "sweepctl/backends/factory.py",
        "sweepctl.backends",
        "picks a backend and imports only the one it needs: each pulls in a heavy third-party "
        "package (sqlalchemy for the local store, wandb for W&B)",
    ),
    Allowed(
        "sweepctl/api.py",
        "sweepctl.results.report",
        "the report package (statistics, figure descriptions, two renderers) serves only "
        "`report`; every other command, `validate` first, would pay its import time at start",
    ),
    Allowed(
        "sweepctl/search/bayes.py",
        "sweepctl.search.gpsampler",
        "gpsampler imports torch (the optional `gp` extra) at module level; bayes imports it "
        "only after finding torch installed, and uses TPE otherwise",
    ),
)


# -- the rules -----------------------------------------------------------------------------------

# a. The pure layers: sweep files, search methods, stopping rules, the vocabulary, the errors.
PURE = (
    "sweepctl.spec",
    "sweepctl.search",
    "sweepctl.stopping",
    "sweepctl.domain",
    "sweepctl.errors",
)
# What they must not know about: storage, processes, backends and every view.
OUTER = (
    "sweepctl.store",
    "sweepctl.agent",
    "sweepctl.backends",
    "sweepctl.cli",
    "sweepctl.api",
    "sweepctl.results",
    "sweepctl.render",
    "sweepctl.progress",
    "sweepctl.dashboard",
)


def rule_pure_layers(pkg: Package) -> list[str]:
    """spec, search, stopping, domain and errors import no store, agent, backend or view
    (anywhere in the file, TYPE_CHECKING blocks included)."""
    return [
        f"{i.where}: {i.importer} imports {i.module}; {layer} must not depend on {outer}"
        for i in pkg.imports
        for layer in PURE
        if within(i.importer, layer)
        for outer in OUTER
        if within(i.full, outer)
    ]


SQL_PACKAGES = ("sqlalchemy", "sqlite3", "psycopg", "psycopg2", "alembic")


def rule_only_store_speaks_sql(pkg: Package) -> list[str]:
    """Only modules under sweepctl/store/ import sqlalchemy (or another SQL driver)."""
    return [
        f"{i.where}: {i.importer} imports {i.module}; only sweepctl/store/ speaks SQL"
        for i in pkg.imports
        if i.top in SQL_PACKAGES and not within(i.importer, "sweepctl.store")
    ]


def rule_only_cli_imports_typer(pkg: Package) -> list[str]:
    """Only the command line (sweepctl/cli/) imports typer or click."""
    return [
        f"{i.where}: {i.importer} imports {i.module}; only sweepctl/cli/ may"
        for i in pkg.imports
        if i.top in ("typer", "click") and not within(i.importer, "sweepctl.cli")
    ]


PROCESS_MODULE = "sweepctl.agent.process"
PROCESS_CALLS = {
    "os": (
        "kill", "killpg", "system", "popen", "fork", "forkpty", "exec", "spawn", "posix_spawn",
        "pidfd_open",
    ),
    "signal": ("pthread_kill", "pidfd_send_signal"),
    "asyncio": ("create_subprocess_exec", "create_subprocess_shell"),
}  # fmt: skip


def starts_or_signals(name: str) -> bool:
    """Whether ``module.attr`` starts or signals a process (``os.execvp``, ``os.spawnl``, ...)."""
    module, _, attr = name.rpartition(".")
    return any(
        attr == prefix or (prefix in ("exec", "spawn", "posix_spawn") and attr.startswith(prefix))
        for prefix in PROCESS_CALLS.get(module, ())
    )


def rule_only_process_module_spawns(pkg: Package) -> list[str]:
    """Only sweepctl/agent/process.py imports subprocess or calls os.kill, os.exec*, ..."""
    found = [
        f"{i.where}: {i.importer} imports {i.module}{'.' + i.name if i.name else ''}"
        for i in pkg.imports
        if i.top == "subprocess" or (i.name and starts_or_signals(f"{i.module}.{i.name}"))
    ]
    for source in pkg.sources.values():
        found += [
            f"{source.path}:{line}: {source.module} uses {name}"
            for line, name in uses(source, starts_or_signals)
        ]
    return sorted(
        f"{v}; only {PROCESS_MODULE} starts or signals processes"
        for v in set(found)
        if not v.startswith("sweepctl/agent/process.py:")
        and not any(a.covers(v.split(":")[0]) for a in PROCESS_EXCEPTIONS)
    )


API = "sweepctl.api"
STREAMS = ("sys.stdout", "sys.stderr", "sys.__stdout__", "sys.__stderr__")


def rule_api_never_prints(pkg: Package) -> list[str]:
    """sweepctl.api never prints: no print(), no sys.stdout/sys.stderr, no rich, no render."""
    found = [
        f"{i.where}: {i.importer} imports {i.module}{'.' + i.name if i.name else ''}"
        for i in pkg.imports
        if within(i.importer, API)
        and (
            i.top == "rich"
            or within(i.full, "sweepctl.render")
            or (i.module == "sys" and i.name in ("stdout", "stderr", "__stdout__", "__stderr__"))
        )
    ]
    for source in pkg.sources.values():
        if not within(source.module, API):
            continue
        found += [
            f"{source.path}:{node.lineno}: {source.module} calls print()"
            for node in ast.walk(source.tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "print"
        ]
        found += [
            f"{source.path}:{line}: {source.module} uses {name}"
            for line, name in uses(source, lambda name: name in STREAMS)
        ]
    return sorted(f"{v}; the API returns results, only its skins print" for v in set(found))


def import_graph(pkg: Package) -> dict[str, dict[str, Import]]:
    """importer → {imported module: the first import that makes the edge}, over the imports that
    run when the importer is imported (no function bodies, no TYPE_CHECKING).

    Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``: those are edges too,
    except to the importer's own packages (already being imported when the importer runs).
    """
    graph: dict[str, dict[str, Import]] = {m: {} for m in pkg.sources}
    for i in pkg.imports:
        if not i.module_level or i.type_checking or not within(i.module, PACKAGE):
            continue
        parts = i.module.split(".")
        targets = [".".join(parts[:n]) for n in range(1, len(parts) + 1)]
        for target in targets:
            implicit = target != i.module
            if target not in pkg.sources or target == i.importer:
                continue
            if implicit and within(i.importer, target):
                continue
            graph[i.importer].setdefault(target, i)
    return graph


def strongly_connected(nodes: list[str], edges: Callable[[str], list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one member."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges(v):
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
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(nodes) + 100))
    try:
        for v in sorted(nodes):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def shortest_cycle(start: str, edges: Callable[[str], list[str]], members: set[str]) -> list[str]:
    """The shortest path start → ... → start inside ``members`` (breadth first)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in edges(v):
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in parent:
                    parent[w] = v
                    following.append(w)
        frontier = following
    return []


def rule_no_import_cycles(pkg: Package) -> list[str]:
    """No cycle among module-level imports of sweepctl modules. A package's ``__init__``
    importing its own submodules is fine: a cycle made only of a package and its own
    submodules, which its edges to those submodules close, is not reported."""
    graph = import_graph(pkg)

    def edges(v: str) -> list[str]:
        return sorted(graph[v])

    def edges_but_init_to_own(v: str) -> list[str]:
        return [w for w in edges(v) if not (pkg.is_package(v) and within(w, v))]

    found = []
    for component in strongly_connected(list(graph), edges):
        members = set(component)

        def inside(v: str, members: set[str] = members) -> list[str]:
            return [w for w in edges_but_init_to_own(v) if w in members]

        rest = strongly_connected(component, inside)
        one_package = any(
            pkg.is_package(p) and all(within(m, p) for m in component) for p in component
        )
        if one_package and not rest:
            continue
        start = rest[0][0] if rest else component[0]
        cycle = shortest_cycle(start, edges_but_init_to_own if rest else edges, members)
        steps = [
            f"    {graph[a][b].where}: {a} → {b}"
            + ("" if graph[a][b].module == b else f" (importing {graph[a][b].module})")
            for a, b in itertools.pairwise(cycle)
        ]
        head = graph[cycle[0]][cycle[1]]
        found.append(
            f"{head.where}: import cycle {' → '.join(cycle)}"
            + f" (strongly connected: {', '.join(component)})\n"
            + "\n".join(steps)
        )
    return found


def rule_own_imports_at_module_level(pkg: Package) -> list[str]:
    """Imports of sweepctl's own modules are at module level (TYPE_CHECKING blocks aside),
    but for the exceptions listed with their reasons in LAZY_IMPORT_EXCEPTIONS."""
    return [
        f"{i.where}: {i.importer} imports {i.module} inside a function; import it at module "
        "level (or list the exception and its reason in tests/test_structure.py)"
        for i in pkg.imports
        if within(i.module, PACKAGE)
        and not i.module_level
        and not i.type_checking
        and not any(a.covers(i.path, i.module) for a in LAZY_IMPORT_EXCEPTIONS)
    ]


# Files a run's child process loads by path, under whatever Python it has: no sweepctl, no
# third-party package may be imported there (see agent/bootstrap/sitecustomize.py).
CHILD_FILES = ("sweepctl/agent/bootstrap/", "sweepctl/agent/metrics.py")


def rule_child_files_use_stdlib_only(pkg: Package) -> list[str]:
    """What runs inside the user's child process imports the standard library only."""
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    return [
        f"{i.where}: {i.importer} imports {i.module}; the child process loads this file by "
        "path and may have no sweepctl and no third-party package"
        for i in pkg.imports
        if any(Allowed(path, None, "").covers(i.path) for path in CHILD_FILES)
        and i.top not in stdlib
    ]


RULES = {
    "a: spec/search/stopping/domain/errors import no outer layer": rule_pure_layers,
    "b: only store/ imports sqlalchemy": rule_only_store_speaks_sql,
    "c: only the cli imports typer": rule_only_cli_imports_typer,
    "d: only agent/process.py starts or signals processes": rule_only_process_module_spawns,
    "e: api.py never prints": rule_api_never_prints,
    "f: no import cycles": rule_no_import_cycles,
    "g: own imports at module level": rule_own_imports_at_module_level,
    "h: child-loaded files import the standard library only": rule_child_files_use_stdlib_only,
}


# -- the rules on sweepctl ------------------------------------------------------------------


@pytest.fixture(scope="module")
def package() -> Package:
    return scan()


def check(rule: Callable[[Package], list[str]], pkg: Package) -> None:
    violations = rule(pkg)
    if violations:
        rule_text = " ".join((rule.__doc__ or rule.__name__).split())
        pytest.fail(
            f"{len(violations)} violation(s) of: {rule_text}\n" + "\n".join(violations),
            pytrace=False,
        )


def test_every_file_parses(package: Package) -> None:
    assert not package.unparsable
    assert "sweepctl.spec.model" in package.sources  # the scan found the package


def test_a_pure_layers_import_no_outer_layer(package: Package) -> None:
    check(rule_pure_layers, package)


def test_b_only_store_imports_sqlalchemy(package: Package) -> None:
    check(rule_only_store_speaks_sql, package)


def test_c_only_cli_imports_typer(package: Package) -> None:
    check(rule_only_cli_imports_typer, package)


def test_d_only_process_module_starts_or_signals_processes(package: Package) -> None:
    check(rule_only_process_module_spawns, package)


def test_e_api_never_prints(package: Package) -> None:
    check(rule_api_never_prints, package)


def test_f_no_import_cycles(package: Package) -> None:
    check(rule_no_import_cycles, package)


def test_g_own_imports_at_module_level(package: Package) -> None:
    check(rule_own_imports_at_module_level, package)


def test_h_child_loaded_files_use_stdlib_only(package: Package) -> None:
    check(rule_child_files_use_stdlib_only, package)


def test_g_every_exception_is_still_needed(package: Package) -> None:
    """An exception that covers no import any more would hide the next one: drop it."""
    lazy = [i for i in package.imports if within(i.module, PACKAGE) and not i.module_level]
    unused = [
        a for a in LAZY_IMPORT_EXCEPTIONS if not any(a.covers(i.path, i.module) for i in lazy)
    ]
    assert not unused, "exceptions that no in-function import needs: " + ", ".join(
        f"{a.path} ({a.module or 'any module'})" for a in unused
    )


# -- each rule catches what it is for --------------------------------------------------------


def tree(root: Path, files: dict[str, str]) -> Package:
    """Write a small sweepctl package under ``root`` (every folder gets an __init__) and scan it."""
    for name, text in {"sweepctl/__init__.py": "", **files}.items():
        path = root / name
        for folder in path.relative_to(root).parents:
            if folder != Path(".") and not (root / folder / "__init__.py").exists():
                (root / folder).mkdir(parents=True, exist_ok=True)
                (root / folder / "__init__.py").touch()
        path.write_text(text)
    return scan(root)


# (rule, files with one violation each where `# !` marks the line, clean files)
CASES = {
    "a": (
        rule_pure_layers,
        {
            "sweepctl/spec/model.py": "import json\nfrom sweepctl.store import base  # !\n",
            "sweepctl/search/grid.py": "def f():\n    from sweepctl import render  # !\n",
            "sweepctl/stopping/hyperband.py": "from ..agent.loop import Agent  # !\n",
            "sweepctl/domain.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    import sweepctl.api  # !\n"
            ),
        },
        {
            "sweepctl/store/base.py": "from sweepctl.spec import model\n",
            "sweepctl/render.py": "",
            "sweepctl/spec/checks.py": "from sweepctl.errors import Problem\n",
            "sweepctl/errors.py": "",
        },
    ),
    "b": (
        rule_only_store_speaks_sql,
        {
            "sweepctl/spec/model.py": "import sqlalchemy  # !\n",
            "sweepctl/api.py": "def f():\n    from sqlalchemy.engine import Engine  # !\n",
        },
        {"sweepctl/store/tables.py": "import sqlalchemy as sa\nfrom sqlalchemy import Table\n"},
    ),
    "c": (
        rule_only_cli_imports_typer,
        {"sweepctl/api.py": "import typer  # !\n", "sweepctl/render.py": "import click  # !\n"},
        {"sweepctl/cli.py": "import typer\nimport click\n"},
    ),
    "d": (
        rule_only_process_module_spawns,
        {
            "sweepctl/agent/gpus.py": "import subprocess  # !\n",
            "sweepctl/agent/loop.py": "import os\ndef f(pid):\n    os.killpg(pid, 9)  # !\n",
            "sweepctl/cli.py": "import os as o\ndef f():\n    o.execvp('x', ['x'])  # !\n",
            "sweepctl/api.py": "from os import kill  # !\n",
            "sweepctl/render.py": "import signal\nsignal.pthread_kill(1, 2)  # !\n",
        },
        {
            "sweepctl/agent/process.py": "import subprocess\nimport os\nos.kill(1, 15)\n",
            "sweepctl/agent/bootstrap/sitecustomize.py": "import os\nos.kill(1, 15)\n",
            "sweepctl/progress.py": "import os, signal\nos.getpid()\nsignal.signal(2, None)\n",
        },
    ),
    "e": (
        rule_api_never_prints,
        {
            "sweepctl/api.py": (
                "import sys\nfrom rich.console import Console  # !\n"
                "from sweepctl import render  # !\n"
                "def f():\n    print('x')  # !\n    sys.stderr.write('x')  # !\n"
            ),
            "sweepctl/render.py": "",
        },
        {"sweepctl/cli.py": "import sys\nprint('x')\nsys.stdout.write('y')\n"},
    ),
    "f": (
        rule_no_import_cycles,
        {
            # spec → checks → stopping.hyperband → search → (spec.model, running spec's
            # __init__) → ...: the cycle goes through a package's __init__.
            "sweepctl/spec/__init__.py": "from sweepctl.spec.checks import check\n",
            "sweepctl/spec/checks.py": "from sweepctl.stopping.hyperband import bands\n",
            "sweepctl/spec/model.py": "",
            "sweepctl/stopping/__init__.py": "",
            "sweepctl/stopping/hyperband.py": "from sweepctl.search import RunRecord\n",
            "sweepctl/search/__init__.py": "from sweepctl.spec.model import SweepSpec  # !\n",
        },
        {
            # A package importing its own submodules, which import from the package: fine.
            "sweepctl/store/__init__.py": "from sweepctl.store.base import Store\nX = 1\n",
            "sweepctl/store/base.py": "from sweepctl.store import X\n",
            # Cycles through functions and TYPE_CHECKING blocks are not import cycles.
            "sweepctl/api.py": "import sweepctl.cli\n",
            "sweepctl/cli.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import sweepctl.api\n"
                "def f():\n    import sweepctl.api\n"
            ),
        },
    ),
    "g": (
        rule_own_imports_at_module_level,
        {
            "sweepctl/campaign.py": "def f():\n    from sweepctl.search.grid import g  # !\n",
            "sweepctl/store/base.py": "class S:\n    def f(self):\n        import sweepctl  # !\n",
            "sweepctl/search/__init__.py": "def f():\n    from . import grid  # !\n",
            "sweepctl/search/grid.py": "",
            "sweepctl/cli.py": "def f():\n    from sweepctl import render  # !\n",
            "sweepctl/backends/factory.py": "def f():\n    import sweepctl.spec.checks  # !\n",
            "sweepctl/render.py": "import importlib\ndef f():\n"
            "    importlib.import_module('sweepctl.api')  # !\n",
        },
        {
            "sweepctl/api.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from sweepctl import cli\ndef f():\n    import numpy\n"
            ),
            "sweepctl/__init__.py": "def log():\n    from sweepctl.agent import metrics\n",
            "sweepctl/backends/factory.py": "def f():\n    from sweepctl.backends.local import x\n",
            "sweepctl/agent/metrics.py": "",
        },
    ),
    "h": (
        rule_child_files_use_stdlib_only,
        {
            "sweepctl/agent/metrics.py": "import json\nimport yaml  # !\n",
            "sweepctl/agent/bootstrap/sitecustomize.py": "def f():\n    import sweepctl  # !\n",
        },
        {"sweepctl/agent/loop.py": "import yaml\nimport sweepctl.agent.metrics\n"},
    ),
}


def marked(files: dict[str, str]) -> set[str]:
    return {
        f"{path}:{n}"
        for path, text in files.items()
        for n, line in enumerate(text.splitlines(), 1)
        if line.endswith("# !")
    }


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_reports_each_planted_violation(name: str, tmp_path: Path) -> None:
    rule, bad, _ = CASES[name]
    reported = {v.split(": ", 1)[0] for v in rule(tree(tmp_path, bad))}
    assert reported == marked(bad)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule_passes_a_clean_tree(name: str, tmp_path: Path) -> None:
    rule, _, good = CASES[name]
    assert rule(tree(tmp_path, good)) == []


def test_every_rule_has_a_test_and_a_case() -> None:
    assert sorted(CASES) == sorted(key.split(":")[0] for key in RULES)
    tested = {name for name in globals() if name.startswith("test_")}
    for key, rule in RULES.items():
        assert CASES[key.split(":")[0]][0] is rule
        assert any(n.startswith(f"test_{key[0]}_") for n in tested), key


def test_cycle_report_names_each_import_line(tmp_path: Path) -> None:
    pkg = tree(
        tmp_path,
        {
            "sweepctl/a.py": "import json\nfrom sweepctl import b\n",
            "sweepctl/b.py": "import sweepctl.a\n",
        },
    )
    [report] = rule_no_import_cycles(pkg)
    assert report.splitlines() == [
        "sweepctl/a.py:2: import cycle sweepctl.a → sweepctl.b → sweepctl.a"
        " (strongly connected: sweepctl.a, sweepctl.b)",
        "    sweepctl/a.py:2: sweepctl.a → sweepctl.b",
        "    sweepctl/b.py:1: sweepctl.b → sweepctl.a",
    ]
