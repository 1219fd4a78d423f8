"""``testvirtd``: a libvirtd-compatible daemon serving an in-memory test:///default hypervisor.

Real clients (virsh, libvirt-python, go-libvirt) use it exactly as they use libvirtd::

    testvirtd                                   # unix sockets + tcp://127.0.0.1:16509
    testvirtd --listen tcp://127.0.0.1:0 --listen unix:///tmp/tv/sock --state tv.json
    virsh -c test+tcp://127.0.0.1:16509/default list --all
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .daemon import (
    DEFAULT_URI,
    ListenError,
    TestVirtd,
    default_listens,
    load_hypervisor,
    parse_listen,
    run_daemon,
)
from .hypervisor import StateFileError

__all__ = ("build_parser", "main")


def build_parser() -> argparse.ArgumentParser:
    """The command line parser."""
    ap = argparse.ArgumentParser(
        prog="testvirtd",
        description="A libvirtd-compatible daemon with an in-memory test hypervisor.",
    )
    ap.add_argument(
        "--listen", action="append", metavar="URI", default=[],
        help="endpoint to listen on: unix:///PATH, unix-ro:///PATH (read-only) or "
        "tcp://HOST:PORT (port 0: any free port); repeatable.  Default: libvirt-sock and "
        "libvirt-sock-ro in the runtime directory, and tcp://127.0.0.1:16509",
    )
    ap.add_argument(
        "--state", metavar="FILE",
        help="load the hypervisor state from FILE at start (if it exists) and save it "
        "there after every change",
    )
    ap.add_argument(
        "--default-uri", default=DEFAULT_URI, metavar="URI",
        help="the URI opened for clients that send none (default: %(default)s)",
    )
    ap.add_argument(
        "--timeout", type=float, default=None, metavar="SECONDS",
        help="exit after SECONDS without clients (default: never)",
    )
    ap.add_argument("--pid-file", metavar="FILE", help="write the daemon's pid to FILE")
    ap.add_argument(
        "--backend", choices=("asyncio", "trio"), default="asyncio", help=argparse.SUPPRESS
    )
    ap.add_argument("-v", "--verbose", action="count", default=0,
                    help="log more (-v: info, -vv: debug)")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    """Run the daemon; returns the exit status (0 after a graceful stop)."""
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        listens = [parse_listen(uri) for uri in args.listen] or default_listens()
    except ListenError as exc:
        print(f"testvirtd: error: {exc}", file=sys.stderr)
        return 2
    try:
        hv = load_hypervisor(args.state, args.default_uri)
    except StateFileError as exc:
        print(f"testvirtd: error: {exc}", file=sys.stderr)
        print("testvirtd: the state file was left untouched; fix or remove it", file=sys.stderr)
        return 1
    try:
        daemon = TestVirtd(
            hv, listens, default_uri=args.default_uri, state_file=args.state,
            idle_timeout=args.timeout, pid_file=args.pid_file,
        )

        def ready(d: TestVirtd) -> None:
            sys.stdout.write(d.ready_text())
            sys.stdout.flush()

        run_daemon(daemon, backend=args.backend, on_ready=ready)
    except KeyboardInterrupt:
        pass
    except (OSError, BaseExceptionGroup) as exc:
        errors = _leaves(exc)
        if not all(isinstance(e, OSError) for e in errors):
            raise
        for err in errors:
            print(f"testvirtd: error: {err}", file=sys.stderr)
        return 1
    finally:
        hv.close()
    return 0


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


if __name__ == "__main__":
    sys.exit(main())
