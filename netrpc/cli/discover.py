"""``netrpc-discover``: list or watch servers advertised over mDNS (:mod:`netrpc.discovery.mdns`).

Also ``python -m netrpc.cli.discover``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from typing import get_args

import anyio

from ..discovery.mdns import (
    DEFAULT_SERVICE_TYPE,
    DiscoveredServer,
    DiscoveryEvent,
    IPVersionChoice,
    MDNSError,
    discover,
    full_service_type,
    short_service_type,
    watch,
)

__all__ = ("main",)



def _table(servers: Sequence[DiscoveredServer]) -> str:
    header = ("NAME", "ADDRESS", "PORT", "TRANSPORT", "URI")
    rows = [header]
    for s in servers:
        addresses = list(s.addresses) or ["-"]
        for i, address in enumerate(addresses):
            uri = s.uri_for(address) or "-"
            rows.append((s.name if i == 0 else "", address, str(s.port), s.transport, uri))
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _event_line(event: DiscoveryEvent, as_json: bool) -> str:
    if as_json:
        return json.dumps({"event": event.kind.value, **event.server.to_dict()}, sort_keys=True)
    mark = {"added": "+", "updated": "=", "removed": "-"}[event.kind.value]
    s = event.server
    uri = s.uris[0] if s.uris else "-"
    return f"{mark} {s.name}  {','.join(s.addresses) or '-'}  {s.port}  {s.transport}  {uri}"


async def _run_discover(args: argparse.Namespace) -> int:
    interfaces = args.interface or None
    if not args.watch:
        timeout = 3.0 if args.timeout is None else args.timeout
        servers = await discover(
            args.type, timeout, interfaces=interfaces, ip_version=args.ip_version
        )
        if args.json:
            print(json.dumps([s.to_dict() for s in servers], indent=2, sort_keys=True))
        elif servers:
            print(_table(servers))
        else:
            print(f"no {short_service_type(args.type)} services found", file=sys.stderr)
        return 0
    with anyio.move_on_after(math.inf if args.timeout is None else args.timeout):
        async with watch(args.type, interfaces=interfaces, ip_version=args.ip_version) as events:
            async for event in events:
                print(_event_line(event, args.json), flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``netrpc-discover`` command: list or watch servers advertised over mDNS.

    :param argv: the arguments, without the program name; defaults to ``sys.argv[1:]``.
    :returns: the exit status: 0 on success, 1 when mDNS cannot start, 2 on bad usage.
    """
    parser = argparse.ArgumentParser(
        prog="netrpc-discover",
        description="Find netrpc / libvirt servers advertised over mDNS (DNS-SD).",
    )
    parser.add_argument(
        "--type", default=DEFAULT_SERVICE_TYPE, help="service type to browse (default: %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long to listen (default: 3; with --watch: until interrupted)",
    )
    parser.add_argument(
        "--interface",
        action="append",
        metavar="IP",
        help="IP address of an interface to use (repeatable; default: all)",
    )
    parser.add_argument(
        "--ip-version",
        choices=sorted(get_args(IPVersionChoice)),
        default=None,
        help="IP versions to use (default: IPv4 on all interfaces)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="print services as they appear (+), change (=) and leave (-)",
    )
    parser.add_argument(
        "--backend",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="anyio backend to run on (default: %(default)s)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")
    args = parser.parse_args(argv)
    if args.timeout is not None and args.timeout < 0:
        parser.error("--timeout must not be negative")
    try:
        full_service_type(args.type)
    except ValueError as exc:
        parser.error(str(exc))
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        return anyio.run(_run_discover, args, backend=args.backend)
    except MDNSError as exc:
        print(f"netrpc-discover: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130 if not args.watch else 0


if __name__ == "__main__":
    sys.exit(main())
