"""Run one side-by-side scenario against one libvirt server and print what happened.

Runs under the system interpreter (/usr/bin/python3, which has libvirt-python)::

    /usr/bin/python3 tests/interop/scenario_runner.py URI MODULE.FUNCTION

``MODULE`` is a module of ``tests/interop/scenarios/``; ``FUNCTION`` a scenario in it
(declared with :func:`scenario`).  The output is one JSON object a line: each step's result
or libvirt error, and the events received, in order.  :mod:`tests.interop.sidebyside` runs
the same scenario against the real libvirtd and testvirtd and compares the lines.

Writing a scenario (in ``tests/interop/scenarios/<kind>.py``)::

    from ..scenario_runner import libvirt, scenario

    @scenario
    def set_memory(s):
        dom = s.dom("test")                          # lookup by name
        s.step("setmem", dom.setMemory, 1048576)     # records the return value or the error
        s.step("info", dom.info, mask=lambda r: r[:4])   # drop what legitimately differs
        s.events("after setmem")                     # records the events received so far

Every step records ``{"step", "ok", "value"}`` or ``{"step", "error": [code, domain,
message]}``.  ``mask`` is the only normaliser: a function of the value applied before it is
recorded, for values that cannot match (wall clock, host-specific data); say why next to it.
``mask_error`` does the same for an error's message.
Events of every domain event id, network lifecycle events, storage pool lifecycle and
refresh events and node device lifecycle events are recorded (callback registrations for any
object, as libvirt-python makes them); :meth:`Session.events` waits until every event caused
by the steps so far has
arrived (a marker domain is defined and undefined, and its UNDEFINED event waited for: the
test driver and testvirtd deliver events in order; the marker's events are not recorded) and
records them.  Pending events are also
recorded when the scenario ends.
"""

from __future__ import annotations

import base64
import importlib
import json
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import libvirt
except ImportError:  # imported by pytest (the project's interpreter) only to list scenarios
    libvirt = None

__all__ = ("SCENARIOS", "Session", "jsonable", "libvirt", "over_unix", "scenario")

#: every declared scenario: "module.function" -> function
SCENARIOS: dict[str, Callable[[Session], None]] = {}

MARKER = "zz-sidebyside-marker"
MARKER_DOMAIN = f"""<domain type='test'>
  <name>{MARKER}</name>
  <uuid>0f0f0f0f-1111-2222-3333-444455556666</uuid>
  <memory>65536</memory>
  <os><type>hvm</type></os>
</domain>"""

EVENT_TIMEOUT = 20.0


def scenario(func: Callable[[Session], None]) -> Callable[[Session], None]:
    """Declare *func* a scenario, named ``<module>.<function>``."""
    module = func.__module__.rsplit(".", 1)[-1]
    SCENARIOS[f"{module}.{func.__name__}"] = func
    return func


def over_unix(func: Callable[[Session], None]) -> Callable[[Session], None]:
    """Run scenario *func* over the servers' unix sockets (it passes descriptors)."""
    func.over_unix = True  # type: ignore[attr-defined]
    return func


def jsonable(value: Any) -> Any:
    """*value* as JSON data: tuples become lists, bytes base64, libvirt objects their name."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": base64.b64encode(bytes(value)).decode()}
    if libvirt is not None:
        if isinstance(value, libvirt.virDomain):
            return {"domain": value.name()}
        if isinstance(value, libvirt.virDomainSnapshot):
            return {"snapshot": value.getName()}
        if isinstance(value, libvirt.virDomainCheckpoint):
            return {"checkpoint": value.getName()}
        if isinstance(value, libvirt.virNetwork):
            return {"network": value.name()}
        if isinstance(value, libvirt.virStoragePool):
            return {"pool": value.name()}
        if isinstance(value, libvirt.virStorageVol):
            return {"volume": value.name()}
    return {"repr": type(value).__name__}


def _event_ids() -> dict[int, str]:
    names = {}
    for name in dir(libvirt):
        if name.startswith("VIR_DOMAIN_EVENT_ID_") and name != "VIR_DOMAIN_EVENT_ID_LAST":
            names[getattr(libvirt, name)] = name.removeprefix("VIR_DOMAIN_EVENT_ID_").lower()
    return names


class Session:
    """One connection to the server under test, and the record of what happened on it."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.conn = libvirt.open(uri)
        self._lock = threading.Condition()
        self._events: list[dict[str, Any]] = []
        self._marker_seen = 0
        self._markers_sent = 0
        self._callbacks: list[int] = []
        for event_id, name in sorted(_event_ids().items()):
            cb = self._make_callback(name)
            try:
                self._callbacks.append(self.conn.domainEventRegisterAny(None, event_id, cb, None))
            except libvirt.libvirtError:
                pass  # an id this libvirt-python knows but the server refuses: not recorded
        self._other_callbacks: list[tuple[str, int]] = []
        for register, event_id, name in (
            (self.conn.nodeDeviceEventRegisterAny, "VIR_NODE_DEVICE_EVENT_ID_LIFECYCLE",
             "nodedev_lifecycle"),
            (self.conn.networkEventRegisterAny, "VIR_NETWORK_EVENT_ID_LIFECYCLE",
             "network_lifecycle"),
            (self.conn.storagePoolEventRegisterAny, "VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE",
             "pool_lifecycle"),
            (self.conn.storagePoolEventRegisterAny, "VIR_STORAGE_POOL_EVENT_ID_REFRESH",
             "pool_refresh"),
        ):
            try:
                self._other_callbacks.append((name, register(
                    None, getattr(libvirt, event_id), self._make_object_callback(name), None)))
            except libvirt.libvirtError:
                pass  # refused by the server: its events are not recorded

    # ------------------------------------------------------------------ recording

    def emit(self, record: dict[str, Any]) -> None:
        """Print one record as a JSON line."""
        sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
        sys.stdout.flush()

    def step(
        self,
        name: str,
        func: Callable[..., Any],
        *args: Any,
        mask: Callable[[Any], Any] | None = None,
        mask_error: Callable[[str], str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``func(*args, **kwargs)``; record its value (through *mask*) or its error
        (its message through *mask_error*).

        Returns the value, or None after an error.
        """
        record: dict[str, Any] = {"step": name}
        try:
            value = func(*args, **kwargs)
        except libvirt.libvirtError as exc:
            message = exc.get_error_message()
            if mask_error is not None:
                message = mask_error(message)
            record["error"] = [exc.get_error_code(), exc.get_error_domain(), message]
            self.emit(record)
            return None
        record["ok"] = True
        record["value"] = jsonable(mask(value) if mask is not None else value)
        self.emit(record)
        return value

    def note(self, name: str, value: Any) -> None:
        """Record a value computed by the scenario itself."""
        self.emit({"step": name, "note": jsonable(value)})

    def dom(self, name: str = "test") -> Any:
        """The domain called *name* (not recorded)."""
        return self.conn.lookupByName(name)

    # ------------------------------------------------------------------ events

    def _make_callback(self, name: str) -> Callable[..., None]:
        def callback(conn: Any, dom: Any, *rest: Any) -> None:
            args = rest[:-1]  # the last one is the opaque value
            with self._lock:
                if dom.name() == MARKER:
                    if name == "lifecycle" and args[0] == libvirt.VIR_DOMAIN_EVENT_UNDEFINED:
                        self._marker_seen += 1
                        self._lock.notify_all()
                    return
                self._events.append({"event": name, "dom": dom.name(), "args": jsonable(args)})
                self._lock.notify_all()

        return callback

    def _make_object_callback(self, name: str) -> Callable[..., None]:
        def callback(conn: Any, obj: Any, *rest: Any) -> None:
            with self._lock:
                self._events.append({"event": name, "object": obj.name(),
                                     "args": jsonable(rest[:-1])})
                self._lock.notify_all()

        return callback

    def events(self, name: str = "events") -> list[dict[str, Any]]:
        """Wait until every event caused so far has arrived; record and return them."""
        self.conn.defineXML(MARKER_DOMAIN).undefine()
        self._markers_sent += 1
        deadline = time.monotonic() + EVENT_TIMEOUT
        with self._lock:
            while self._marker_seen < self._markers_sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            received, self._events = self._events, []
            if self._marker_seen < self._markers_sent:
                received.append({"event": "TIMEOUT waiting for the marker event"})
        self.emit({"step": name, "events": received})
        return received

    def close(self) -> None:
        """Deregister and close the connection."""
        for cb in self._callbacks:
            try:
                self.conn.domainEventDeregisterAny(cb)
            except libvirt.libvirtError:
                pass
        deregister = {"nodedev_lifecycle": self.conn.nodeDeviceEventDeregisterAny,
                      "network_lifecycle": self.conn.networkEventDeregisterAny,
                      "pool_lifecycle": self.conn.storagePoolEventDeregisterAny,
                      "pool_refresh": self.conn.storagePoolEventDeregisterAny}
        for name, cb in self._other_callbacks:
            try:
                deregister[name](cb)
            except libvirt.libvirtError:
                pass
        self.conn.close()


def _event_loop() -> None:
    while True:
        libvirt.virEventRunDefaultImpl()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: scenario_runner.py URI MODULE.FUNCTION\n")
        return 2
    uri, name = argv[1], argv[2]
    module, _, _func = name.rpartition(".")
    importlib.import_module(f"tests.interop.scenarios.{module}")
    func = SCENARIOS.get(name)
    if func is None:
        sys.stderr.write(f"no scenario {name!r}\n")
        return 2
    libvirt.virEventRegisterDefaultImpl()
    libvirt.registerErrorHandler(lambda *a: None, None)
    threading.Thread(target=_event_loop, daemon=True).start()
    session = Session(uri)
    try:
        func(session)
    except Exception:
        session.emit({"step": "CRASH", "traceback": traceback.format_exc()})
        return 1
    session.events("final events")
    session.close()
    return 0


if __name__ == "__main__":
    # Run as the package member the scenario modules import (not as a second "__main__").
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.interop.scenario_runner import main as package_main

    sys.exit(package_main(sys.argv))
