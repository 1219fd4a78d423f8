"""The sans-IO core imports no I/O machinery (checked on the sources, transitively)."""

from __future__ import annotations

import ast
from pathlib import Path

import netrpc

CORE = ["xdr", "xdrlang", "errors", "protocol", "framing", "keepalive", "connection", "program",
        "stream"]
FORBIDDEN = {"anyio", "asyncio", "socket", "ssl", "trio", "selectors", "threading"}


def _imports(module: str) -> set[str]:
    path = Path(netrpc.__file__).parent / "core" / f"{module}.py"
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level and node.module is None:
                found.update("." + alias.name for alias in node.names)
            elif node.level:
                found.add("." + node.module.split(".")[0])
            else:
                found.add((node.module or "").split(".")[0])
    return found


def test_core_modules_import_no_io() -> None:
    for module in CORE:
        imports = _imports(module)
        assert not imports & FORBIDDEN, (module, imports & FORBIDDEN)
        relative = {name[1:] for name in imports if name.startswith(".")}
        assert relative <= set(CORE), (module, relative - set(CORE))
