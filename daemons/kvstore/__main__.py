"""kvstored: run the kvstore daemon (``python -m daemons.kvstore`` or ``kvstored``).

::

    kvstored [--listen URL]... [--db PATH] [-v]

``--listen`` takes ``unix:///path.sock`` or ``tcp://host:port`` (append ``?readonly`` for an
endpoint that serves only the read-only procedures) and may be repeated; by default the
daemon listens on ``$XDG_RUNTIME_DIR/kvstore.sock`` (``/tmp/kvstore-UID.sock`` without
``XDG_RUNTIME_DIR``) and ``tcp://127.0.0.1:17100``.  SIGTERM and SIGINT stop it gracefully
(in-flight calls are answered first); SIGHUP logs a reload.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Sequence

import anyio
from anyio.abc import TaskStatus

from netrpc import Daemon, Server, Service

from .program import KVStoreProgram
from .protocol import DEFAULT_TCP_PORT, Address, default_unix_path, parse_address
from .store import Store, default_db_path

__all__ = ("build_server", "main", "serve")

log = logging.getLogger("kvstore")

#: seconds a graceful stop waits for in-flight calls (a long wait_for_key is cut short)
SHUTDOWN_TIMEOUT = 5.0


def build_server(program: KVStoreProgram, listen: Sequence[Address]) -> Server:
    """A server named "kvstored" carrying *program* on every address in *listen*."""
    server = Server("kvstored", programs=[program])
    for address in listen:
        if address.scheme == "unix":
            # 0600: only this user may connect; a read-only socket may be opened to all.
            mode = 0o666 if address.readonly else 0o600
            server.add_service(Service.unix(address.path, mode=mode, readonly=address.readonly))
        else:
            server.add_service(Service.tcp(address.host, address.port, readonly=address.readonly))
    return server


def _bound_urls(server: Server) -> list[str]:
    urls = []
    for service in server.services:
        query = "?readonly" if service.readonly else ""
        if service.kind == "unix":
            urls.append(f"unix://{service.path}{query}")
        for host, port, *_ in (a for a in service.addresses if isinstance(a, tuple)):
            host = f"[{host}]" if ":" in host else host
            urls.append(f"tcp://{host}:{port}{query}")
    return urls


async def serve(
    store: Store,
    listen: Sequence[Address],
    *,
    task_status: TaskStatus[list[str]] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve *store* until SIGTERM/SIGINT; reports the URLs it listens on."""
    program = KVStoreProgram(store)
    server = build_server(program, listen)

    def reload() -> None:
        log.info(
            "SIGHUP: nothing to reload; %d keys at revision %d, %d clients",
            len(program.entries),
            program.revision,
            server.nclients,
        )

    daemon = Daemon([server], on_reload=reload, shutdown_timeout=SHUTDOWN_TIMEOUT)
    async with anyio.create_task_group() as tg:
        await tg.start(daemon.run)
        log.info(
            "database %s: %d keys, revision %d", store.path, len(program.entries), store.revision
        )
        task_status.started(_bound_urls(server))
    log.info("stopped")


def _report(urls: Sequence[str]) -> None:
    for url in urls:
        print(f"kvstored: listening on {url}")
    writable = [u for u in urls if not u.endswith("?readonly")]
    preferred = next(
        (u for u in writable if u.startswith("tcp:")), writable[0] if writable else None
    )
    if preferred is not None:
        print(f"try: python3 -m daemons.kvstore.client --connect {preferred} put hello world")
    sys.stdout.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kvstored", description="A key-value store daemon built on netrpc."
    )
    parser.add_argument(
        "--listen",
        action="append",
        metavar="URL",
        type=_address,
        help="unix:///path.sock or tcp://host:port, optionally with ?readonly; repeatable "
        f"(default: unix://{default_unix_path()} and tcp://127.0.0.1:{DEFAULT_TCP_PORT})",
    )
    parser.add_argument(
        "--db", metavar="PATH", default=default_db_path(), help="SQLite file (default: %(default)s)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log every connection and call (debug)"
    )
    return parser


def _address(text: str) -> Address:
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside (possibly nested) exception groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for sub in error.exceptions for leaf in _leaves(sub)]
    return [error]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    listen = args.listen or [
        parse_address(f"unix://{default_unix_path()}"),
        parse_address(f"tcp://127.0.0.1:{DEFAULT_TCP_PORT}"),
    ]
    try:
        store = Store(args.db)
    except (OSError, sqlite3.Error) as exc:
        log.error("cannot open the database %s: %s", args.db, exc)
        return 1

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            _report(await tg.start(serve, store, listen))

    status = 0
    try:
        anyio.run(run)
    except* OSError as group:
        for error in _leaves(group):
            log.error("%s", error)
        status = 1
    finally:
        store.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
