"""Side by side on the wire: REMOTE calls with chosen arguments, as no libvirt client sends them.

libvirt's client library checks many arguments itself before anything is sent, so what
libvirtd's dispatcher and the API entry points check on the daemon side (too many cells,
negative counts, unknown event ids ...) is only reached by raw calls.  :func:`answers` makes
each call on a fresh connection that opened ``test:///default`` over a unix socket and
returns what came back: the decoded result, or the error's fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio

from daemons.testvirtd import protocol as P
from netrpc import Client, RPCError
from netrpc.core import xdrlang

__all__ = ("RawCall", "answers", "compare")

#: (procedure name without REMOTE_PROC_, positional argument values)
RawCall = tuple[str, tuple[Any, ...]]


def _encode(name: str, values: tuple[Any, ...]) -> bytes:
    decl = P.PROCS[name]
    if decl.args is None:
        return b""
    cls = type(xdrlang.default_value(decl.args))
    return decl.args.encode(cls(*values))


async def _answer(path: str, name: str, values: tuple[Any, ...]) -> Any:
    decl = P.PROCS[name]
    open_decl = P.PROCS["CONNECT_OPEN"]
    assert open_decl.args is not None
    async with Client.unix(path) as client:
        await client.call(P.REMOTE_PROGRAM, 1, open_decl.number,
                          open_decl.args.encode(P.ConnectOpenArgs("test:///default", 0)))
        try:
            reply = await client.call(P.REMOTE_PROGRAM, 1, decl.number, _encode(name, values))
        except RPCError as exc:
            return {"error": [exc.code, exc.domain, exc.message, exc.str1, exc.str2, exc.str3,
                              exc.int1, exc.int2, exc.level]}
        return repr(decl.ret.decode(reply)) if decl.ret is not None else None


def answers(path: str, calls: Sequence[RawCall]) -> list[Any]:
    """What the daemon listening on the unix socket *path* answers to each call."""

    async def run() -> list[Any]:
        return [await _answer(path, name, values) for name, values in calls]

    return anyio.run(run)


def compare(real_path: str, tvd_path: str, calls: Sequence[RawCall]) -> list[str]:
    """The calls whose answers differ between the two daemons, described (empty: none)."""
    theirs = answers(real_path, calls)
    ours = answers(tvd_path, calls)
    return [f"{name}{values}:\n  libvirtd  {a}\n  testvirtd {b}"
            for (name, values), a, b in zip(calls, theirs, ours, strict=True) if a != b]
