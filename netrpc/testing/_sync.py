"""A minimal blocking client: one call at a time over a unix socket, no event loop."""

from __future__ import annotations

import socket
import time
from typing import Any

from ..core.connection import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    ReplyReceived,
    Role,
)
from ..core.errors import ConnectionLostError, LocalProtocolError
from ..core.program import Procedure, Program
from ..core.protocol import MessageStatus, decode_error

__all__ = ("SyncClient",)


class SyncClient:
    """A blocking connection to a netrpc (or libvirt) server on a unix socket.

    For test fixtures and scripts that steer a daemon between tests and have no event loop
    at hand.  Calls are made one at a time; events the server sends are ignored.

    :param path: the server's unix socket.
    :param timeout: seconds a connect or a call may take.
    :raises OSError: when the socket cannot be reached.
    """

    def __init__(self, path: str, *, timeout: float = 30.0) -> None:
        self.path = path
        self.timeout = timeout
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(path)
        except BaseException:
            self._sock.close()
            raise
        self._conn = Connection(Role.CLIENT, keepalive_interval=0)

    def call(self, program: int, version: int, procedure: int, payload: bytes = b"") -> bytes:
        """Call a procedure with raw XDR *payload*; return the raw reply payload.

        :raises RPCError: when the server answers with an error.
        :raises ConnectionLostError: when the connection closes (or times out) first; the
            client is unusable afterwards.
        """
        conn = self._conn
        if conn.closed_reason is not None:
            raise ConnectionLostError(conn.closed_reason)
        serial = conn.send_call(program, version, procedure, payload)
        deadline = time.monotonic() + self.timeout
        try:
            for segment in conn.data_to_send():
                if isinstance(segment, int):
                    raise LocalProtocolError("a SyncClient does not pass file descriptors")
                self._sock.sendall(segment)
            while True:
                event = conn.next_event()
                if event is NEED_DATA:
                    self._sock.settimeout(max(0.001, deadline - time.monotonic()))
                    conn.receive_data(self._sock.recv(65536), time.monotonic())
                elif isinstance(event, ReplyReceived) and event.header.serial == serial:
                    if event.header.status == MessageStatus.ERROR:
                        raise decode_error(event.payload)
                    return event.payload
                elif isinstance(event, ConnectionClosed):
                    raise ConnectionLostError(event.reason)
        except (OSError, TimeoutError) as exc:
            conn.mark_closed(f"connection lost: {exc!r}")
            self.close()
            raise ConnectionLostError(f"{self.path}: {exc}") from exc

    def call_procedure(
        self, program: type[Program] | Program, name: str, args: Any = None
    ) -> Any:
        """Call a declared procedure by handler name with typed arguments; decode the
        typed result."""
        proc = _find(program, name)
        payload = proc.args.encode(args) if proc.args is not None else b""
        reply = self.call(program.number, program.version, proc.number, payload)
        return proc.ret.decode(reply, allow_trailing=True) if proc.ret is not None else None

    @property
    def closed(self) -> bool:
        """True once the connection is unusable."""
        return self._conn.closed_reason is not None

    def close(self) -> None:
        """Close the connection."""
        self._conn.mark_closed("closed by client")
        self._sock.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _find(program: type[Program] | Program, name: str) -> Procedure[Any, Any]:
    for proc in program.procedures.values():
        if proc.name == name:
            return proc
    raise LocalProtocolError(f"program {program.number:#x} has no procedure named {name!r}")
