"""The package installs and type-checks on a fresh machine: every third-party module the
code imports is a declared dependency, trio only where it is needed, and CI's constraints
pin every declared dependency at a version the declaration allows."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONSTRAINTS = ROOT / ".ci" / "constraints.txt"


def _name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match[1]).lower()


def _minimum(requirement: str) -> tuple[int, ...] | None:
    match = re.search(r">=\s*([0-9][0-9.]*)", requirement)
    return tuple(int(p) for p in match[1].strip(".").split(".")) if match else None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text.split("+")[0])[:3])


def _third_party_imports(package: str, *, eager_only: bool = False) -> dict[str, set[str]]:
    """Top-level module -> files importing it, for every non-stdlib, non-local import.

    With *eager_only*, only imports that run when the module is imported: not those inside
    functions, under ``if TYPE_CHECKING:`` or guarded by ``except ImportError``.
    """
    local = {"netrpc", "daemons", "bench", "tests"}
    found: dict[str, set[str]] = {}

    def visit(nodes: list[ast.stmt], eager: bool, path: Path) -> None:
        for node in nodes:
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            for module in modules:
                top = module.split(".")[0]
                if (eager or not eager_only) and top not in sys.stdlib_module_names \
                        and top not in local:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(node.body, False, path)
            elif isinstance(node, ast.If):
                lazy = "TYPE_CHECKING" in ast.unparse(node.test)
                visit(node.body, eager and not lazy, path)
                visit(node.orelse, eager, path)
            elif isinstance(node, ast.Try):
                guarded = any(
                    h.type is not None and re.search(r"ImportError|ModuleNotFoundError",
                                                      ast.unparse(h.type))
                    for h in node.handlers
                )
                visit(node.body, eager and not guarded, path)
                for handler in node.handlers:
                    visit(handler.body, eager, path)
                visit(node.orelse + node.finalbody, eager, path)
            elif isinstance(node, ast.ClassDef | ast.With | ast.AsyncWith | ast.For | ast.While):
                visit(node.body, eager, path)

    for path in (ROOT / package).rglob("*.py"):
        visit(ast.parse(path.read_text(), str(path)).body, True, path)
    return found


def _pytest_plugins() -> set[str]:
    """Files pytest loads as plugins (entry point group ``pytest11``): pytest imports them."""
    plugins = PYPROJECT["project"].get("entry-points", {}).get("pytest11", {})
    return {value.split(":")[0].replace(".", "/") + ".py" for value in plugins.values()}


def _distributions(module: str) -> set[str]:
    return {_name(d) for d in importlib.metadata.packages_distributions().get(module, [])}


@pytest.mark.parametrize("package", ["netrpc", "daemons"])
def test_every_runtime_import_is_a_declared_dependency(package: str) -> None:
    """Imports that run on ``import netrpc...`` need a runtime dependency; optional ones
    (lazy, under TYPE_CHECKING, or guarded) an extra; pytest plugins may import pytest."""
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = {
        _name(r)
        for values in PYPROJECT["project"].get("optional-dependencies", {}).values()
        for r in values
        if not r.startswith("netrpc")
    }
    plugins = _pytest_plugins()
    eager = _third_party_imports(package, eager_only=True)
    missing = {}
    for module, files in _third_party_imports(package).items():
        dists = _distributions(module)
        if dists & declared:
            continue
        eager_files = eager.get(module, set()) - (plugins if module == "pytest" else set())
        if not eager_files and dists & extras:
            continue
        missing[module] = sorted(eager_files or files)
    assert missing == {}


def test_trio_is_optional_at_run_time() -> None:
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert "trio" not in declared
    assert "anyio" in declared and all(
        "[" not in r for r in PYPROJECT["project"]["dependencies"] if _name(r) == "anyio"
    )
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(_name(r) == "trio" for r in extras["trio"])
    # The suite runs every I/O test on trio too.
    assert any(
        r.startswith("netrpc[") and "trio" in r[7:r.index("]")].split(",") for r in extras["test"]
    )


def test_test_imports_are_declared_in_the_test_extra() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    for extra in ("trio", "test"):
        declared |= {_name(r) for r in extras[extra] if not r.startswith("netrpc")}
    missing = {
        module: sorted(files)
        for module, files in _third_party_imports("tests").items()
        if module != "libvirt"  # Debian's python3-libvirt, only under /usr/bin/python3
        and not _distributions(module) & declared
    }
    assert missing == {}


def test_constraints_pin_every_declared_dependency() -> None:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{CONSTRAINTS}: {line!r} is not name==version"
            pins[_name(name)] = version
    extras = PYPROJECT["project"]["optional-dependencies"]
    requirements = list(PYPROJECT["project"]["dependencies"])
    for values in extras.values():
        requirements += [r for r in values if not r.startswith("netrpc")]
    for requirement in requirements:
        name = _name(requirement)
        assert name in pins, f"{name} is not pinned in {CONSTRAINTS}"
        minimum = _minimum(requirement)
        if minimum is not None:
            assert _version(pins[name]) >= minimum, (requirement, pins[name])
    script = (ROOT / ".ci" / "install-deps.sh").read_text()
    assert "-c .ci/constraints.txt" in script


def test_wheel_ships_the_daemons_under_their_own_names(tmp_path: Path) -> None:
    """A built wheel holds netrpc and the daemons as ``testvirtd``, ``kvstore`` and ``vmmd`` (never a
    package called ``daemons``), their data files, and console scripts that point into it."""
    import shutil
    import subprocess
    import zipfile

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("netrpc", "daemons"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(src), "-w",
         str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("netrpc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"netrpc", "testvirtd", "kvstore", "vmmd"}
    assert "testvirtd/protocol/remote.x" in names
    assert "netrpc/py.typed" in names
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = {}
    section = ""
    for line in zipfile.ZipFile(wheel).read(entry_points).decode().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line and section == "console_scripts":
            key, _, value = line.partition("=")
            scripts[key.strip()] = value.strip()
    assert set(scripts) == {"testvirtd", "kvstored", "vmmd", "netrpc-certs", "netrpc-discover",
                            "netrpc-passwd"}
    for target in scripts.values():
        module = target.split(":")[0].replace(".", "/")
        assert f"{module}.py" in names or f"{module}/__init__.py" in names, target
