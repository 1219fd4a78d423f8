"""vmmd: a fake VM monitor (``python -m daemons.vmmd`` or ``vmmd``).

::

    vmmd --listen unix:///PATH [--vm NAME[:CMDLINE]]... [--console-interval SECONDS]

It speaks albatross's client wire (version 0) on each ``--listen`` socket, about the VMs
given with ``--vm``.  SIGTERM and SIGINT stop it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import anyio

from netrpc import Daemon, Server, Service

from .program import VmmProgram
from .wire import VMM_WIRE

__all__ = ("build_server", "main")

log = logging.getLogger("vmmd")


def _listen(value: str) -> str:
    prefix = "unix://"
    if not value.startswith(prefix) or not value[len(prefix):].startswith("/"):
        raise argparse.ArgumentTypeError(f"--listen {value!r}: want unix:///PATH")
    return value[len(prefix):]


def _vm(value: str) -> tuple[str, str]:
    name, _, cmdline = value.partition(":")
    if not name or any(c.isspace() for c in name):
        raise argparse.ArgumentTypeError(
            f"--vm {value!r}: want NAME[:CMDLINE], a NAME without spaces"
        )
    return name, cmdline


def _interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"--console-interval {value!r}: want a positive number")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="vmmd", description="A fake VM monitor speaking albatross's client wire (v0)."
    )
    parser.add_argument("--listen", type=_listen, action="append", required=True,
                        metavar="unix:///PATH", help="socket to serve (repeatable)")
    parser.add_argument("--vm", type=_vm, action="append", default=[], metavar="NAME[:CMDLINE]",
                        help="a VM (repeatable)")
    parser.add_argument("--console-interval", type=_interval, default=1.0, metavar="SECONDS",
                        help="seconds between two lines of an attached console (default 1)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    return parser


def build_server(program: VmmProgram, paths: Sequence[str]) -> Server:
    """A server named "vmmd" with *program* on a unix socket at each of *paths*."""
    server = Server("vmmd", programs=[program])
    for path in paths:
        server.add_service(Service.unix(path, wire=VMM_WIRE, fd_passing=False, name="vmm"))
    return server


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for sub in error.exceptions for leaf in _leaves(sub)]
    return [error]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the daemon until SIGTERM or SIGINT; returns the exit status."""
    args = build_parser().parse_args(argv)
    names = [name for name, _ in args.vm]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        print(f"vmmd: --vm {duplicates[0]}: given twice", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="vmmd: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    program = VmmProgram(args.vm, console_interval=args.console_interval)
    daemon = Daemon([build_server(program, args.listen)])

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            await tg.start(daemon.run)
            for path in args.listen:
                print(f"vmmd: listening on unix://{path} ({len(program.vms)} VMs)", flush=True)

    status = 0
    try:
        anyio.run(run)
    except* OSError as group:
        for error in _leaves(group):
            print(f"vmmd: {error}", file=sys.stderr)
        status = 1
    except* KeyboardInterrupt:
        pass
    return status


if __name__ == "__main__":
    sys.exit(main())
