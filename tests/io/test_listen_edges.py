"""Binding sockets: a busy live server keeps its socket, the umask is never touched,
permissions hold from the first moment, errors name the endpoint, mDNS advertises only
the addresses a service listens on."""

from __future__ import annotations

import errno
import os
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from netrpc import Server, Service

from .helpers import SampleProgram
from .test_advertise import FakeAdvertiser

pytestmark = pytest.mark.anyio


@pytest.fixture
def tmp() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as path:
        yield path


def _fill_backlog(path: str) -> tuple[socket.socket, list[socket.socket]]:
    """A live listener at *path* whose accept queue is full."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(0)
    waiting = []
    for _ in range(64):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:
            sock.close()
            return server, waiting
        waiting.append(sock)
    raise AssertionError("the backlog never filled")


async def test_live_server_with_a_full_backlog_keeps_its_socket(tmp: str) -> None:
    path = os.path.join(tmp, "busy")
    live, waiting = _fill_backlog(path)
    try:
        service = Service.unix(path)
        with pytest.raises(OSError, match="already listening") as info:
            await service.listen(16)
        assert info.value.errno == errno.EADDRINUSE
        assert str(info.value) == (
            f"cannot listen on unix://{path}: a server is already listening on this socket"
        )
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        # The live server is still reachable through its path once it accepts.
        live.setblocking(False)
        for _ in waiting:
            live.accept()[0].close()
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(path)
        probe.close()
        assert not service.listeners
        assert sorted(os.listdir(tmp)) == ["busy"]
    finally:
        for sock in waiting:
            sock.close()
        live.close()


async def test_a_file_in_the_way_is_never_replaced(tmp: str) -> None:
    path = os.path.join(tmp, "file")
    Path(path).write_text("keep me")
    with pytest.raises(OSError, match=f"cannot listen on unix://{path}: a file that is not"):
        await Service.unix(path).listen(16)
    assert Path(path).read_text() == "keep me"


async def test_binding_never_changes_the_umask(tmp: str) -> None:
    """Other threads create files while sockets are bound: their modes follow the
    process umask throughout."""
    old = os.umask(0o022)
    stop = threading.Event()
    modes: set[int] = set()

    def create_files() -> None:
        n = 0
        while not stop.is_set():
            name = os.path.join(tmp, f"f{n % 50}")
            fd = os.open(name, os.O_CREAT | os.O_WRONLY, 0o666)
            os.close(fd)
            modes.add(stat.S_IMODE(os.stat(name).st_mode))
            os.unlink(name)
            n += 1

    thread = threading.Thread(target=create_files)
    thread.start()
    try:
        for i in range(40):
            service = Service.unix(os.path.join(tmp, f"s{i}"), mode=0o600)
            await service.listen(16)
            await service.aclose()
    finally:
        stop.set()
        thread.join()
        os.umask(old)
    assert modes == {0o644}


@pytest.mark.parametrize("mode", [0o600, 0o660, 0o666])
async def test_the_socket_appears_with_its_final_mode(tmp: str, mode: int) -> None:
    """Whoever sees the path sees the final mode: watch the directory while binding."""
    path = os.path.join(tmp, "sock")
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                seen.append(stat.S_IMODE(os.lstat(path).st_mode))
            except FileNotFoundError:
                pass

    old = os.umask(0)  # the loosest: a socket bound in place would start as 0777
    thread = threading.Thread(target=watch)
    thread.start()
    try:
        for _ in range(20):
            service = Service.unix(path, mode=mode)
            await service.listen(16)
            await service.aclose()
    finally:
        stop.set()
        thread.join()
        os.umask(old)
    assert set(seen) <= {mode}
    assert os.listdir(tmp) == []


async def test_long_socket_paths_still_bind_with_their_mode(tmp: str) -> None:
    directory = os.path.join(tmp, "d" * (100 - len(tmp)))
    os.mkdir(directory)
    path = os.path.join(directory, "s")
    assert len(path) < 108
    service = Service.unix(path, mode=0o640)
    await service.listen(16)
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        assert service.addresses == [path]
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.connect(path)
        probe.close()
    finally:
        await service.aclose()
    assert os.listdir(directory) == []


async def test_addresses_of_a_unix_service_are_its_path(tmp: str) -> None:
    path = os.path.join(tmp, "sock")
    service = Service.unix(path)
    await service.listen(16)
    try:
        assert service.addresses == [path]
        assert os.listdir(tmp) == ["sock"]  # no private directory left over
    finally:
        await service.aclose()


async def test_port_in_use_names_the_endpoint() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        server = Server("t", programs=[SampleProgram()])
        server.add_service(Service.tcp("127.0.0.1", port))
        with pytest.raises(OSError, match="address already in use") as info:
            await server.serve()
        assert info.value.errno == errno.EADDRINUSE
        assert str(info.value) == f"cannot listen on tcp://127.0.0.1:{port}: address already in use"
    finally:
        taken.close()


async def test_missing_directory_names_the_endpoint(tmp: str) -> None:
    path = os.path.join(tmp, "missing", "sock")
    with pytest.raises(OSError, match=f"^cannot listen on unix://{path}: cannot create a socket in {tmp}/missing: no such file"):
        await Service.unix(path).listen(16)


async def test_mdns_advertises_only_the_bound_addresses() -> None:
    fake = FakeAdvertiser()
    server = Server("adv", programs=[SampleProgram()])
    tcp = server.add_service(Service.tcp("127.0.0.1", 0))
    server.advertise(fake, name="host")
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        port = tcp.ports[0]
        with anyio.fail_after(5):
            while not fake.published:
                await anyio.sleep(0.01)
        server.shutdown()
    [published] = fake.published
    assert published["port"] == port
    assert fake.addresses == [["127.0.0.1"]]
