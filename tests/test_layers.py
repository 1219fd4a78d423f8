"""The package layout is the architecture, and the import rules between its layers hold.

Read from the sources (every import, including those under ``if TYPE_CHECKING:`` and inside
functions), so that a rule cannot be broken by an import that happens to run late:

* each layer imports only the layers below it (see ``ALLOWED`` and docs/architecture.md);
* the sans-IO core imports no I/O, clock or operating-system module, even indirectly;
* the client side of the I/O shell never imports the server side, nor the reverse;
* modules form no import cycle;
* no module imports another module's private name (``_x``), and a private module is
  imported only from within its own package;
* every package says in its docstring what it is and what it may import;
* ``netrpc.__all__`` lists importable, documented names.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import netrpc

ROOT = Path(netrpc.__file__).resolve().parent

#: layer -> the layers it may import (itself always allowed)
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "security": {"core"},
    "discovery": {"core"},
    "io": {"core", "security", "discovery"},
    "admin": {"core", "security", "discovery", "io"},
    "cli": {"core", "security", "discovery", "io", "admin"},
    "testing": {"core", "security", "discovery", "io", "admin"},
}
LAYERS = set(ALLOWED)

#: standard-library modules the core may not import: I/O, the clock, the operating system,
#: concurrency (the core is driven by its caller, with time passed in as an argument)
CORE_FORBIDDEN = {
    "anyio", "asyncio", "trio", "sniffio", "socket", "ssl", "selectors", "select",
    "threading", "multiprocessing", "concurrent", "subprocess", "signal",
    "time", "datetime", "os", "pathlib", "shutil", "tempfile", "io", "fcntl", "mmap",
    "logging", "random", "secrets",
}



@dataclass(frozen=True)
class Import:
    importer: str  #: module name
    target: str  #: the module imported (a name imported from a module: that module)
    name: str | None  #: the name imported with ``from``, when not a module
    line: int


def _module_name(path: Path) -> str:
    parts = ("netrpc", *path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _imports() -> Iterator[Import]:
    for module, path in MODULES.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield Import(module, alias.name, None, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, node.module] if node.module else base)
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    if sub in MODULES:
                        yield Import(module, sub, None, node.lineno)
                    else:
                        yield Import(module, source, alias.name, node.lineno)


IMPORTS = list(_imports())


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "netrpc" else None


def _where(imp: Import) -> str:
    return f"{MODULES[imp.importer].relative_to(ROOT.parent)}:{imp.line}: {imp.target}"


def test_the_folders_are_the_layers() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert packages == LAYERS
    loose = {p.name for p in ROOT.glob("*.py")} - {"__init__.py"}
    assert loose == set(), "modules belong in a layer"


def test_layers_import_only_the_layers_below() -> None:
    bad = []
    for imp in IMPORTS:
        src, dst = _layer(imp.importer), _layer(imp.target)
        if src is None or dst is None or src == dst:
            continue
        if src in LAYERS and dst not in ALLOWED[src]:
            bad.append(f"{_where(imp)} ({src} may not import {dst})")
    assert bad == []


def test_client_and_server_sides_do_not_import_each_other() -> None:
    def side(module: str) -> str | None:
        if module == "netrpc.io.client" or module.startswith("netrpc.io.client."):
            return "client"
        if module == "netrpc.io.server" or module.startswith("netrpc.io.server."):
            return "server"
        return None

    bad = [
        _where(imp)
        for imp in IMPORTS
        if side(imp.importer) and side(imp.target) and side(imp.importer) != side(imp.target)
    ]
    assert bad == []


def _core_closure() -> dict[str, set[str]]:
    """Core module -> every top-level module it imports, directly or through the core."""
    direct: dict[str, set[str]] = {}
    for imp in IMPORTS:
        if _layer(imp.importer) == "core":
            direct.setdefault(imp.importer, set()).add(imp.target)
    closure = {}
    for module in (m for m in MODULES if _layer(m) == "core"):
        seen, todo, tops = {module}, [module], set()
        while todo:
            for target in direct.get(todo.pop(), ()):
                tops.add(target.split(".")[0])
                if target in MODULES and target not in seen:
                    seen.add(target)
                    todo.append(target)
        closure[module] = tops
    return closure


def test_core_imports_no_io_clock_or_os() -> None:
    closure = _core_closure()
    assert "netrpc.core.connection" in closure  # the check sees the core
    bad = {m: sorted(tops & CORE_FORBIDDEN) for m, tops in closure.items() if tops & CORE_FORBIDDEN}
    assert bad == {}


def test_core_forbidden_list_catches_an_io_import() -> None:
    # The rule is not vacuous: the I/O shell, checked the same way, is caught.
    tops = {imp.target.split(".")[0] for imp in IMPORTS if imp.importer == "netrpc.io._sockio"}
    assert tops & CORE_FORBIDDEN


def _cycles() -> list[set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        if imp.target in MODULES and imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_no_private_name_crosses_a_module() -> None:
    bad = []
    for imp in IMPORTS:
        if imp.name is not None and imp.name.startswith("_") and imp.target.startswith("netrpc"):
            bad.append(f"{_where(imp)}.{imp.name}")
        private = [p for p in imp.target.split(".") if p.startswith("_") and p != "__init__"]
        if private and imp.target.startswith("netrpc."):
            owner = imp.target.rpartition(".")[0]  # the package a private module belongs to
            if not (imp.importer == owner or imp.importer.startswith(owner + ".")):
                bad.append(f"{_where(imp)} (private module outside its package)")
    assert bad == []


def test_no_private_attribute_of_another_module_is_used() -> None:
    """``obj._name`` (obj not ``self``/``cls``) only for names the same module defines: a
    module never reaches into another module's objects."""
    bad = []
    for path in MODULES.values():
        tree = ast.parse(path.read_text(), str(path))
        defined: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                defined.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                defined.add(node.value)  # __slots__ entries
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                and node.attr not in defined
            ):
                bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {ast.unparse(node)}")
    assert bad == []


@pytest.mark.parametrize(
    "package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py")
)
def test_every_package_says_what_it_is(package: str) -> None:
    doc = ast.get_docstring(ast.parse(MODULES[package].read_text()))
    assert doc, f"{package} has no docstring"
    if _layer(package) in LAYERS and package.count(".") == 1:
        # A layer's docstring says what it may import, as the rules here have it.
        line = next((ln for ln in doc.splitlines() if ln.startswith("May import:")), None)
        assert line, f"{package}'s docstring does not say what it may import"
        text = line.removeprefix("May import:").split("(")[0].strip().rstrip(".")
        said = set() if text.startswith("nothing") else {w.strip() for w in text.split(",")}
        assert said == ALLOWED[package.split(".")[1]], (package, line)


def test_public_names_of_netrpc() -> None:
    assert len(set(netrpc.__all__)) == len(netrpc.__all__)
    for name in netrpc.__all__:
        value = getattr(netrpc, name)
        assert value.__doc__, f"netrpc.{name} has no docstring"
    # The names of the top-level API, wherever they are defined.
    assert {
        "Call", "Client", "ConnectionLostError", "Daemon", "ErrorCode", "ErrorDomain",
        "Header", "Identity", "LocalProtocolError", "MessageStatus", "MessageType",
        "NetRPCError", "Procedure", "Program", "ProtocolError", "RPCError",
        "RemoteProtocolError", "Reply", "Server", "ServerClient", "Service", "Transport",
        "procedure", "xdr",
    } <= set(netrpc.__all__)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports_and_lists_what_exists(module: str) -> None:
    mod = importlib.import_module(module)
    for name in getattr(mod, "__all__", ()):
        assert hasattr(mod, name), f"{module}.__all__ lists {name!r}, which is not there"
