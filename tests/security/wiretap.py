"""A recording TCP proxy (threads, so it serves any client: in-process or virsh)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Tap:
    """Bytes seen on the proxied connections, per direction (client to server: ``up``)."""

    port: int
    up: bytearray = field(default_factory=bytearray)
    down: bytearray = field(default_factory=bytearray)
    connections: int = 0


def _pump(src: socket.socket, dst: socket.socket, record: bytearray, lock: threading.Lock) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            with lock:
                record += data
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


@contextlib.contextmanager
def tapped(host: str, port: int) -> Iterator[Tap]:
    """Listen on 127.0.0.1 (free port) and forward every connection to *host*:*port*."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    tap = Tap(port=listener.getsockname()[1])
    lock = threading.Lock()
    threads: list[threading.Thread] = []
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((host, port))
            sockets.extend((client, upstream))
            tap.connections += 1
            for src, dst, rec in ((client, upstream, tap.up), (upstream, client, tap.down)):
                t = threading.Thread(target=_pump, args=(src, dst, rec, lock), daemon=True)
                t.start()
                threads.append(t)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    try:
        yield tap
    finally:
        stop.set()
        listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
        acceptor.join(timeout=5)
        for t in threads:
            t.join(timeout=5)


def split_records(data: bytes) -> tuple[list[bytes], bytes]:
    """Plain libvirt records (length word included) from the start of *data*, as long as
    they look like RPC records of the REMOTE program; returns them and the rest."""
    records = []
    pos = 0
    while len(data) - pos >= 28:
        (length,) = struct.unpack_from(">I", data, pos)
        program = struct.unpack_from(">I", data, pos + 4)[0]
        if not 28 <= length <= 65536 * 5 or program != 0x20008086 or pos + length > len(data):
            break
        records.append(data[pos : pos + length])
        pos += length
    return records, data[pos:]


def split_frames(data: bytes) -> list[bytes]:
    """SASL security layer frames (``length || token``) covering *data* exactly.

    :raises AssertionError: when *data* is not a sequence of whole frames.
    """
    frames = []
    pos = 0
    while pos < len(data):
        assert len(data) - pos >= 4, "truncated frame length"
        (length,) = struct.unpack_from(">I", data, pos)
        assert 0 < length <= 65536, f"bad frame length {length}"
        assert pos + 4 + length <= len(data), "truncated frame"
        frames.append(data[pos + 4 : pos + 4 + length])
        pos += 4 + length
    return frames
