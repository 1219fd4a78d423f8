"""A connection through a child process (ssh, or any command), as libvirt's command sockets.

The child gets one end of a socket pair as its standard input and output, and a pipe as its
standard error.  A task reads that pipe all the time (so the child never blocks on it) and
keeps the last few KiB; when the connection ends, the reason carries that text, so a failed
``ssh`` explains itself ("Permission denied (publickey)") instead of a bare end of file.
Closing the stream terminates the child and reaps it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Mapping, Sequence

import anyio
import anyio.abc

from ..core.errors import ConnectionLostError
from ._sockio import RawSocketStream

__all__ = ("CommandStream",)

log = logging.getLogger("netrpc.client")

#: how much of the child's standard error is kept for error messages
STDERR_KEEP = 8192
#: how long a closing stream waits for the child after SIGTERM before SIGKILL
TERMINATE_GRACE = 2.0
#: how long an end of file waits for the child's last words on standard error
EOF_GRACE = 2.0


class CommandStream(RawSocketStream):
    """The parent's end of a socket pair shared with a running command.

    Create it with :meth:`spawn` and run :meth:`read_stderr` in a task beside it.  An end
    of file raises :class:`~netrpc.errors.ConnectionLostError` with
    libvirt's wording and the child's standard error.
    """

    def __init__(self, sock: socket.socket, process: anyio.abc.Process, argv: Sequence[str]):
        super().__init__(sock)
        self.process = process
        self.argv = list(argv)
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_size = 0
        self._stderr_done = anyio.Event()

    @classmethod
    async def spawn(
        cls, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> CommandStream:
        """Start *argv* with a socket pair as its stdin/stdout.

        :raises OSError: when the command cannot be started (not found, not executable).
        """
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            process = await anyio.open_process(
                list(argv),
                stdin=child.fileno(),
                stdout=child.fileno(),
                stderr=subprocess.PIPE,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        return cls(parent, process, argv)

    async def read_stderr(self) -> None:
        """Read the command's standard error until it closes, keeping the end of it."""
        stderr = self.process.stderr
        assert stderr is not None
        try:
            while True:
                try:
                    chunk = await stderr.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return
                self._stderr.append(chunk)
                self._stderr_size += len(chunk)
                while self._stderr_size - len(self._stderr[0]) >= STDERR_KEEP:
                    self._stderr_size -= len(self._stderr.popleft())
        finally:
            self._stderr_done.set()

    @property
    def stderr_text(self) -> str:
        """The last few KiB the command wrote to its standard error."""
        return b"".join(self._stderr)[-STDERR_KEEP:].decode("utf-8", "replace").strip()

    async def _failure(self) -> ConnectionLostError:
        # The child usually explains itself on stderr as it exits: give it a moment.
        with anyio.move_on_after(EOF_GRACE):
            await self._stderr_done.wait()
        text = self.stderr_text
        if not text and self.process.returncode is not None:
            text = f"{self.argv[0]} exited with status {self.process.returncode}"
        return ConnectionLostError(
            "End of file while reading data" + (f": {text}" if text else "")
        )

    async def receive_into(self, buffer: memoryview) -> int:
        """See :meth:`RawSocketStream.receive_into`; an end of file (or a reset) raises
        :class:`ConnectionLostError` with the command's standard error."""
        try:
            count = await super().receive_into(buffer)
        except anyio.BrokenResourceError:
            raise await self._failure() from None
        if count == 0:
            raise await self._failure()
        return count

    async def receive_fds_into(self, buffer: memoryview, maxfds: int) -> tuple[int, list[int]]:
        """Descriptors never come through a command: same as :meth:`receive_into`."""
        return await self.receive_into(buffer), []

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """See :meth:`RawSocketStream.receive`."""
        try:
            return await super().receive(max_bytes)
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            raise await self._failure() from None

    async def send_many(self, buffers: list[bytes | bytearray | memoryview]) -> None:
        """See :meth:`RawSocketStream.send_many`; a command that went away raises
        :class:`ConnectionLostError` with its standard error."""
        try:
            await super().send_many(buffers)
        except anyio.BrokenResourceError:
            raise await self._failure() from None

    @property
    def fd_capable(self) -> bool:
        """Descriptors cannot be passed through a command."""
        return False

    async def aclose(self) -> None:
        """Close the socket, then stop the command (SIGTERM, SIGKILL after a grace period)
        and reap it."""
        await super().aclose()
        process = self.process
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                # The command runs in its own session: signal its whole group (sh -c ...).
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                with anyio.move_on_after(TERMINATE_GRACE):
                    await process.wait()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            await process.aclose()
