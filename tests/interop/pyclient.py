"""libvirt-python peer: exercise a libvirt server and print one JSON object per step.

Runs under the system interpreter (/usr/bin/python3), which has python3-libvirt:

    /usr/bin/python3 tests/interop/pyclient.py URI [--dom test] [--no-cycle] [--event-timeout 5]

Exit status: 0 when every step behaved as expected, 1 otherwise, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import libvirt

EVENT_NAMES = {
    0: "defined",
    1: "undefined",
    2: "started",
    3: "suspended",
    4: "resumed",
    5: "stopped",
    6: "shutdown",
    7: "pmsuspended",
    8: "crashed",
}

STATE_NAMES = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutdown",
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}


class Runner:
    def __init__(self) -> None:
        self.failed = False
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.event_cond = threading.Condition(self.lock)

    def emit(self, record: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(record, sort_keys=True) + "\n")
        sys.stdout.flush()

    def step(
        self, step_name: str, func: Any, /, *args: Any, expect_error: bool = False, **fields: Any
    ) -> Any:
        """Run func(*args); record its result (a dict of fields) or its libvirt error."""
        record: dict[str, Any] = {"step": step_name}
        try:
            result = func(*args)
        except libvirt.libvirtError as exc:
            record.update(
                ok=expect_error,
                error=exc.get_error_message(),
                code=exc.get_error_code(),
                domain=exc.get_error_domain(),
            )
            record.update(fields)
            if not expect_error:
                self.failed = True
            self.emit(record)
            return None
        record["ok"] = not expect_error
        if expect_error:
            record["error"] = "expected an error, got none"
            self.failed = True
        if isinstance(result, dict):
            record.update(result)
        elif isinstance(result, (int, str)):
            record["result"] = result
        record.update(fields)
        self.emit(record)
        return result if result is not None else {}

    def on_lifecycle(self, conn: Any, dom: Any, event: int, detail: int, opaque: Any) -> None:
        record = {
            "dom": dom.name(),
            "event": event,
            "event_name": EVENT_NAMES.get(event, str(event)),
            "detail": detail,
            "t": round(time.monotonic(), 3),
        }
        with self.event_cond:
            self.events.append(record)
            self.event_cond.notify_all()

    def wait_events(self, names: list[str], timeout: float) -> list[str]:
        """Wait until the received event names contain ``names`` as a subsequence."""
        deadline = time.monotonic() + timeout
        with self.event_cond:
            while True:
                got = [e["event_name"] for e in self.events]
                it = iter(got)
                if all(n in it for n in names):
                    return got
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return got
                self.event_cond.wait(remaining)


def run_event_loop(stop: threading.Event) -> None:
    while not stop.is_set():
        libvirt.virEventRunDefaultImpl()


def dom_fields(dom: Any) -> dict[str, Any]:
    return {"name": dom.name(), "id": dom.ID(), "uuid": dom.UUIDString()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("uri")
    ap.add_argument("--dom", default="test")
    ap.add_argument("--missing", default="no-such-domain")
    ap.add_argument("--no-cycle", action="store_true", help="skip destroy/create")
    ap.add_argument("--no-events", action="store_true", help="skip event registration")
    ap.add_argument("--event-timeout", type=float, default=5.0)
    args = ap.parse_args()

    r = Runner()
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    libvirt.virEventRegisterDefaultImpl()
    stop = threading.Event()
    loop = threading.Thread(target=run_event_loop, args=(stop,), daemon=True)
    loop.start()

    conn = r.step("open", lambda: libvirt.open(args.uri), uri=args.uri)
    if conn is None:
        r.emit({"step": "summary", "ok": False, "events": []})
        return 1

    r.step("lib_version", lambda: {"version": conn.getLibVersion()})
    r.step("version", lambda: {"version": conn.getVersion()})
    r.step("hostname", lambda: {"hostname": conn.getHostname()})
    r.step("uri", lambda: {"value": conn.getURI()})
    r.step(
        "list_all_domains",
        lambda: {
            "domains": [
                dict(dom_fields(d), state=STATE_NAMES.get(d.state()[0]))
                for d in conn.listAllDomains(0)
            ]
        },
    )

    dom = r.step("lookup_by_name", lambda: conn.lookupByName(args.dom))
    if dom:
        r.emit(dict({"step": "domain", "ok": True}, **dom_fields(dom)))
        r.step("lookup_by_uuid", lambda: dom_fields(conn.lookupByUUIDString(dom.UUIDString())))
        r.step("lookup_by_uuid_raw", lambda: dom_fields(conn.lookupByUUID(dom.UUID())))
        if dom.ID() >= 0:
            r.step("lookup_by_id", lambda: dom_fields(conn.lookupByID(dom.ID())))

        def info() -> dict[str, Any]:
            state, max_mem, mem, vcpus, cpu_time = dom.info()
            return {
                "state": state,
                "state_name": STATE_NAMES.get(state),
                "max_mem": max_mem,
                "memory": mem,
                "vcpus": vcpus,
                "cpu_time": cpu_time,
            }

        def state() -> dict[str, Any]:
            st, reason = dom.state()
            return {"state": st, "state_name": STATE_NAMES.get(st), "reason": reason}

        r.step("info", info)
        r.step("state", state)

        def xml() -> dict[str, Any]:
            text = dom.XMLDesc(0)
            return {
                "length": len(text),
                "has_name": f"<name>{args.dom}</name>" in text,
                "root": text.lstrip()[:20],
            }

        r.step("xml_desc", xml)

        cb_id = None
        if not args.no_events:
            cb_id = r.step(
                "event_register",
                lambda: conn.domainEventRegisterAny(
                    None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, r.on_lifecycle, None
                ),
            )

        expected = ["suspended", "resumed"]
        r.step("suspend", lambda: {"ret": dom.suspend()})
        r.step("state_after_suspend", state)
        r.step("resume", lambda: {"ret": dom.resume()})
        r.step("state_after_resume", state)
        if not args.no_cycle:
            expected += ["stopped", "started"]
            r.step("destroy", lambda: {"ret": dom.destroy()})
            r.step("state_after_destroy", state)
            r.step("create", lambda: {"ret": dom.create()})
            r.step("state_after_create", state)

        if cb_id is not None:
            got = r.wait_events(expected, args.event_timeout)
            it = iter(got)
            ok = all(n in it for n in expected)
            if not ok:
                r.failed = True
            r.emit({"step": "events", "ok": ok, "expected": expected, "received": got})
            r.step("event_deregister", lambda: {"ret": conn.domainEventDeregisterAny(cb_id)})

    r.step(
        "lookup_missing",
        lambda: conn.lookupByName(args.missing),
        expect_error=True,
        name=args.missing,
    )
    r.step("close", lambda: {"refs": conn.close()})
    stop.set()
    with r.lock:
        events = list(r.events)
    r.emit({"step": "summary", "ok": not r.failed, "events": events})
    return 1 if r.failed else 0


if __name__ == "__main__":
    sys.exit(main())
