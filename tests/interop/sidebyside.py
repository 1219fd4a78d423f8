"""Side by side: the same scenario or virsh command against the real libvirtd and testvirtd.

The ``sidebyside`` fixture (tests/interop/conftest.py) gives a :class:`SideBySide` with both
servers in their fresh state (test:///default as just opened) for the whole test:
testvirtd is reset through its admin socket, and a connection to libvirtd is held open so
its test driver keeps its state between the test's client runs (libvirtd discards it when
the last connection closes).  Within a test, state changes accumulate on both servers
alike.

* :meth:`SideBySide.scenario` runs a scenario of ``tests/interop/scenarios/`` (see
  ``scenario_runner.py`` for how to write one) once against each server, each in one
  /usr/bin/python3 process, and asserts that the recorded lines are equal.
* :meth:`SideBySide.virsh` runs one virsh command against each and asserts the same exit
  status, output and error output.
* :meth:`SideBySide.virsh_with_events` runs a virsh event watcher (``net-event``,
  ``pool-event`` ...) while virsh commands run, against each, and compares both.

Adding a scenario: write a ``@scenario`` function in ``tests/interop/scenarios/<kind>.py``;
``scenario_names("<kind>")`` lists it, so a test parametrised over that list picks it up.

Normalisers (the only differences tolerated, each applied to both sides):

* :func:`normalise_endpoints`: the servers' TCP port and socket paths in virsh output;
* in scenarios, a step's own ``mask`` (wall-clock values and the like, documented there).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import anyio

from netrpc.admin.faults import FaultControl
from netrpc.io.client import Client

from . import peers
from .peers import Endpoints, Holder, RealLibvirtd

__all__ = (
    "SideBySide",
    "normalise_endpoints",
    "reset_testvirtd",
    "run_scenario",
    "scenario_names",
)

RUNNER = peers.HERE / "scenario_runner.py"
SCENARIO_TIMEOUT = 120.0


def scenario_names(module: str) -> list[str]:
    """The scenarios declared in ``tests/interop/scenarios/<module>.py``, in order."""
    from . import scenario_runner

    importlib.import_module(f"tests.interop.scenarios.{module}")
    return [name for name in scenario_runner.SCENARIOS if name.split(".")[0] == module]


def run_scenario(uri: str, name: str) -> list[dict[str, Any]]:
    """Run scenario *name* against *uri*; its records (raises if the runner failed)."""
    proc = subprocess.run(
        [peers.find_system_python(), str(RUNNER), uri, name],
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT,
        env=peers.client_env(),
        stdin=subprocess.DEVNULL,
    )
    records = peers.json_lines(proc.stdout)
    if proc.returncode != 0:
        raise AssertionError(f"scenario {name} failed against {uri}:\n{peers.describe(proc)}")
    return records


def normalise_endpoints(text: str, server: Endpoints) -> str:
    """Replace *server*'s TCP port and socket paths by placeholders."""
    if server.tcp_port is not None:
        text = re.sub(rf"\b{server.tcp_port}\b", "<port>", text)
    for path in (server.unix_path, server.ro_path, server.admin_path):
        if path:
            text = text.replace(path, "<sock>")
    return text


def reset_testvirtd(admin_path: str) -> None:
    """Give testvirtd fresh state through its admin socket (drops its connections)."""

    async def reset() -> None:
        async with Client.unix(admin_path) as client:
            await FaultControl(client).reset()

    anyio.run(reset)


def _diff(expected: Sequence[str], actual: Sequence[str]) -> str:
    return "\n".join(difflib.unified_diff(list(expected), list(actual), "libvirtd", "testvirtd",
                                          lineterm=""))


class SideBySide:
    """The real libvirtd and testvirtd, both fresh; run the same thing against both."""

    def __init__(self, real: RealLibvirtd, tvd: Endpoints) -> None:
        self.real = real
        self.tvd = tvd

    def scenario(self, name: str) -> list[dict[str, Any]]:
        """Run scenario *name* against both servers (over TCP, or their unix sockets for a
        scenario declared with ``over_unix``); assert equal records; return them."""
        from . import scenario_runner

        importlib.import_module(f"tests.interop.scenarios.{name.split('.')[0]}")
        unix = getattr(scenario_runner.SCENARIOS[name], "over_unix", False)
        expected = run_scenario(self.real.uri_unix if unix else self.real.uri_tcp, name)
        actual = run_scenario(self.tvd.uri_unix if unix else self.tvd.uri_tcp, name)
        want = [json.dumps(r, sort_keys=True) for r in expected]
        got = [json.dumps(r, sort_keys=True) for r in actual]
        assert got == want, f"scenario {name} differs:\n{_diff(want, got)}"
        return expected

    def virsh(
        self,
        *args: str,
        normalise: Callable[[str], str] | None = None,
        readonly: bool = False,
    ) -> tuple[int, str, str]:
        """Run ``virsh ARGS`` against both; assert the same (status, stdout, stderr).

        *normalise* is applied to both outputs after :func:`normalise_endpoints` (give it
        for values that legitimately differ, and say why at the call).
        """
        results = []
        for server in (self.real, self.tvd):
            uri = server.uri_ro if readonly else server.uri_tcp
            proc = peers.run_virsh(uri, *args)
            out = normalise_endpoints(proc.stdout, server)
            err = normalise_endpoints(proc.stderr, server)
            if normalise is not None:
                out, err = normalise(out), normalise(err)
            results.append((proc.returncode, out, err))
        want, got = results
        if got != want:
            lines_want = [f"exit {want[0]}", *want[1].splitlines(), "--- stderr",
                          *want[2].splitlines()]
            lines_got = [f"exit {got[0]}", *got[1].splitlines(), "--- stderr",
                         *got[2].splitlines()]
            raise AssertionError(f"virsh {' '.join(args)} differs:\n"
                                 f"{_diff(lines_want, lines_got)}")
        return want

    def virsh_with_events(
        self,
        watcher: Sequence[str],
        actions: Sequence[Sequence[str]],
        settle: float = 2.0,
    ) -> list[str]:
        """Run the virsh event command *watcher* (it must end by itself: give it
        ``--timeout``) while the virsh commands *actions* run one after the other, against
        each server; assert the same watcher output and the same action results.

        The actions start *settle* seconds after the watcher, once it has registered.
        Returns the watcher's output lines.
        """
        results = []
        for server in (self.real, self.tvd):
            argv = [peers.find_virsh(), "-c", server.uri_tcp, *watcher]
            with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=peers.client_env(),
                                  stdin=subprocess.DEVNULL) as proc:
                time.sleep(settle)
                done = []
                for args in actions:
                    run = peers.run_virsh(server.uri_tcp, *args)
                    done.append((args, run.returncode, normalise_endpoints(run.stdout, server),
                                 normalise_endpoints(run.stderr, server)))
                out, err = proc.communicate(timeout=SCENARIO_TIMEOUT)
            results.append((done, proc.returncode, out.splitlines(), err))
        want, got = results
        for (args, *theirs), (_args, *ours) in zip(want[0], got[0], strict=True):
            assert ours == theirs, f"virsh {' '.join(args)} differs: {theirs} != {ours}"
        assert got[1:] == want[1:], (
            f"virsh {' '.join(watcher)} differs:\n{_diff(want[2], got[2])}\n"
            f"stderr: {want[3]!r} / {got[3]!r}")
        return list(want[2])


@contextlib.contextmanager
def side_by_side(real: RealLibvirtd, tvd: Endpoints) -> Iterator[SideBySide]:
    """Both servers fresh for the duration of the block (see the module docstring)."""
    assert tvd.admin_path is not None
    reset_testvirtd(tvd.admin_path)
    holder = Holder(real.uri_tcp)
    try:
        yield SideBySide(real, tvd)
    finally:
        holder.close()
