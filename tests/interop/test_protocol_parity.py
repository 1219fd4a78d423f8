"""Side by side: every REMOTE, QEMU and LXC procedure against libvirtd and testvirtd.

bench/probe_libvirtd.py calls every procedure with default arguments (and, where libvirt's
entry point refuses those, with arguments that pass its checks) over the read-write and the
read-only socket of both daemons.  For the procedures testvirtd does not implement, every
answer libvirtd gives before its test driver's own code runs (the read-only refusal, an
argument check, "this function is not supported by the connection driver") must be the same,
field by field.  The other differences are the parity work still to do: they are reported,
not failed (run with ``-s`` to read them).
"""

from __future__ import annotations

import subprocess
from typing import Any

import anyio
import pytest

from bench.probe_libvirtd import probe
from daemons.testvirtd.lxc import LxcProgram
from daemons.testvirtd.qemu import QemuProgram
from daemons.testvirtd.remote import RemoteProgram
from daemons.testvirtd.unsupported import driver_implements, is_api_answer

from ._testvirtd import running
from .peers import RealLibvirtd

pytestmark = [pytest.mark.interop, pytest.mark.libvirtd]

PROGRAMS = {"REMOTE": RemoteProgram, "QEMU": QemuProgram, "LXC": LxcProgram}
KEYS = ("rw", "ro", "rw_filled", "ro_filled")


def _handled(program: str, number: int) -> bool:
    proc = PROGRAMS[program].procedures[number]
    return not hasattr(proc.handler, "_netrpc_unhandled")


def _must_match(entry: dict[str, Any], answer: dict[str, Any]) -> bool:
    error = answer.get("error")
    if error is not None and is_api_answer(error, entry.get("api")):
        return True
    return not driver_implements(entry) and entry.get("api") is not None


def test_unhandled_procedures_answer_as_libvirtd(real_libvirtd: RealLibvirtd) -> None:
    with running() as tvd:
        theirs = anyio.run(probe, real_libvirtd.unix_path, real_libvirtd.ro_path)
        ours = anyio.run(probe, tvd.unix_path, tvd.ro_path, PROGRAMS, theirs)
    wrong: list[str] = []
    report: dict[str, list[str]] = {"implemented, answers differ": [],
                                     "not implemented, the test driver has it": []}
    compared = 0
    for program, table in theirs.items():
        for number, entry in table.items():
            mine = ours[program][number]
            handled = _handled(program, int(number))
            for key in KEYS:
                if key not in entry:
                    continue
                a, b = entry[key], mine.get(key)
                line = f"{program} {number} {entry['name']} [{key}]: libvirtd {a} testvirtd {b}"
                if not handled and _must_match(entry, a):
                    compared += 1
                    if a != b:
                        wrong.append(line)
                elif a != b:
                    kind = ("implemented, answers differ" if handled
                            else "not implemented, the test driver has it")
                    report[kind].append(line)
    for kind, lines in report.items():
        print(f"\n{kind}: {len(lines)}")
        for line in lines:
            print("  " + line)
    # Far fewer than all: handled procedures leave the comparison as they are implemented;
    # the bar only catches a probe that compared next to nothing.
    assert compared > 200
    assert wrong == []


@pytest.mark.parametrize(
    "command",
    [
        ["lxc-enter-namespace", "test", "--noseclabel", "/bin/true"],
        ["qemu-attach", "1234"],
    ],
)
def test_virsh_commands_of_unsupported_programs(
    real_libvirtd: RealLibvirtd, virsh: str, command: list[str]
) -> None:
    with running() as tvd:
        outputs = []
        for daemon in (real_libvirtd, tvd):
            for uri in (daemon.uri_unix, daemon.uri_ro):
                proc = subprocess.run([virsh, "-c", uri, *command], capture_output=True,
                                      text=True, timeout=60, check=False)
                outputs.append((proc.returncode, proc.stdout, proc.stderr.strip()))
    theirs, ours = outputs[:2], outputs[2:]
    assert theirs == ours
    assert "Cannot find program" not in theirs[0][2] and theirs[0][0] != 0
