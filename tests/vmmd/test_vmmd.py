"""vmmd, albatross's client wire served by netrpc's Server, Service and Program.

The raw tests talk to the ``vmmd`` command with a client written from the header layout
alone (``struct.pack(">HHHH", length, id, version, tag)``), sharing no code with netrpc.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from daemons.vmmd.__main__ import build_server
from daemons.vmmd.client import VmmClient
from daemons.vmmd.program import VmmProgram
from daemons.vmmd.wire import VMM_WIRE, VmInfo
from netrpc import RPCError
from netrpc.core.connection import Connection, ReplyReceived
from netrpc.core.errors import LocalProtocolError
from netrpc.core.state import Role

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------- an independent client


def _string(data: bytes, offset: int) -> tuple[str, int]:
    (length,) = struct.unpack_from(">H", data, offset)
    return data[offset + 2 : offset + 2 + length].decode(), offset + 2 + length


class RawVmm:
    """albatross's client side of the wire, from the header layout: nothing of netrpc."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(path)

    def send(self, ident: int, tag: int, body: bytes = b"", version: int = 0) -> None:
        self.sock.sendall(struct.pack(">HHHH", len(body), ident, version, tag) + body)

    def command(self, ident: int, tag: int, name: str | None = None) -> None:
        body = b"" if name is None else struct.pack(">H", len(name)) + name.encode()
        self.send(ident, tag, body)

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("vmmd closed the connection")
            data += chunk
        return data

    def receive(self) -> tuple[int, int, int, bytes]:
        length, ident, version, tag = struct.unpack(">HHHH", self._exactly(8))
        return ident, version, tag, self._exactly(length)

    def reply(self) -> tuple[int, int, bytes]:
        """The next reply, skipping console messages (id 0)."""
        while True:
            ident, version, tag, body = self.receive()
            assert version == 0
            if ident != 0:
                return ident, tag, body

    def close(self) -> None:
        self.sock.close()


def _vms(body: bytes) -> list[tuple[str, str, int, list[str]]]:
    vms, offset = [], 0
    while offset < len(body):
        name, offset = _string(body, offset)
        cmdline, offset = _string(body, offset)
        pid, tap_bytes = struct.unpack_from(">IQ", body, offset)
        offset += 12
        end, taps = offset + tap_bytes, []
        while offset < end:
            tap, offset = _string(body, offset)
            taps.append(tap)
        vms.append((name, cmdline, pid, taps))
    return vms


@pytest.fixture
def vmmd() -> Iterator[str]:
    """``vmmd`` in a child process with two VMs and a fast console."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vmmd.sock")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemons.vmmd", "--listen", f"unix://{path}",
             "--vm", "web", "--vm", "db:solo5-hvt --mem=64 db.hvt", "--console-interval", "0.2"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(path):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "vmmd did not start"
                time.sleep(0.05)
            yield path
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=20)
            assert proc.returncode == 0, err
            assert "Traceback" not in err, err


def test_info_from_the_header_layout(vmmd: str) -> None:
    raw = RawVmm(vmmd)
    try:
        raw.command(7, 0)
        ident, tag, body = raw.reply()
        assert (ident, tag) == (7, 0xFFF3)
        vms = _vms(body)
        assert [vm[0] for vm in vms] == ["web", "db"]
        assert vms[1][1] == "solo5-hvt --mem=64 db.hvt"
        assert all(vm[2] > 0 and vm[3] for vm in vms)
        raw.command(8, 0, "db")
        assert raw.reply() == (8, 0xFFF3, body[len(body) - len(_encode_vm(vms[1])) :])
    finally:
        raw.close()


def _encode_vm(vm: tuple[str, str, int, list[str]]) -> bytes:
    def s(text: str) -> bytes:
        return struct.pack(">H", len(text.encode())) + text.encode()

    taps = b"".join(s(t) for t in vm[3])
    return s(vm[0]) + s(vm[1]) + struct.pack(">IQ", vm[2], len(taps)) + taps


def test_failures_carry_a_message(vmmd: str) -> None:
    raw = RawVmm(vmmd)
    try:
        raw.command(1, 1, "nope")  # destroy an unknown VM
        ident, tag, body = raw.reply()
        assert (ident, tag) == (1, 0xFFFE)
        assert _string(body, 0)[0] == "destroy: no VM named 'nope'"
        raw.command(2, 9)  # a command vmmd does not know
        ident, tag, body = raw.reply()
        assert (ident, tag) == (2, 0xFFFE) and "unknown procedure" in _string(body, 0)[0]
        raw.send(3, 0, b"\x00\x09abc")  # a string cut short
        ident, tag, body = raw.reply()
        assert (ident, tag) == (3, 0xFFFE)
        # The connection goes on.
        raw.command(4, 0)
        assert raw.reply()[:2] == (4, 0xFFF3)
    finally:
        raw.close()


def test_console_output_as_unsolicited_messages(vmmd: str) -> None:
    raw = RawVmm(vmmd)
    try:
        raw.command(5, 5, "web")
        assert raw.reply() == (5, 0xFFFF, b"")
        lines = []
        while len(lines) < 3:
            ident, version, tag, body = raw.receive()
            assert (ident, version, tag) == (0, 0, 0xFFF0)
            name, offset = _string(body, 0)
            assert name == "web"
            lines.append(body[offset:])
        assert lines[0].startswith(b"[web] console line") and lines[0].endswith(b"\n")
        raw.command(6, 6, "web")
        assert raw.reply() == (6, 0xFFFF, b"")
        raw.command(7, 1, "web")
        ident, tag, body = raw.reply()
        assert (ident, tag) == (7, 0xFFFF) and _string(body, 0)[0] == "destroyed web"
    finally:
        raw.close()


def test_command_line_mistakes_name_the_option(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv, word in (
        (["--listen", "tcp://127.0.0.1:1"], "--listen 'tcp://127.0.0.1:1'"),
        (["--listen", f"unix://{tmp_path}/s", "--vm", "a b"], "--vm 'a b'"),
        (["--listen", f"unix://{tmp_path}/s", "--console-interval", "0"], "--console-interval"),
        (["--listen", f"unix://{tmp_path}/s", "--vm", "a", "--vm", "a"], "--vm a: given twice"),
    ):
        done = subprocess.run([sys.executable, "-m", "daemons.vmmd", *argv], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2, done.stderr
        assert word in done.stderr and "Traceback" not in done.stderr


# ------------------------------------------------------------------------ the netrpc client


@asynccontextmanager
async def serving(program: VmmProgram) -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s")
        server = build_server(program, [path])
        async with anyio.create_task_group() as tg:
            await tg.start(server.serve)
            try:
                yield path
            finally:
                server.shutdown(timeout=2)


@pytest.mark.anyio
async def test_netrpc_client() -> None:
    program = VmmProgram([("web", ""), ("db", "x")], console_interval=0.05)
    async with serving(program) as path, VmmClient.unix(path) as vmm:
        with anyio.fail_after(20):
            assert [vm.name for vm in await vmm.info()] == ["web", "db"]
            assert await vmm.info("db") == [VmInfo(name="db", cmdline="x", pid=4201,
                                                   taps=("tap1",))]
            with pytest.raises(RPCError, match="no VM named 'zz'"):
                await vmm.info("zz")
            async with vmm.console("db") as lines:
                first = await lines.receive()
                second = await lines.receive()
            assert first.name == second.name == "db"
            assert first.line != second.line
            with pytest.raises(RPCError, match="not attached"):
                await vmm.detach("db")
            assert await vmm.destroy("db") == "destroyed db"
            assert [vm.name for vm in await vmm.info()] == ["web"]


# ------------------------------------------------------------------------------ the wire


def test_the_wire_maps_headers_both_ways() -> None:
    client = Connection(Role.CLIENT, wire=VMM_WIRE)
    server = Connection(Role.SERVER, wire=VMM_WIRE)
    serial = client.send_call(0x766D6D30, 0, 5, b"\x00\x03web")
    assert serial == 1  # id 0 is the daemon's own
    data = b"".join(s for s in client.data_to_send() if isinstance(s, bytes))
    assert data == struct.pack(">HHHH", 5, 1, 0, 5) + b"\x00\x03web"
    server.receive_data(data, 0.0)
    call = server.next_event()
    assert call.header.procedure == 5 and call.header.serial == 1 and call.payload == b"\x00\x03web"
    server.send_error(call.header, RPCError.rpc("boom"))
    server.send_event(0x766D6D30, 0, 0xFFF0, b"\x00\x01ax", serial=0)
    out = b"".join(s for s in server.data_to_send() if isinstance(s, bytes))
    assert out == struct.pack(">HHHH", 6, 1, 0, 0xFFFE) + b"\x00\x04boom" + struct.pack(
        ">HHHH", 4, 0, 0, 0xFFF0) + b"\x00\x01ax"
    client.receive_data(out, 0.0)
    reply = client.next_event()
    assert isinstance(reply, ReplyReceived) and reply.header.status == 1
    assert VMM_WIRE.decode_error(reply.payload).message == "boom"
    with pytest.raises(LocalProtocolError, match="does not fit"):
        server.send_event(0x766D6D30, 0, 0xFFF0, bytes(70000))
    with pytest.raises(LocalProtocolError, match="no keepalive"):
        client.send_ping()
