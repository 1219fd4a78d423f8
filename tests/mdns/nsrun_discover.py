"""Browse with netrpc.mdns (discover() or watch()) and report as JSON lines.

Meant to run inside a network namespace (``ip netns exec NS python nsrun_discover.py ...``).
Every line on stdout is a JSON object with an ``ev`` key and a wall-clock ``t``:

* one-shot mode: a single ``discovered`` line with ``servers`` (``DiscoveredServer.to_dict()``);
* ``--watch``: ``ready`` once browsing, then ``added`` / ``updated`` / ``removed`` lines (the
  server's fields inline), then ``done`` after ``--seconds`` or SIGTERM / SIGINT.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from typing import Any

import anyio

from netrpc.discovery.mdns import discover, watch


def emit(ev: str, **fields: Any) -> None:
    print(json.dumps({"ev": ev, "t": time.time(), **fields}, sort_keys=True), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--type", default="_libvirt._tcp")
    p.add_argument("--interface", action="append", help="IP or ifindex for zeroconf")
    p.add_argument("--ip-version", choices=("v4", "v6", "all"), default=None)
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--timeout", type=float, default=2.0, help="one-shot listening time")
    p.add_argument("--watch", action="store_true")
    p.add_argument("--seconds", type=float, default=math.inf, help="watch time (default: forever)")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    interfaces = None
    if args.interface:
        interfaces = [int(i) if i.isdigit() else i for i in args.interface]
    if not args.watch:
        servers = await discover(
            args.type, args.timeout, interfaces=interfaces, ip_version=args.ip_version
        )
        emit("discovered", servers=[s.to_dict() for s in servers])
        return
    stop = anyio.CancelScope()
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with anyio.create_task_group() as tg:

            async def on_signal() -> None:
                async for _ in signals:
                    stop.cancel()
                    return

            tg.start_soon(on_signal)
            with stop, anyio.move_on_after(args.seconds):
                async with watch(
                    args.type, interfaces=interfaces, ip_version=args.ip_version
                ) as events:
                    emit("ready")
                    async for event in events:
                        emit(event.kind.value, **event.server.to_dict())
            emit("done")
            tg.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    anyio.run(run, args, backend=args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
