"""Run libvirt-python's own test suite against a daemon instead of the in-process driver.

Runs under the system interpreter (/usr/bin/python3, which has libvirt-python)::

    /usr/bin/python3 tests/interop/upstream_python_runner.py SOCKET TESTS_DIR [PATTERN]

libvirt-python's tests (``tests/`` of its source tree) open ``test:///default`` (and
``test:///PATH.xml`` node files), which libvirt serves in the client process.  This runner
redirects ``libvirt.open``, ``openReadOnly`` and ``openAuth`` of ``test:///...`` URIs to
``test+unix:///...?socket=SOCKET``, so that every connection goes to the daemon listening
there (libvirtd or testvirtd), then runs the suite with unittest.  ``test_api_coverage.py``
is left out: it checks the bindings against libvirt's API description, not a driver.

Output: one JSON object per test (``{"test", "outcome", "detail"}``, outcome one of pass,
fail, error, skip), then ``{"summary": {outcome: count}}``.
"""

from __future__ import annotations

import json
import sys
import traceback
import unittest
from typing import Any

import libvirt

#: upstream modules that test the bindings themselves, not a driver
LEFT_OUT = ("test_api_coverage",)


def redirect(socket: str) -> None:
    """Make libvirt.open/openReadOnly/openAuth of test:/// URIs use the daemon at *socket*."""

    def target(uri: str | None) -> str | None:
        if uri is not None and uri.startswith("test:///"):
            return f"test+unix:///{uri[len('test:///'):]}?socket={socket}"
        return uri

    real_open, real_ro, real_auth = libvirt.open, libvirt.openReadOnly, libvirt.openAuth

    def open_(name: str | None = None) -> Any:
        return real_open(target(name))

    def open_ro(name: str | None = None) -> Any:
        return real_ro(target(name))

    def open_auth(uri: str, auth: list[Any], flags: int = 0) -> Any:
        return real_auth(target(uri), auth, flags)

    libvirt.open, libvirt.openReadOnly, libvirt.openAuth = open_, open_ro, open_auth


class _Result(unittest.TextTestResult):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.records: list[dict[str, str]] = []

    def _record(self, test: unittest.TestCase, outcome: str, detail: str = "") -> None:
        self.records.append({"test": test.id(), "outcome": outcome, "detail": detail})

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._record(test, "pass")

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self._record(test, "fail", "".join(traceback.format_exception_only(*err[:2])).strip())

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        self._record(test, "error", "".join(traceback.format_exception_only(*err[:2])).strip())

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._record(test, "skip", reason)


def main(argv: list[str]) -> int:
    if len(argv) not in (3, 4):
        sys.stderr.write(__doc__ or "")
        return 2
    socket, tests_dir = argv[1], argv[2]
    pattern = argv[3] if len(argv) == 4 else "test_*.py"
    redirect(socket)
    sys.path.insert(0, tests_dir)  # the suite imports its helpers (eventmock) by name
    suite = unittest.TestSuite()
    for test in unittest.defaultTestLoader.discover(tests_dir, pattern=pattern,
                                                    top_level_dir=tests_dir):
        if not any(name in str(test) for name in LEFT_OUT):
            suite.addTest(test)
    runner = unittest.TextTestRunner(stream=sys.stderr, resultclass=_Result, verbosity=0)
    result = runner.run(suite)
    assert isinstance(result, _Result)
    for record in result.records:
        sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
    summary: dict[str, int] = {}
    for record in result.records:
        summary[record["outcome"]] = summary.get(record["outcome"], 0) + 1
    sys.stdout.write(json.dumps({"summary": summary}, sort_keys=True) + "\n")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
