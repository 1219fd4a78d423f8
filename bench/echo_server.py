#!/usr/bin/env python3
"""A minimal netrpc server for benchmarks: the remote program's handshake and two cheap calls.

Program 0x20008086 version 1 with inline handlers for AUTH_LIST (66), CONNECT_OPEN (1),
CONNECT_CLOSE (2), CONNECT_GET_LIB_VERSION (157) and DOMAIN_LOOKUP_BY_NAME (23, only the
domain "test" of libvirt's test:///default exists), served on a unix socket and/or TCP.

    python3 bench/echo_server.py --unix /tmp/x/sock --tcp 127.0.0.1:16509 [--backend trio]
    python3 bench/echo_server.py --unix /tmp/x/sock --profile /tmp/x/echo.prof

SIGTERM or SIGINT shuts it down gracefully (and writes the --profile statistics).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Annotated

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import anyio

from netrpc import Call, ErrorCode, ErrorDomain, Program, RPCError, Server, Service, procedure
from netrpc.core import xdr

REMOTE_PROGRAM = 0x20008086
LIB_VERSION = 9000000  # 9.0.0, as libvirtd 9.0 answers
TEST_DOMAIN_UUID = bytes.fromhex("6695eb01f6a4830479aa97f2502e193f")


@xdr.struct
class ConnectOpenArgs:
    name: Annotated[str | None, xdr.Optional(xdr.String(4194304))]
    flags: xdr.UInt


@xdr.struct
class AuthListRet:
    types: Annotated[list[int], xdr.Array(xdr.INT, 20)]


@xdr.struct
class GetLibVersionRet:
    lib_ver: xdr.UHyper


@xdr.struct
class NonnullDomain:
    name: Annotated[str, xdr.String(4194304)]
    uuid: Annotated[bytes, xdr.FixedOpaque(16)]
    id: xdr.Int


@xdr.struct
class LookupByNameArgs:
    name: Annotated[str, xdr.String(4194304)]


@xdr.struct
class LookupByNameRet:
    dom: NonnullDomain


_OPEN = "bench.open"
_LIB_VERSION = GetLibVersionRet(lib_ver=LIB_VERSION)
_AUTH_NONE = AuthListRet(types=[0])
_DOMAINS = {"test": LookupByNameRet(dom=NonnullDomain(name="test", uuid=TEST_DOMAIN_UUID, id=1))}


def _not_open() -> RPCError:
    return RPCError.internal("hypervisor connection not open")


class EchoRemoteProgram(Program):
    number, version = REMOTE_PROGRAM, 1

    @procedure(66, ret=AuthListRet, auth=False, readonly=True, inline=True)
    def auth_list(self, call: Call, args: None) -> AuthListRet:
        return _AUTH_NONE

    @procedure(1, args=ConnectOpenArgs, readonly=True, priority=True, inline=True)
    def connect_open(self, call: Call, args: ConnectOpenArgs) -> None:
        call.client.private[_OPEN] = args.name

    @procedure(2, readonly=True, priority=True, inline=True)
    def connect_close(self, call: Call, args: None) -> None:
        call.client.private.pop(_OPEN, None)
        call.client.close_after_reply()

    @procedure(157, ret=GetLibVersionRet, readonly=True, priority=True, inline=True)
    def connect_get_lib_version(self, call: Call, args: None) -> GetLibVersionRet:
        if _OPEN not in call.client.private:
            raise _not_open()
        return _LIB_VERSION

    @procedure(
        23, args=LookupByNameArgs, ret=LookupByNameRet, readonly=True, priority=True, inline=True
    )
    def domain_lookup_by_name(self, call: Call, args: LookupByNameArgs) -> LookupByNameRet:
        if _OPEN not in call.client.private:
            raise _not_open()
        found = _DOMAINS.get(args.name)
        if found is None:
            raise RPCError.formatted(
                ErrorCode.NO_DOMAIN,
                ErrorDomain.TEST,
                "Domain not found: %s",
                f"no domain with matching name '{args.name}'",
            )
        return found


def parse_tcp(spec: str) -> tuple[str, int]:
    host, _, port = spec.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def serve(args: argparse.Namespace) -> None:
    server = Server("bench-echo", programs=[EchoRemoteProgram()])
    if args.unix:
        server.add_service(Service.unix(args.unix, mode=0o600))
    if args.tcp:
        host, port = parse_tcp(args.tcp)
        server.add_service(Service.tcp(host, port))
    async with anyio.create_task_group() as tg:
        addresses = await tg.start(server.serve)
        print(f"listening on {addresses}", flush=True)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                server.shutdown(timeout=2.0)
                break


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--unix", metavar="PATH")
    p.add_argument("--tcp", metavar="HOST:PORT")
    p.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    p.add_argument("--profile", metavar="FILE", help="run under cProfile, write stats to FILE")
    p.add_argument(
        "--yield-every",
        type=int,
        metavar="N",
        help="override netrpc._sockio.YIELD_EVERY (reads/writes without waiting before a yield)",
    )
    args = p.parse_args(argv)
    if args.yield_every is not None:
        from netrpc.io import _sockio

        _sockio.YIELD_EVERY = args.yield_every
    if not args.unix and not args.tcp:
        p.error("give --unix and/or --tcp")
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            anyio.run(serve, args, backend=args.backend)
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
    else:
        anyio.run(serve, args, backend=args.backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
