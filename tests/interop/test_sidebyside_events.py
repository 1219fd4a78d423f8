"""Domain event registrations on the wire, side by side: the legacy DOMAIN_EVENT_REGISTER /
DEREGISTER and DOMAIN_EVENT_REGISTER_ANY / DEREGISTER_ANY beside the callback ones, as raw
clients make them (libvirt's client library picks one way per connection and multiplexes).

What libvirtd does and testvirtd must match: one registration per connection, event id and
object whichever way it is made ("event callback already tracked"), legacy deregistrations
that remove the oldest registration of the event id whichever way it was made, legacy event
ids up to DEVICE_REMOVED only, and each registration's events in its own message form.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from daemons.testvirtd import protocol as P
from netrpc import Client, RPCError
from netrpc.core import xdrlang

from .sidebyside import SideBySide

pytestmark = pytest.mark.interop

_TEST = P.NonnullDomain("test", bytes.fromhex("6695eb01f6a4830479aa97f2502e193f"), 1)

#: a step: (procedure name without REMOTE_PROC_, argument values); "rw NAME" is called on
#: a read-write helper connection; "events" records the events received so far
STEPS: dict[str, list[tuple[str, tuple[Any, ...]]]] = {
    "register twice, deregister three times": [
        ("CONNECT_DOMAIN_EVENT_REGISTER", ()), ("DOMAIN_SUSPEND", (_TEST,)),
        ("CONNECT_DOMAIN_EVENT_REGISTER", ()), ("DOMAIN_RESUME", (_TEST,)), ("events", ()),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER", ()), ("DOMAIN_SUSPEND", (_TEST,)),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER", ()), ("DOMAIN_RESUME", (_TEST,)),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER", ()), ("events", ()),
    ],
    "legacy any then legacy": [
        ("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (0,)), ("CONNECT_DOMAIN_EVENT_REGISTER", ()),
        ("DOMAIN_SUSPEND", (_TEST,)), ("events", ()),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER", ()), ("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY", (0,)),
        ("DOMAIN_RESUME", (_TEST,)), ("events", ()),
    ],
    "callback then legacy deregister": [
        ("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", (0, None)),
        ("CONNECT_DOMAIN_EVENT_REGISTER", ()), ("DOMAIN_SUSPEND", (_TEST,)), ("events", ()),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER", ()), ("DOMAIN_RESUME", (_TEST,)), ("events", ()),
        ("CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY", (0,)),
    ],
    "legacy event ids": [
        ("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (15,)), ("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (16,)),
        ("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (-1,)), ("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (27,)),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY", (16,)),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY", (15,)),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY", (15,)),
    ],
    "one per event and object": [
        ("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", (0, None)),
        ("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", (0, None)),
        ("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", (0, _TEST)),
        ("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (0,)), ("CONNECT_DOMAIN_EVENT_REGISTER", ()),
        ("DOMAIN_SUSPEND", (_TEST,)), ("DOMAIN_RESUME", (_TEST,)), ("events", ()),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY", (0,)), ("DOMAIN_SUSPEND", (_TEST,)),
        ("events", ()), ("CONNECT_DOMAIN_EVENT_DEREGISTER", ()), ("DOMAIN_RESUME", (_TEST,)),
        ("events", ()), ("CONNECT_DOMAIN_EVENT_DEREGISTER", ()),
    ],
    "legacy reboot registration": [  # the test driver's reboot sends no event
        ("CONNECT_DOMAIN_EVENT_REGISTER", ()), ("CONNECT_DOMAIN_EVENT_REGISTER_ANY", (1,)),
        ("DOMAIN_REBOOT", (_TEST, 0)), ("DOMAIN_SUSPEND", (_TEST,)),
        ("DOMAIN_RESUME", (_TEST,)), ("events", ()),
        ("CONNECT_DOMAIN_EVENT_DEREGISTER_ANY", (1,)), ("CONNECT_DOMAIN_EVENT_DEREGISTER", ()),
    ],
}

#: the event this test synchronises on: METADATA_CHANGE of "test", through a registration
#: no legacy deregistration touches
_SYNC_EVENT = 23


def _payload(name: str, values: tuple[Any, ...]) -> bytes:
    decl = P.PROCS[name]
    if decl.args is None:
        return b""
    return decl.args.encode(type(xdrlang.default_value(decl.args))(*values))


def _decoder(name: str) -> Any:
    decl = P.PROCS[name]
    assert decl.args is not None
    return decl.args


async def _run(path: str, rw_path: str, steps: list[tuple[str, tuple[Any, ...]]]
               ) -> list[Any]:
    """Run *steps* on a connection to *path*; *rw_path* serves the synchronising change."""
    got: list[Any] = []
    record: list[Any] = []
    synced = anyio.Event()

    def on(name: str) -> Any:
        def handler(_header: Any, payload: bytes) -> None:
            msg = _decoder(name).decode(payload)
            if name == "DOMAIN_EVENT_CALLBACK_METADATA_CHANGE":
                synced.set()
                return
            got.append([name, repr(msg)])
        return handler

    async with Client.unix(path) as client:
        for name in ("DOMAIN_EVENT_LIFECYCLE", "DOMAIN_EVENT_CALLBACK_LIFECYCLE",
                     "DOMAIN_EVENT_REBOOT", "DOMAIN_EVENT_CALLBACK_REBOOT",
                     "DOMAIN_EVENT_CALLBACK_METADATA_CHANGE"):
            client.on_event(P.REMOTE_PROGRAM, P.PROCS[name].number, on(name))

        async def call(name: str, *values: Any) -> Any:
            decl = P.PROCS[name]
            try:
                reply = await client.call(P.REMOTE_PROGRAM, 1, decl.number,
                                          _payload(name, values))
            except RPCError as exc:
                return ["error", exc.code, exc.domain, exc.message]
            return repr(decl.ret.decode(reply)) if decl.ret is not None else None

        await call("CONNECT_OPEN", "test:///default", 0)
        sync_id = await call("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY", _SYNC_EVENT, _TEST)
        record.append(["sync registration", sync_id])
        for name, values in steps:
            if name == "events":
                # everything caused so far arrived once the metadata change did
                synced = anyio.Event()
                async with Client.unix(rw_path) as writer:
                    await writer.call(P.REMOTE_PROGRAM, 1, P.PROCS["CONNECT_OPEN"].number,
                                      _payload("CONNECT_OPEN", ("test:///default", 0)))
                    await writer.call(P.REMOTE_PROGRAM, 1, P.PROCS["DOMAIN_SET_METADATA"].number,
                                      _payload("DOMAIN_SET_METADATA",
                                               (_TEST, 0, "sync", None, None, 0)))
                with anyio.fail_after(20):
                    await synced.wait()
                record.append(["events", list(got)])
                got.clear()
            elif name.startswith("rw "):
                async with Client.unix(rw_path) as writer:
                    await writer.call(P.REMOTE_PROGRAM, 1, P.PROCS["CONNECT_OPEN"].number,
                                      _payload("CONNECT_OPEN", ("test:///default", 0)))
                    await writer.call(P.REMOTE_PROGRAM, 1, P.PROCS[name[3:]].number,
                                      _payload(name[3:], values))
            else:
                record.append([name, values, await call(name, *values)])
    return record


def _both(sidebyside: SideBySide, steps: list[tuple[str, tuple[Any, ...]]],
          readonly: bool = False) -> tuple[list[Any], list[Any]]:
    real, tvd = sidebyside.real, sidebyside.tvd
    assert real.unix_path and real.ro_path and tvd.unix_path and tvd.ro_path
    theirs = anyio.run(_run, real.ro_path if readonly else real.unix_path, real.unix_path,
                       steps)
    ours = anyio.run(_run, tvd.ro_path if readonly else tvd.unix_path, tvd.unix_path, steps)
    return theirs, ours


@pytest.mark.parametrize("name", list(STEPS))
def test_event_registrations(sidebyside: SideBySide, name: str) -> None:
    theirs, ours = _both(sidebyside, STEPS[name])
    assert [repr(r) for r in ours] == [repr(r) for r in theirs]
    if any(step == "events" for step, _ in STEPS[name]):
        assert any(r[0] == "events" and r[1] for r in theirs), "no event: this proves nothing"


def test_legacy_registration_read_only(sidebyside: SideBySide) -> None:
    """Read-only connections may register (the events are no secret)."""
    steps = [("CONNECT_DOMAIN_EVENT_REGISTER", ()), ("rw DOMAIN_SUSPEND", (_TEST,)),
             ("rw DOMAIN_RESUME", (_TEST,)), ("events", ()),
             ("CONNECT_DOMAIN_EVENT_DEREGISTER", ()), ("CONNECT_DOMAIN_EVENT_DEREGISTER", ())]
    theirs, ours = _both(sidebyside, steps, readonly=True)
    assert [repr(r) for r in ours] == [repr(r) for r in theirs]
    assert theirs[2][0] == "events" and theirs[2][1], "no event: this proves nothing"

