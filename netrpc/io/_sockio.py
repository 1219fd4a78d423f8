"""A byte stream over a plain non-blocking socket, for the server's hot path.

anyio's socket streams yield to the event loop on every ``send()`` and ``receive()`` (a
checkpoint), and on asyncio toggle the transport's reading for each ``receive()``.  For a
request/response protocol with small messages that is most of the cost of a call.  This
stream tries the system call first and waits for readiness (``anyio.wait_readable`` /
``wait_writable``, so it works on every anyio backend) only when the socket would block.

To stay fair to other connections it still yields once every :data:`YIELD_EVERY` calls that
did not wait (measured: yielding after every call is also the fastest setting, as it lets the
peer fill the socket before the next read), so a client that always has data ready cannot
monopolise the event loop.  A read yields before its system call, never after it, so
cancelling a read never loses data that was already received.

On asyncio (a selector event loop) the stream waits for readability itself: it keeps its
socket registered with the loop between reads instead of registering and unregistering it
around every wait as ``anyio.wait_readable`` does (two ``epoll_ctl`` calls and a handle per
wait), and drops the registration only when data arrives that nobody waits for.  Other
backends use ``anyio.wait_readable``.

TLS connections keep using anyio's own streams.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import anyio
import anyio.abc
import anyio.lowlevel
from anyio.abc import SocketAttribute

from ..core.protocol import NUM_FDS_MAX
from ..core.stream import StreamAbortedError

__all__ = (
    "YIELD_EVERY",
    "OutputPump",
    "RawSocketStream",
    "connect_tcp",
    "connect_unix",
    "receive_into_connection",
    "run_keepalive",
    "write_segments",
)

#: operations completed without waiting before a forced yield to the event loop
YIELD_EVERY = 1

#: send buffer asked for on unix sockets
SEND_BUFFER = 1 << 20

_T = TypeVar("_T")
_FD_SIZE = array.array("i").itemsize
_IOV_MAX = 512


async def connect_unix(path: str) -> RawSocketStream:
    """Connect to a unix stream socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:
            # The listen backlog is full: wait until the server accepts.
            await anyio.wait_writable(sock)
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err), path) from None
    except BaseException:
        sock.close()
        raise
    return RawSocketStream(sock)


async def connect_tcp(host: str, port: int) -> RawSocketStream:
    """Connect over TCP, trying each address *host* resolves to in turn."""
    errors: list[OSError] = []
    for family, kind, proto, _name, address in await anyio.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            try:
                sock.connect(address)
            except BlockingIOError:
                await anyio.wait_writable(sock)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, os.strerror(err), f"{host}:{port}") from None
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        return RawSocketStream(sock)
    if len(errors) == 1:
        raise errors[0]
    raise OSError(f"all connection attempts to {host}:{port} failed: {errors}")


class RawSocketStream(anyio.abc.ByteStream):
    """A connected, non-blocking stream socket (TCP or unix).

    Raises anyio's exceptions: :class:`anyio.EndOfStream` on EOF,
    :class:`anyio.BrokenResourceError` when the peer vanished, and
    :class:`anyio.ClosedResourceError` after :meth:`aclose`.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        if sock.family == socket.AF_UNIX:
            # Room for a few 256 KiB stream packets, so one send() usually takes a whole
            # packet (the kernel caps the value at net.core.wmem_max).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        self._sock = sock
        self._closed = False
        self._eof = False
        self._streak = 0
        self._unix = sock.family == socket.AF_UNIX
        # Readability waits on a selector event loop (see the module docstring): the loop
        # (None: not known yet, False: use anyio), whether the socket is registered with
        # it, and the future of the task waiting now.
        self._loop: asyncio.AbstractEventLoop | bool | None = None
        self._watching = False
        self._reader: asyncio.Future[bool] | None = None
        # A readiness event the loop collected before the data was read can reach the
        # callback after the waiter has read it and started waiting again: a wait counts
        # events only once the loop has run the waiter's "arm" callback, which comes
        # after every event already collected.  An event with nobody waiting is let pass
        # once (it is usually such a stale one) before the registration is dropped.
        self._armed = False
        self._idle_event = False

    @property
    def socket(self) -> socket.socket:
        """The underlying socket."""
        return self._sock

    @property
    def fd_capable(self) -> bool:
        """True on unix sockets, the only ones that carry file descriptors."""
        return self._unix

    async def wait_readable(self) -> None:
        """Wait until the socket is readable (or at end of file).

        :raises anyio.ClosedResourceError: when the stream was closed, or the wait was
            ended by :meth:`interrupt_wait`.
        :raises anyio.BusyResourceError: when another task is waiting already.
        """
        self._check()
        loop = self._loop
        if loop is None:
            loop = self._loop = _selector_loop()
        if loop is False:
            await anyio.wait_readable(self._sock)
            return
        assert isinstance(loop, asyncio.AbstractEventLoop)
        if self._reader is not None:
            raise anyio.BusyResourceError("reading from")
        if not self._watching:
            fd = self._sock.fileno()
            # A socket that had this number before and was closed without aclose() may
            # have left its registration: the loop would only swap the callback of that
            # entry, which the kernel has forgotten, and never report this socket.
            loop.remove_reader(fd)
            loop.add_reader(fd, self._readable)
            self._watching = True
        self._idle_event = False
        self._armed = False
        loop.call_soon(self._arm)
        reader = self._reader = loop.create_future()
        try:
            ready = await reader
        finally:
            self._reader = None
        if not ready:
            raise anyio.ClosedResourceError

    def _arm(self) -> None:
        self._armed = True

    def _readable(self) -> None:
        # The loop's callback (see __init__ for the two kinds of stale events).
        reader = self._reader
        if reader is None:
            if self._idle_event:
                # Data waits that nobody reads yet: the registration would fire on every
                # loop iteration, so it goes until the next wait.
                self.stop_watching()
            else:
                self._idle_event = True
        elif self._armed and not reader.done():
            reader.set_result(True)

    def interrupt_wait(self) -> None:
        """End a pending :meth:`wait_readable` with :class:`anyio.ClosedResourceError`,
        leaving the socket open."""
        if isinstance(self._loop, asyncio.AbstractEventLoop):
            reader = self._reader
            if reader is not None and not reader.done():
                reader.set_result(False)
        else:
            anyio.notify_closing(self._sock)

    def stop_watching(self) -> None:
        """Drop the socket's registration with the event loop (it is being closed, or
        somebody else will wait for it); the next :meth:`wait_readable` makes a new one."""
        if self._watching:
            self._watching = False
            loop = self._loop
            assert isinstance(loop, asyncio.AbstractEventLoop)
            with contextlib.suppress(Exception):
                loop.remove_reader(self._sock.fileno())

    async def _fair(self) -> None:
        self._streak += 1
        if self._streak >= YIELD_EVERY:
            self._streak = 0
            await anyio.lowlevel.checkpoint()

    def _check(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError

    async def _read(self, op: Callable[[], _T]) -> _T:
        """Run a non-blocking read system call, waiting for readability while it would
        block; OS errors become BrokenResourceError.

        Every await comes before the system call that succeeds, so a cancelled read has
        received nothing.
        """
        if self._streak >= YIELD_EVERY:
            self._streak = 0
            await anyio.lowlevel.checkpoint()
        while True:
            self._check()
            try:
                result = op()
            except BlockingIOError:
                self._streak = 0
                await self.wait_readable()
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            self._streak += 1
            return result

    async def _write(self, op: Callable[[], _T]) -> _T:
        """The same for writes: wait for writability while the call would block."""
        while True:
            self._check()
            try:
                return op()
            except BlockingIOError:
                self._streak = 0
                await anyio.wait_writable(self._sock)
            except OSError as exc:
                raise anyio.BrokenResourceError from exc

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Receive at most *max_bytes* bytes.

        :raises anyio.EndOfStream: when the peer closed its end.
        """
        # Written out rather than through _read: a connection waiting here holds no
        # closure (this is where every idle connection waits).
        sock = self._sock
        if self._streak >= YIELD_EVERY:
            self._streak = 0
            await anyio.lowlevel.checkpoint()
        while True:
            self._check()
            try:
                data = sock.recv(max_bytes)
            except BlockingIOError:
                self._streak = 0
                await self.wait_readable()
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            self._streak += 1
            if not data:
                raise anyio.EndOfStream
            return data

    def receive_nowait(self, max_bytes: int, maxfds: int = 0) -> tuple[bytes, list[int]] | None:
        """One read that never waits: ``(data, fds)`` (``(b"", [])`` at end of file), or
        None when nothing is there yet (then wait with :meth:`wait_readable`).

        With :meth:`yield_due` this lets a caller wait for data without a coroutine of
        its own: what a server's idle connections do.

        :raises anyio.BrokenResourceError: when the peer vanished.
        :raises anyio.ClosedResourceError: after :meth:`aclose`.
        """
        self._check()
        try:
            if maxfds:
                data, ancdata, _flags, _addr = self._sock.recvmsg(
                    max_bytes, socket.CMSG_SPACE(maxfds * _FD_SIZE), socket.MSG_CMSG_CLOEXEC
                )
                fds = _fds_from(ancdata) if ancdata else []
            else:
                data, fds = self._sock.recv(max_bytes), []
        except BlockingIOError:
            self._streak = 0
            return None
        except OSError as exc:
            raise anyio.BrokenResourceError from exc
        self._streak += 1
        return data, fds

    def receive_into_nowait(
        self, buffer: memoryview, maxfds: int = 0
    ) -> tuple[int, list[int]] | None:
        """:meth:`receive_nowait` into *buffer*: ``(count, fds)`` (``(0, [])`` at end of
        file), or None when nothing is there yet."""
        self._check()
        try:
            if maxfds:
                count, ancdata, _flags, _addr = self._sock.recvmsg_into(
                    [buffer], socket.CMSG_SPACE(maxfds * _FD_SIZE), socket.MSG_CMSG_CLOEXEC
                )
                fds = _fds_from(ancdata) if ancdata else []
            else:
                count, fds = self._sock.recv_into(buffer), []
        except BlockingIOError:
            self._streak = 0
            return None
        except OSError as exc:
            raise anyio.BrokenResourceError from exc
        self._streak += 1
        return count, fds

    def yield_due(self) -> bool:
        """True when the caller should yield to the event loop before its next read (see
        :data:`YIELD_EVERY`); the count restarts."""
        if self._streak >= YIELD_EVERY:
            self._streak = 0
            return True
        return False

    async def receive_into(self, buffer: memoryview) -> int:
        """Receive into *buffer*; returns the byte count (0 at end of file)."""
        sock = self._sock
        return await self._read(lambda: sock.recv_into(buffer))

    async def receive_fds_into(self, buffer: memoryview, maxfds: int) -> tuple[int, list[int]]:
        """Receive into *buffer* with any descriptors that came along (unix sockets);
        ``(0, [])`` at end of file.  Descriptors are received close-on-exec."""
        sock = self._sock
        ancillary_size = socket.CMSG_SPACE(maxfds * _FD_SIZE)
        count, ancdata, _flags, _addr = await self._read(
            lambda: sock.recvmsg_into([buffer], ancillary_size, socket.MSG_CMSG_CLOEXEC)
        )
        return count, _fds_from(ancdata)

    async def receive_fds(self, msglen: int, maxfds: int) -> tuple[bytes, list[int]]:
        """Receive bytes and any file descriptors that came with them (unix sockets).

        :raises anyio.EndOfStream: when the peer closed its end.
        """
        sock = self._sock
        ancillary_size = socket.CMSG_SPACE(maxfds * _FD_SIZE)
        if self._streak >= YIELD_EVERY:
            self._streak = 0
            await anyio.lowlevel.checkpoint()
        while True:
            self._check()
            try:
                data, ancdata, _flags, _addr = sock.recvmsg(
                    msglen, ancillary_size, socket.MSG_CMSG_CLOEXEC
                )
            except BlockingIOError:
                self._streak = 0
                await self.wait_readable()
                continue
            except OSError as exc:
                raise anyio.BrokenResourceError from exc
            self._streak += 1
            fds = _fds_from(ancdata) if ancdata else []
            if not data and not fds:
                raise anyio.EndOfStream
            return data, fds

    async def send(self, item: bytes | bytearray | memoryview) -> None:
        """Send all of *item*."""
        # One send() first: a batch of replies usually leaves at once.
        self._check()
        try:
            sent = self._sock.send(item)
        except OSError:
            # Would block, or failed: send_many() waits, or raises the error (as a subclass
            # reports it).
            sent = 0
        if sent < len(item):
            await self.send_many([memoryview(item)[sent:]])
        else:
            await self._fair()

    async def send_many(self, buffers: list[bytes | bytearray | memoryview]) -> None:
        """Send several buffers in order with scatter-gather writes (no joining copy)."""
        sock = self._sock
        views = [memoryview(b) for b in buffers if len(b)]
        while views:
            sent = await self._write(lambda: sock.sendmsg(views[:_IOV_MAX]))
            while sent:
                first = views[0]
                if sent >= len(first):
                    sent -= len(first)
                    views.pop(0)
                else:
                    views[0] = first[sent:]
                    sent = 0
        await self._fair()

    async def send_fds(self, message: bytes, fds: list[int]) -> None:
        """Send *message* with *fds* attached (``SCM_RIGHTS``; unix sockets only)."""
        if not self._unix:
            raise anyio.BrokenResourceError("file descriptors can only be sent on unix sockets")
        sock = self._sock
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
        await self._write(lambda: sock.sendmsg([message], ancillary))

    async def send_eof(self) -> None:
        """Shut down the sending side."""
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            if exc.errno != errno.ENOTCONN:
                raise anyio.BrokenResourceError from exc

    async def aclose(self) -> None:
        """Close the socket (waking any task waiting on it)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.interrupt_wait()
        except Exception:
            pass
        self.stop_watching()
        self._sock.close()
        await anyio.lowlevel.checkpoint()

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        sock = self._sock
        attributes: dict[Any, Callable[[], Any]] = {
            SocketAttribute.raw_socket: lambda: sock,
            SocketAttribute.family: lambda: sock.family,
            SocketAttribute.local_address: lambda: sock.getsockname(),
            SocketAttribute.remote_address: lambda: sock.getpeername(),
        }
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attributes[SocketAttribute.local_port] = lambda: sock.getsockname()[1]
            attributes[SocketAttribute.remote_port] = lambda: sock.getpeername()[1]
        return attributes


def _selector_loop() -> asyncio.AbstractEventLoop | bool:
    """The running asyncio loop when it can watch sockets itself (a selector loop), else
    False (trio, or a loop without ``add_reader``)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    if isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        return loop
    return False


async def write_segments(
    stream: anyio.abc.ByteStream, segments: list[bytes | int], *, close_fds: bool
) -> None:
    """Write the output of a connection: runs of bytes in one send, FDs one by one.

    :param close_fds: close each descriptor once sent (the server owns reply descriptors;
        a client's caller keeps its own).
    """
    if len(segments) == 1 and type(segments[0]) is bytes:
        # The usual output: one run of bytes (a batch of replies).
        await stream.send(segments[0])
        return
    run: list[bytes] = []
    send_many = getattr(stream, "send_many", None)
    for segment in [*segments, None]:
        if isinstance(segment, bytes):
            run.append(segment)
            continue
        if run:
            if len(run) == 1:
                await stream.send(run[0])
            elif send_many is not None:
                await send_many(run)
            else:
                await stream.send(b"".join(run))
            run = []
        if isinstance(segment, int):
            try:
                await stream.send_fds(b"\0", [segment])  # type: ignore[attr-defined]
            finally:
                if close_fds:
                    _close_quietly(segment)


class OutputPump:
    """The single owner of a connection's output.

    Only the connection's own tasks write, one at a time: the owner (a server's
    :class:`~netrpc.io.server.ServerClient`, a :class:`~netrpc.Client`) has a writer task,
    and a server's read loop writes the replies of the batch it just dispatched itself
    (:meth:`drain`), saving a task switch per batch.  The writer task either runs all along,
    waiting in :meth:`wait_requested` and then calling :meth:`write_queued`, or, with
    *start_writer*, is started when output is requested and nobody is writing, and ends
    once it wrote everything (:meth:`run_writer`): an idle connection then has no writer.
    Those tasks are cancelled only when the connection is torn down.  Every other task
    (handlers, stream senders, callers) queues its output on the sans-IO connection and
    calls :meth:`request`, or :meth:`wait_written` to wait until it has left: a task that
    is cancelled or times out never holds a write, and can never leave part of a record on
    the wire.

    If a write fails or is interrupted all the same (the writer is cancelled because the
    connection is being torn down, the peer vanished), part of a record may be on the wire:
    the connection is marked broken (:meth:`Connection.send_failed
    <netrpc.core.connection.Connection.send_failed>`), nothing more is written, and the
    error propagates to the writer task, whose owner closes the connection and fails
    whatever was waiting on it.

    After each write the connection learns that its output left (``conn.output_written()``,
    which frees the slots of the replies in it) and *written* is called.

    :param close_fds: close each descriptor once sent, or once dropped (see
        :func:`write_segments`).
    :param written: called after each completed write.
    :param start_writer: starts a task that runs :meth:`run_writer` (an on-demand writer);
        without it the owner runs a writer task all along.
    """

    __slots__ = (
        "_close_fds",
        "_progress",
        "_request_flag",
        "_requested",
        "_start_writer",
        "_writer_pending",
        "_written",
        "conn",
        "sending",
        "stream",
    )

    def __init__(
        self,
        conn: Any,
        stream: anyio.abc.ByteStream,
        *,
        close_fds: bool,
        written: Callable[[], None] | None = None,
        start_writer: Callable[[], None] | None = None,
    ) -> None:
        self.conn = conn
        self.stream = stream
        #: True while the writer task is writing
        self.sending = False
        self._close_fds = close_fds
        self._written = written
        self._start_writer = start_writer
        self._writer_pending = False
        # Events exist only while a task waits on them.
        self._request_flag = False
        self._requested: anyio.Event | None = None
        # Set (and dropped) whenever the writer finishes a round or stops.
        self._progress: anyio.Event | None = None

    def request(self) -> None:
        """Ask the writer task to write what is queued (any task, never blocks)."""
        if self._start_writer is not None:
            # An owner task that is writing writes until nothing is queued; otherwise a
            # writer is started (once).
            if not self.sending and not self._writer_pending and self.conn.closed_reason is None:
                self._writer_pending = True
                self._start_writer()
            return
        self._request_flag = True
        if self._requested is not None:
            self._requested.set()

    async def run_writer(self) -> None:
        """The body of an on-demand writer task (see *start_writer*): write what is queued.

        :raises anyio.BrokenResourceError: and the other transport errors (see
            :meth:`write_queued`).
        """
        self._writer_pending = False
        await self.write_queued()

    async def wait_requested(self) -> None:
        """Writer task (one that runs all along): wait until output was requested."""
        while not self._request_flag:
            if self._requested is None:
                self._requested = anyio.Event()
            await self._requested.wait()
            self._requested = None
        self._request_flag = False

    async def write_queued(self) -> None:
        """Owner tasks only: write everything queued, until the queue is empty (returns at
        once when another owner task is writing: it writes this output too).

        :raises anyio.BrokenResourceError: and the other transport errors; the connection
            is then marked broken (as it is when the write is cancelled).
        """
        if self.sending:
            return
        conn = self.conn
        self.sending = True
        try:
            while conn.has_output and conn.closed_reason is None:
                segments = conn.data_to_send()
                try:
                    await write_segments(self.stream, segments, close_fds=self._close_fds)
                except BaseException as exc:
                    # Part of a record may have left: nothing after it can be understood.
                    if isinstance(exc, anyio.get_cancelled_exc_class()):
                        reason = "write interrupted"
                    else:
                        reason = f"send failed: {exc!r}"
                    self._drop(conn.send_failed(reason))
                    raise
                conn.output_written()
                if self._written is not None:
                    self._written()
        finally:
            self.sending = False
            if self._progress is not None:
                self._advance()

    async def drain(self) -> None:
        """Owner tasks only: write what is queued now, or wait for the write under way.

        :raises anyio.BrokenResourceError: and the other transport errors, from a write.
        :raises StreamAbortedError: once the connection is closed.
        """
        if not self.sending:
            await self.write_queued()
        await self.wait_written()

    def stopped(self) -> None:
        """The connection is gone: wake every task waiting in :meth:`wait_written`."""
        self._advance()

    async def wait_written(self, below: int = 1) -> None:
        """Return once less than *below* bytes of queued output are left unwritten (by
        default: once everything queued so far is written); a sender's back-pressure.
        Never writes: it asks the writer task to.

        :raises StreamAbortedError: if the connection is closed.
        """
        conn = self.conn
        while True:
            if conn.closed_reason is not None:
                raise StreamAbortedError(conn.closed_reason)
            if conn.pending_output < below and not (below == 1 and self.sending):
                if conn.has_output:
                    self.request()
                return
            progress = self._progress
            if progress is None:
                progress = self._progress = anyio.Event()
            self.request()
            await progress.wait()

    def _advance(self) -> None:
        done = self._progress
        if done is not None:
            self._progress = None
            done.set()

    def _drop(self, fds: list[int]) -> None:
        if self._close_fds:
            for fd in fds:
                _close_quietly(fd)


async def run_keepalive(conn: Any, wake: Callable[[], None]) -> bool:
    """Drive a connection's keepalive timer: sleep until it is due, queue PINGs (and call
    *wake* to get them written).  Returns True when the peer is dead, False when the timer
    was stopped."""
    while True:
        deadline = conn.next_deadline()
        if deadline is None:
            return False
        delay = deadline - time.monotonic()
        if delay > 0:
            await anyio.sleep(delay)
            continue
        if conn.handle_timer(time.monotonic()):
            return True
        if conn.has_output:
            wake()


async def receive_into_connection(
    stream: anyio.abc.ByteStream,
    conn: Any,
    size: int,
    *,
    with_fds: bool,
    now: float | None = None,
) -> None:
    """Read once from *stream* into the sans-IO connection *conn* (either role).

    The connection says how much to read (:meth:`~netrpc.core.connection.Connection.read_size`,
    *size* by default) and keeps the bytes object the read returned: nothing is allocated
    before bytes arrive, and an idle connection holds no receive buffer.

    :param now: the time to record for keepalive; by default the clock after the read.
    """
    size = conn.read_size(size)
    fds: list[int] = []
    try:
        if with_fds and isinstance(stream, RawSocketStream):
            data, fds = await stream.receive_fds(size, NUM_FDS_MAX)
        else:
            data = await stream.receive(size)
    except anyio.EndOfStream:
        data = b""
    conn.receive_data(data, time.monotonic() if now is None else now, tuple(fds))


def _fds_from(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % _FD_SIZE)])
    return list(fds)


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError as exc:
        if exc.errno != errno.EBADF:
            raise
