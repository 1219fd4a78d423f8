"""Advertise a service with netrpc.mdns.Advertiser and report what happens as JSON lines.

Meant to run inside a network namespace (``ip netns exec NS python nsrun_advertise.py ...``).
Every line on stdout is a JSON object with an ``ev`` key and a wall-clock ``t``:

* ``published``: one per ``--port``, with the registration (``name``, ``ok``, ``error``, ...);
* ``log``: a record from the ``netrpc.mdns`` logger (``level``, ``msg``);
* ``withdrawn``: after ``--withdraw``;
* ``closing`` / ``closed``: around ``Advertiser.aclose()``.

The advertiser holds until ``--seconds`` pass, or SIGTERM / SIGINT, then closes cleanly (goodbye
packets). Exit status 0 unless the script itself breaks: a failed publish is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import signal
import sys
import threading
import time
from typing import Any

import anyio

from netrpc.discovery.mdns import Advertiser, Registration

_OUT = threading.Lock()


def emit(ev: str, **fields: Any) -> None:
    with _OUT:
        print(json.dumps({"ev": ev, "t": time.time(), **fields}, sort_keys=True), flush=True)


class JsonLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        emit("log", level=record.levelname, logger=record.name, msg=record.getMessage())


def describe(reg: Registration) -> dict[str, Any]:
    return {
        "name": reg.name,
        "requested_name": reg.requested_name,
        "type": reg.type,
        "port": reg.port,
        "txt": dict(reg.txt),
        "server": reg.server,
        "addresses": list(reg.addresses),
        "ok": reg.ok,
        "renamed": reg.renamed,
        "error": reg.error,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", default=None, help="instance name (default: libvirt's default)")
    p.add_argument("--port", type=int, action="append", help="port to advertise (repeatable)")
    p.add_argument("--type", default="_libvirt._tcp")
    p.add_argument("--txt", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--host", default=None, help="SRV host name (default: short hostname)")
    p.add_argument("--address", action="append", help="address for the A/AAAA records")
    p.add_argument("--interface", action="append", help="IP or ifindex for zeroconf")
    p.add_argument("--ip-version", choices=("v4", "v6", "all"), default=None)
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--seconds", type=float, default=math.inf, help="hold time (default: forever)")
    p.add_argument("--no-probe", action="store_true", help="skip conflict probing")
    p.add_argument("--withdraw", action="store_true", help="withdraw() before aclose()")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    txt = dict(item.split("=", 1) for item in args.txt)
    interfaces = None
    if args.interface:
        interfaces = [int(i) if i.isdigit() else i for i in args.interface]
    stop = anyio.Event()
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

        async def on_signal() -> None:
            async for signum in signals:
                emit("signal", signum=int(signum))
                stop.set()
                return

        async with anyio.create_task_group() as tg:
            tg.start_soon(on_signal)
            advertiser = Advertiser(
                interfaces=interfaces, ip_version=args.ip_version, probe=not args.no_probe
            )
            async with advertiser:
                registrations = []
                for port in args.port or [16509]:
                    reg = await advertiser.publish(
                        name=args.name,
                        port=port,
                        type_=args.type,
                        txt=txt,
                        host=args.host,
                        addresses=args.address,
                    )
                    registrations.append(reg)
                    emit("published", **describe(reg))
                with anyio.move_on_after(args.seconds):
                    await stop.wait()
                if args.withdraw:
                    for reg in registrations:
                        await advertiser.withdraw(reg)
                        emit("withdrawn", name=reg.name)
                emit("closing")
            emit("closed")
            tg.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = logging.getLogger("netrpc.mdns")
    log.setLevel(logging.INFO)
    log.addHandler(JsonLogHandler())
    emit("start", backend=args.backend)
    anyio.run(run, args, backend=args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
