#!/usr/bin/env python3
"""Ask a daemon what it answers to every procedure of libvirt 9.0's REMOTE, QEMU and LXC programs.

For each procedure (events aside: the daemon sends those, clients never call them), on a
fresh connection that opened ``test:///default``, the probe sends one well-formed call whose
arguments are the declared types' default values: zeros, empty strings and arrays, absent
optional data, a domain (network, pool ...) with an empty name and an all-zero UUID, which
no test driver object has.  It records the daemon's answer: success, or the error's code,
domain, level, message, str1..str3 and int1..int2.  It does so once over the read-write
socket and once over the read-only one.  CONNECT_OPEN and CONNECT_CLOSE are not probed (every
probe opens and closes its connection with them).

    # the real libvirtd (started privately with only the test driver), written as the data
    # testvirtd replays for the procedures it does not implement:
    python3 bench/probe_libvirtd.py --write
    # any running daemon:
    python3 bench/probe_libvirtd.py --rw /path/libvirt-sock --ro /path/libvirt-sock-ro > out.json

:func:`probe` is what tests/interop/test_protocol_parity.py runs against libvirtd and
testvirtd side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import anyio

from daemons.testvirtd import protocol
from daemons.testvirtd.unsupported import ANSWERS_PATH
from netrpc import Client, ErrorCode, RPCError
from netrpc.core import xdr, xdrlang
from netrpc.core.program import Declaration

__all__ = (
    "PROBED_PROGRAMS",
    "default_payload",
    "filled_payload",
    "filled_value",
    "needs_filled_probe",
    "probe",
    "probe_call",
    "wants_descriptor",
)

#: (name in the data, program number, declarations)
PROBED_PROGRAMS = (
    ("REMOTE", protocol.REMOTE_PROGRAM, protocol.PROCS),
    ("QEMU", protocol.QEMU_PROGRAM, protocol.QEMU_PROCS),
    ("LXC", protocol.LXC_PROGRAM, protocol.LXC_PROCS),
)
_SKIPPED = frozenset({("REMOTE", "CONNECT_OPEN"), ("REMOTE", "CONNECT_CLOSE")})
_OPEN = protocol.PROCS["CONNECT_OPEN"]
_CALL_TIMEOUT = 10.0


def default_payload(decl: Declaration) -> bytes:
    """The encoded default arguments of *decl* (empty for none)."""
    if decl.args is None:
        return b""
    return decl.args.encode(xdrlang.default_value(decl.args))


def filled_value(codec: xdr.XdrType[Any], field: str = "") -> Any:
    """A value of *codec* with nothing empty or zero where libvirt's API entry points check
    (non-zero numbers, non-empty strings, arrays of one element, present optional data),
    but flags left at 0: what gets a call past the argument checks to the driver."""
    if isinstance(codec, xdrlang.LazyType):
        codec = codec.real
    if field == "flags":
        return 0
    if isinstance(codec, xdr.Struct):
        return codec.cls(*(filled_value(t, name) for name, t in codec.fields))
    if isinstance(codec, xdr.String):
        return "probe"[: codec.max_length]
    if isinstance(codec, xdr.Opaque):
        return b"p"
    if isinstance(codec, xdr.FixedOpaque):
        return b"\x01" * codec.length
    if isinstance(codec, xdr.Array):
        return [filled_value(codec.element)]
    if isinstance(codec, xdr.FixedArray):
        return [filled_value(codec.element) for _ in range(codec.length)]
    if isinstance(codec, xdr.Optional):
        return filled_value(codec.element, field)
    if isinstance(codec, xdr.Union):
        tag = min(codec.arms)
        return xdr.UnionValue(tag, filled_value(codec.arms[tag]))
    if codec is xdr.BOOL:
        return True
    if codec is xdr.FLOAT or codec is xdr.DOUBLE:
        return 1.0
    return xdrlang.default_value(codec) or 1


def filled_payload(decl: Declaration) -> bytes:
    """The encoded :func:`filled_value` arguments of *decl*."""
    if decl.args is None:
        return b""
    return decl.args.encode(filled_value(decl.args))


def needs_filled_probe(answer: dict[str, Any]) -> bool:
    """True when an answer is an argument check (VIR_ERR_INVALID_ARG) made before the
    driver is asked, or the dispatcher's complaint that no descriptor came with the call:
    the probe then also calls with :func:`filled_value` arguments (and a descriptor, see
    :func:`wants_descriptor`)."""
    return answer.get("error", {}).get("code") == ErrorCode.INVALID_ARG or wants_descriptor(answer)


def wants_descriptor(answer: dict[str, Any]) -> bool:
    """True when *answer* refused a call for the descriptor it lacked ("No FD available at
    slot 0" from the dispatcher, "nfds in virXxx must not be zero" from the API)."""
    message = answer.get("error", {}).get("message") or ""
    return "No FD available at slot" in message or message.startswith("nfds in ")


def _error_fields(exc: RPCError) -> dict[str, Any]:
    return {
        "code": exc.code,
        "domain": exc.domain,
        "level": exc.level,
        "message": exc.message,
        "str1": exc.str1,
        "str2": exc.str2,
        "str3": exc.str3,
        "int1": exc.int1,
        "int2": exc.int2,
    }


async def probe_call(
    path: str, program: int, decl: Declaration, payload: bytes | None = None, *,
    descriptor: bool = False,
) -> dict[str, Any]:
    """Open ``test:///default`` over the unix socket *path*, call *decl* with *payload*
    (default arguments if None) and, with *descriptor*, one end of a socket pair, and
    return the answer: ``{"ok": true}`` or ``{"error": {...}}``."""
    if payload is None:
        payload = default_payload(decl)
    pair = socket.socketpair() if descriptor else ()
    try:
        return await _probe_call(path, program, decl, payload,
                                 tuple(end.fileno() for end in pair[:1]))
    finally:
        for end in pair:
            end.close()


async def _probe_call(
    path: str, program: int, decl: Declaration, payload: bytes, fds: tuple[int, ...]
) -> dict[str, Any]:
    async with Client.unix(path) as client:
        open_args = _OPEN.args
        assert open_args is not None
        cls = type(xdrlang.default_value(open_args))
        await client.call(protocol.REMOTE_PROGRAM, 1, _OPEN.number,
                          open_args.encode(cls("test:///default", 0)))
        try:
            with anyio.fail_after(_CALL_TIMEOUT):
                await client.call(program, 1, decl.number, payload, fds=fds)
        except RPCError as exc:
            return {"error": _error_fields(exc)}
        except TimeoutError:
            return {"timeout": _CALL_TIMEOUT}
        return {"ok": True}


async def probe(
    rw_path: str,
    ro_path: str,
    programs: Iterable[str] = ("REMOTE", "QEMU", "LXC"),
    like: dict[str, dict[str, dict[str, Any]]] | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every procedure's answers over the read-write and read-only sockets.

    Returns ``{program: {number: {"name": ..., "api": ..., "rw": answer, "ro": answer}}}``
    with numbers as strings (JSON keys); where an answer is an argument check
    (:func:`needs_filled_probe`), ``"rw_filled"`` and ``"ro_filled"`` hold the answers to
    :func:`filled_value` arguments.  With *like* (another daemon's answers), the filled
    calls are made exactly where *like* has them, so that the two can be compared.
    """
    wanted = set(programs)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, number, procs in PROBED_PROGRAMS:
        if name not in wanted:
            continue
        table: dict[str, dict[str, Any]] = {}
        for decl in sorted(procs.values(), key=lambda d: d.number):
            if decl.event or (name, decl.name) in _SKIPPED:
                continue
            entry: dict[str, Any] = {
                "name": decl.name,
                "api": decl.api,
                "rw": await probe_call(rw_path, number, decl),
                "ro": await probe_call(ro_path, number, decl),
            }
            base = entry if like is None else like.get(name, {}).get(str(decl.number), {})
            if like is not None:
                filled = "rw_filled" in base
            else:
                filled = needs_filled_probe(entry["rw"]) or needs_filled_probe(entry["ro"])
            if filled:
                payload = filled_payload(decl)
                fd = any(wants_descriptor(base.get(key, {})) for key in ("rw", "ro"))
                entry["rw_filled"] = await probe_call(rw_path, number, decl, payload,
                                                      descriptor=fd)
                entry["ro_filled"] = await probe_call(ro_path, number, decl, payload,
                                                      descriptor=fd)
            table[str(decl.number)] = entry
        out[name] = table
    return out


def _libvirtd_version() -> str:
    try:
        out = subprocess.run(["libvirtd", "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    except OSError:
        return "unknown"
    return out or "unknown"


def _probe_real_libvirtd() -> dict[str, Any]:
    from tests.interop.peers import RealLibvirtd, short_workdir

    with tempfile.TemporaryDirectory(prefix="probe-") as tmp:
        daemon = RealLibvirtd(short_workdir(Path(tmp)))
        daemon.start()
        try:
            answers = anyio.run(probe, daemon.unix_path, daemon.ro_path)
        finally:
            daemon.stop()
        # relative paths are resolved against the daemon's working directory
        answers = json.loads(json.dumps(answers).replace(str(daemon.workdir), "$WORKDIR"))
    return {
        "about": (
            "libvirtd's answers, with only its test driver, to every procedure of the REMOTE, "
            "QEMU and LXC programs called on test:///default with default arguments (zeros, "
            "empty strings and arrays, absent optional data, objects with an empty name and "
            "an all-zero UUID), over the read-write (rw) and read-only (ro) sockets. "
            "Made by: python3 bench/probe_libvirtd.py --write"
        ),
        "libvirtd": _libvirtd_version(),
        "programs": answers,
    }


def dumps(doc: dict[str, Any]) -> str:
    """*doc* as JSON with one line per procedure (small, and diffs read well)."""
    lines = ["{"]
    for key in sorted(k for k in doc if k != "programs"):
        lines.append(f" {json.dumps(key)}: {json.dumps(doc[key])},")
    lines.append(' "programs": {')
    programs = doc.get("programs", {})
    for i, (name, table) in enumerate(sorted(programs.items())):
        lines.append(f"  {json.dumps(name)}: {{")
        entries = sorted(table.items(), key=lambda item: int(item[0]))
        for j, (number, entry) in enumerate(entries):
            comma = "," if j < len(entries) - 1 else ""
            lines.append(f"   {json.dumps(number)}: {json.dumps(entry, sort_keys=True)}{comma}")
        lines.append("  }" + ("," if i < len(programs) - 1 else ""))
    lines.append(" }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rw", help="read-write unix socket of a running daemon")
    parser.add_argument("--ro", help="read-only unix socket of a running daemon")
    parser.add_argument("--write", action="store_true",
                        help=f"probe a private real libvirtd and write {ANSWERS_PATH.name}")
    args = parser.parse_args(argv)
    if args.rw or args.ro:
        if not (args.rw and args.ro):
            parser.error("--rw and --ro go together")
        doc: dict[str, Any] = {"programs": anyio.run(probe, args.rw, args.ro)}
    else:
        doc = _probe_real_libvirtd()
    text = dumps(doc)
    if args.write:
        ANSWERS_PATH.write_text(text)
        print(f"wrote {ANSWERS_PATH}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
