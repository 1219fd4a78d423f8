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


def _third_party_imports(package: str) -> dict[str, set[str]]:
    """Top-level module -> files importing it, for every non-stdlib, non-local import."""
    local = {"netrpc", "daemons", "bench", "tests"}
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def _distributions(module: str) -> set[str]:
    return {_name(d) for d in importlib.metadata.packages_distributions().get(module, [])}


@pytest.mark.parametrize("package", ["netrpc", "daemons"])
def test_every_runtime_import_is_a_declared_dependency(package: str) -> None:
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    missing = {
        module: sorted(files)
        for module, files in _third_party_imports(package).items()
        if not _distributions(module) & declared
    }
    assert missing == {}


def test_trio_is_optional_at_run_time() -> None:
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert "trio" not in declared
    assert "anyio" in declared and all(
        "[" not in r for r in PYPROJECT["project"]["dependencies"] if _name(r) == "anyio"
    )
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(_name(r) == "trio" for r in extras["trio"])
    assert "netrpc[trio]" in extras["test"]  # the suite runs every I/O test on trio too


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
