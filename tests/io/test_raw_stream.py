"""RawSocketStream's readability waits: woken by data, end of file, interrupt_wait() and
aclose(); cancellable; one waiter at a time.  On asyncio the socket stays registered with
the loop between waits and is dropped when data arrives that nobody waits for.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator

import anyio
import pytest

from netrpc.io._sockio import RawSocketStream

pytestmark = pytest.mark.anyio


@pytest.fixture
def pair() -> Iterator[tuple[RawSocketStream, socket.socket]]:
    ours, theirs = socket.socketpair()
    stream = RawSocketStream(ours)
    yield stream, theirs
    theirs.close()
    ours.close()


def _registered(sock: socket.socket | int) -> bool:
    """Whether the running asyncio loop has a reader for *sock* (False on other backends)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    selector = getattr(loop, "_selector", None)
    if selector is None:
        return False
    key = selector.get_map().get(sock if isinstance(sock, int) else sock.fileno())
    return key is not None and key.data[0] is not None


async def _wait_until_closed(stream: RawSocketStream) -> None:
    with pytest.raises(anyio.ClosedResourceError):
        await stream.wait_readable()


async def test_data_wakes_a_waiter_and_the_registration_stays(
    pair: tuple[RawSocketStream, socket.socket], anyio_backend_name: str
) -> None:
    stream, peer = pair
    got: list[tuple[bytes, list[int]] | None] = []

    async def reader() -> None:
        # as a server's read loop does: read as soon as the wait ends
        await stream.wait_readable()
        got.append(stream.receive_nowait(10))

    for n in range(3):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.sleep(0.01)
            peer.send(b"x")
        assert got.pop() == (b"x", [])
        # asyncio: still registered after the wait, so the next wait costs no epoll_ctl
        assert _registered(stream.socket) is (anyio_backend_name == "asyncio"), n
    number = stream.socket.fileno()
    await stream.aclose()
    assert not _registered(number)


async def test_data_nobody_waits_for_drops_the_registration(
    pair: tuple[RawSocketStream, socket.socket], anyio_backend_name: str
) -> None:
    stream, peer = pair
    async with anyio.create_task_group() as tg:
        tg.start_soon(stream.wait_readable)
        await anyio.sleep(0.01)
        peer.send(b"a")
    peer.send(b"b")  # arrives with nobody waiting: the loop must not spin on it
    await anyio.sleep(0.05)
    assert not _registered(stream.socket)
    with anyio.fail_after(5):
        await stream.wait_readable()  # registers again, returns at once
    assert stream.receive_nowait(10) == (b"ab", [])
    await stream.aclose()


async def test_end_of_file_wakes_a_waiter(pair: tuple[RawSocketStream, socket.socket]) -> None:
    stream, peer = pair
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stream.wait_readable)
            await anyio.sleep(0.01)
            peer.shutdown(socket.SHUT_WR)
    assert stream.receive_nowait(10) == (b"", [])
    await stream.aclose()


async def test_interrupt_wait_ends_a_wait_and_keeps_the_socket(
    pair: tuple[RawSocketStream, socket.socket],
) -> None:
    stream, peer = pair
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_wait_until_closed, stream)
            await anyio.sleep(0.01)
            stream.interrupt_wait()
    peer.send(b"still open")
    with anyio.fail_after(5):
        await stream.wait_readable()
    assert stream.receive_nowait(20) == (b"still open", [])
    await stream.aclose()


async def test_aclose_ends_a_wait(pair: tuple[RawSocketStream, socket.socket]) -> None:
    stream, _peer = pair
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(_wait_until_closed, stream)
            await anyio.sleep(0.01)
            await stream.aclose()
    with pytest.raises(anyio.ClosedResourceError):
        await stream.wait_readable()


async def test_a_cancelled_wait_leaves_the_stream_usable(
    pair: tuple[RawSocketStream, socket.socket],
) -> None:
    stream, peer = pair
    with anyio.move_on_after(0.02):
        await stream.wait_readable()
    peer.send(b"z")
    with anyio.fail_after(5):
        assert await stream.receive() == b"z"
    await stream.aclose()


async def test_one_waiter_at_a_time(pair: tuple[RawSocketStream, socket.socket]) -> None:
    stream, peer = pair
    async with anyio.create_task_group() as tg:
        tg.start_soon(stream.wait_readable)
        await anyio.sleep(0.01)
        with pytest.raises(anyio.BusyResourceError):
            await stream.wait_readable()
        peer.send(b"x")
    await stream.aclose()


async def test_a_descriptor_number_reused_after_a_plain_close(anyio_backend_name: str) -> None:
    # A socket closed without aclose() while registered leaves the loop a stale entry for
    # its number; a new stream on the same number must still be able to wait.
    first, first_peer = socket.socketpair()
    stream = RawSocketStream(first)

    async def reader() -> None:
        await stream.wait_readable()
        assert stream.receive_nowait(10) == (b"x", [])

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        await anyio.sleep(0.01)
        first_peer.send(b"x")
    number = first.fileno()
    assert _registered(number) is (anyio_backend_name == "asyncio")
    first.close()
    first_peer.close()
    second, second_peer = socket.socketpair()
    try:
        if second.fileno() != number:
            # make the new socket take the old number
            moved = socket.socket(fileno=os.dup2(second.fileno(), number))
            second.close()
            second = moved
        again = RawSocketStream(second)
        second_peer.send(b"y")
        with anyio.fail_after(5):
            await again.wait_readable()
        assert again.receive_nowait(10) == (b"y", [])
        await again.aclose()
    finally:
        second_peer.close()
        second.close()
