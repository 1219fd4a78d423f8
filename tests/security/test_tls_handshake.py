"""TLS sessions: handshake helpers over in-memory streams, then real virsh/libvirtd.

The session cases follow libvirt's TLS session test: another CA, host names,
DN allow-lists, CA chains; plus revocation, stalls and the confirmation byte.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from anyio.abc import ByteStream
from anyio.streams.tls import TLSStream

from netrpc.cli import certs as certs_cli
from netrpc.security import certs
from netrpc.security.tls import (
    CONFIRMATION_BYTE,
    PeerIdentity,
    TLSAccessDenied,
    TLSContext,
    TLSHandshakeError,
    client_handshake,
    server_handshake,
)

from .certfactory import CLIENT_DN, matrix, stream_pair, write_pki

Outcome = PeerIdentity | BaseException


@dataclass
class Session:
    server: Outcome
    client: Outcome
    received: bytes | None = None  # what the server read after the handshake


async def run_session(
    server_ctx: TLSContext,
    client_ctx: TLSContext | ssl.SSLContext,
    *,
    hostname: str | None = "localhost",
    timeout: float = 5,  # noqa: ASYNC109 - passed on to the helpers under test
) -> Session:
    """Run both handshake helpers against each other; collect what each side got."""
    server_end, client_end = stream_pair()
    session = Session(server=RuntimeError("not run"), client=RuntimeError("not run"))

    async def server() -> None:
        try:
            tls, session.server = await server_handshake(server_end, server_ctx, timeout=timeout)
        except Exception as exc:
            session.server = exc
            return
        async with tls:
            try:
                session.received = await tls.receive()
            except anyio.EndOfStream:
                session.received = b""

    async def client() -> None:
        if isinstance(client_ctx, ssl.SSLContext):
            # A bare ssl client (e.g. without a certificate): not our helper.
            try:
                tls = await TLSStream.wrap(
                    client_end, hostname=hostname, ssl_context=client_ctx, standard_compatible=False
                )
                session.client = RuntimeError(f"read {await tls.receive()!r}")
            except Exception as exc:
                session.client = exc
            await anyio.aclose_forcefully(client_end)
            return
        try:
            tls, session.client = await client_handshake(
                client_end, client_ctx, hostname=hostname, timeout=timeout
            )
        except Exception as exc:
            session.client = exc
            return
        async with tls:
            await tls.send(b"ping")

    with anyio.fail_after(timeout + 5):
        async with server_end, client_end, anyio.create_task_group() as tg:
            tg.start_soon(server)
            tg.start_soon(client)
    return session


@dataclass(frozen=True)
class Dirs:
    server: Path
    client: Path
    foreign_client: Path  # client cert from another CA (trusts our CA for the server)
    foreign_server: Path  # server cert from another CA
    revoking_server: Path  # cacrl.pem revokes the normal client
    chain_server: Path
    chain_client: Path
    ca_client: Path  # client cert with CA:TRUE that OpenSSL still accepts


@pytest.fixture(scope="session")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> Dirs:
    m = matrix()
    base = tmp_path_factory.mktemp("pki")
    chain_cas = [m.chain_root, m.chain_l1a, m.chain_l1b, m.chain_l2a]
    ca_client = certs.make_cert(
        "C=UK,CN=ca client",
        issuer=m.ca,
        is_ca=True,
        key_usage=["key_cert_sign", "digital_signature", "key_encipherment"],
    )
    return Dirs(
        server=write_pki(base / "server", role="server", cas=[m.ca], leaf=m.server),
        client=write_pki(base / "client", role="client", cas=[m.ca], leaf=m.client),
        foreign_client=write_pki(
            base / "foreign_client", role="client", cas=[m.ca, m.other_ca], leaf=m.other_client
        ),
        foreign_server=write_pki(
            base / "foreign_server",
            role="server",
            cas=[m.ca, m.other_ca],
            leaf=certs.make_server_cert(m.other_ca, ["localhost"]),
        ),
        revoking_server=write_pki(
            base / "revoking_server",
            role="server",
            cas=[m.ca],
            leaf=m.server,
            crl=certs.make_crl(m.ca, [m.client.certificate]),
        ),
        chain_server=write_pki(
            base / "chain_server", role="server", cas=chain_cas, leaf=m.chain_server
        ),
        chain_client=write_pki(
            base / "chain_client", role="client", cas=chain_cas, leaf=m.chain_client
        ),
        ca_client=write_pki(base / "ca_client", role="client", cas=[m.ca], leaf=ca_client),
    )


def server(dirs: Dirs, allowed: list[str] | None = None, *, verify_peer: bool = True) -> TLSContext:
    return TLSContext.server_from_pki(dirs.server, allowed_dns=allowed, verify_peer=verify_peer)


def client(dirs: Dirs) -> TLSContext:
    return TLSContext.client_from_pki(dirs.client)


def refused_by_server(session: Session, exc_type: type[Exception], match: str) -> None:
    assert isinstance(session.server, exc_type), session.server
    assert match in str(session.server), session.server
    assert isinstance(session.client, TLSHandshakeError), session.client
    assert session.received is None


# -- successful sessions ------------------------------------------------------------


async def test_good_pair(dirs: Dirs) -> None:
    session = await run_session(server(dirs), client(dirs))
    assert isinstance(session.server, PeerIdentity)
    assert session.server.dn == CLIENT_DN
    assert session.server.issuer_dn == "C=UK,CN=Libvirt Test CA"
    assert session.server.verified
    assert isinstance(session.client, PeerIdentity)
    assert session.client.dn == "C=UK,CN=libvirt.org"
    # The confirmation byte was consumed by the client helper, not left in the stream.
    assert session.received == b"ping"


async def test_confirmation_byte_on_the_wire(dirs: Dirs) -> None:
    server_end, client_end = stream_pair()
    ctx = client(dirs).ssl_context

    async def serve() -> None:
        await server_handshake(server_end, server(dirs), timeout=5)

    with anyio.fail_after(10):
        async with server_end, client_end, anyio.create_task_group() as tg:
            tg.start_soon(serve)
            tls = await TLSStream.wrap(
                client_end, hostname="localhost", ssl_context=ctx, standard_compatible=False
            )
            assert await tls.receive() == CONFIRMATION_BYTE
            await tls.aclose()


@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1", "::1"])
async def test_hostnames_in_san(dirs: Dirs, hostname: str) -> None:
    session = await run_session(server(dirs), client(dirs), hostname=hostname)
    assert isinstance(session.client, PeerIdentity)


async def test_chain(dirs: Dirs) -> None:
    session = await run_session(
        TLSContext.server_from_pki(dirs.chain_server),
        TLSContext.client_from_pki(dirs.chain_client),
    )
    assert isinstance(session.server, PeerIdentity)
    assert session.server.issuer_dn == "C=UK,CN=chain level 1b"
    assert session.received == b"ping"


async def test_reload_applies_to_new_sessions(dirs: Dirs, tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server)
    ctx = TLSContext.server_from_pki(directory)
    first = await run_session(ctx, client(dirs))
    assert isinstance(first.client, PeerIdentity)
    assert first.client.dn == "C=UK,CN=libvirt.org"

    write_pki(
        directory,
        role="server",
        cas=[m.ca],
        leaf=certs.make_server_cert(m.ca, ["localhost"], subject="C=UK,CN=renewed"),
    )
    await anyio.to_thread.run_sync(ctx.reload)
    second = await run_session(ctx, client(dirs))
    assert isinstance(second.client, PeerIdentity)
    assert second.client.dn == "C=UK,CN=renewed"


# -- refusals ---------------------------------------------------------------------


async def test_client_from_another_ca(dirs: Dirs) -> None:
    session = await run_session(server(dirs), TLSContext.client_from_pki(dirs.foreign_client))
    refused_by_server(session, TLSHandshakeError, "TLS handshake failed")


async def test_server_from_another_ca(dirs: Dirs) -> None:
    session = await run_session(TLSContext.server_from_pki(dirs.foreign_server), client(dirs))
    assert isinstance(session.client, TLSHandshakeError)
    assert "CERTIFICATE_VERIFY_FAILED" in str(session.client)
    assert isinstance(session.server, TLSHandshakeError)


async def test_hostname_mismatch_refused_by_client(dirs: Dirs) -> None:
    session = await run_session(server(dirs), client(dirs), hostname="wrong.example.org")
    assert isinstance(session.client, TLSHandshakeError)
    assert "Hostname mismatch" in str(session.client)
    assert isinstance(session.server, TLSHandshakeError)
    assert session.received is None


async def test_revoked_client(dirs: Dirs) -> None:
    session = await run_session(TLSContext.server_from_pki(dirs.revoking_server), client(dirs))
    refused_by_server(session, TLSHandshakeError, "CERTIFICATE_VERIFY_FAILED")
    assert "revoked" in str(session.server)


async def test_client_without_certificate(dirs: Dirs) -> None:
    bare = ssl.create_default_context(cafile=dirs.client / "cacert.pem")
    session = await run_session(server(dirs), bare)
    assert isinstance(session.server, TLSHandshakeError)
    assert not isinstance(session.client, PeerIdentity)


async def test_client_certificate_failing_session_check(dirs: Dirs) -> None:
    # OpenSSL accepts a CA:TRUE client certificate; libvirt's session rule does not.
    session = await run_session(
        server(dirs), TLSContext.client_from_pki(dirs.ca_client, sanity_check=False)
    )
    refused_by_server(session, TLSAccessDenied, "basic constraints mark it as a CA")
    assert "C=UK,CN=ca client" in str(session.server)


async def test_verify_peer_off_accepts_anonymous_client(dirs: Dirs) -> None:
    bare = ssl.create_default_context(cafile=dirs.client / "cacert.pem")
    session = await run_session(server(dirs, verify_peer=False), bare)
    assert isinstance(session.server, PeerIdentity)
    assert session.server.dn is None
    assert not session.server.verified


@pytest.mark.parametrize(
    ("allowed", "ok"),
    [
        (None, True),
        ([], False),
        (["C=UK,CN=dogfood"], False),
        (["C=UK,CN=libvirt"], True),
        (["C=UK,CN=dogfood", "C=UK,CN=libvirt"], True),
        (["C=UK,CN=libvirtstuff"], False),
        (["C=UK,CN=libvirt*"], True),
        (["C=UK,CN=*virt*"], True),
        (["*virt*"], True),
        (["CN=libvirt*"], False),
    ],
)
async def test_dn_allow_list(dirs: Dirs, allowed: list[str] | None, ok: bool) -> None:
    session = await run_session(server(dirs, allowed), client(dirs))
    if ok:
        assert isinstance(session.server, PeerIdentity)
        assert session.received == b"ping"
    else:
        refused_by_server(session, TLSAccessDenied, f"{CLIENT_DN!r} is not on the list")
        assert "closed the connection instead of confirming" in str(session.client)


# -- stalls -----------------------------------------------------------------------


async def test_server_handshake_times_out_on_silent_client(dirs: Dirs) -> None:
    server_end, client_end = stream_pair()
    started = time.monotonic()
    async with client_end:
        with pytest.raises(TimeoutError):
            await server_handshake(server_end, server(dirs), timeout=0.2)
        assert time.monotonic() - started < 2
        # The helper closed its end, so the peer sees EOF.
        with pytest.raises(anyio.EndOfStream):
            await client_end.receive()


async def test_client_handshake_times_out_on_silent_server(dirs: Dirs) -> None:
    server_end, client_end = stream_pair()
    async with server_end:
        with pytest.raises(TimeoutError):
            await client_handshake(client_end, client(dirs), hostname="localhost", timeout=0.2)
        assert await server_end.receive()  # the ClientHello, sent before the stall
        with pytest.raises(anyio.EndOfStream):
            await server_end.receive()


async def test_client_times_out_waiting_for_confirmation(dirs: Dirs) -> None:
    # A server that completes TLS but never sends the confirmation byte.
    server_end, client_end = stream_pair()

    async def mute_server() -> None:
        tls = await TLSStream.wrap(
            server_end, server_side=True, ssl_context=server(dirs).ssl_context
        )
        await anyio.sleep_forever()
        await tls.aclose()

    with anyio.fail_after(10):
        async with server_end, client_end, anyio.create_task_group() as tg:
            tg.start_soon(mute_server)
            with pytest.raises(TimeoutError):
                await client_handshake(client_end, client(dirs), hostname="localhost", timeout=0.5)
            tg.cancel_scope.cancel()


# -- real libvirt peers -----------------------------------------------------------

VIRSH = shutil.which("virsh")
LIBVIRTD = shutil.which("libvirtd") or shutil.which("libvirtd", path="/usr/sbin")
REMOTE_PROGRAM = 0x20008086
AUTH_LIST = 66


def cli_pki(base: Path) -> Path:
    """A PKI directory made by the netrpc-certs command itself."""
    out = base / "cli-pki"
    if not out.exists():
        argv = ["--out", str(out), "--host", "127.0.0.1", "--host", "localhost"]
        assert certs_cli.main([*argv, "--client", "admin", "--client", "bob"]) == 0
        bob = base / "bob"
        assert certs_cli.main(["--ca-dir", str(out), "--out", str(bob), "--client", "bob"]) == 0
    return out


async def serve_one(
    ctx: TLSContext,
    results: dict[str, object],
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Accept one TCP connection, run server_handshake, read the first RPC header."""
    multi = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    listener = multi.listeners[0]
    assert isinstance(listener, anyio.abc.SocketListener)
    async with multi:
        task_status.started(listener.extra(anyio.abc.SocketAttribute.local_port))
        stream: ByteStream = await listener.accept()
        try:
            tls, identity = await server_handshake(stream, ctx, timeout=10)
        except Exception as exc:
            results["error"] = exc
            return
        async with tls:
            results["dn"] = identity.dn
            header = b""
            while len(header) < 28:
                header += await tls.receive()
            results["header"] = struct.unpack(">IIIiiIi", header[:28])


async def run_virsh(port: int, pki: Path) -> subprocess.CompletedProcess[bytes]:
    uri = f"test+tls://127.0.0.1:{port}/default?pkipath={pki}"
    with anyio.fail_after(30):
        return await anyio.run_process([VIRSH or "virsh", "-c", uri, "list", "--all"], check=False)


@pytest.mark.interop
@pytest.mark.skipif(VIRSH is None, reason="virsh is not installed")
async def test_virsh_accepts_our_confirmation(tmp_path: Path) -> None:
    pki = cli_pki(tmp_path)
    results: dict[str, object] = {}
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_one, TLSContext.server_from_pki(pki), results)
        await run_virsh(port, pki)
    # virsh read the confirmation byte and sent its first call, AUTH_LIST.
    assert results["dn"] == "O=netrpc,CN=admin"
    header = results["header"]
    assert isinstance(header, tuple)
    length, program, _version, procedure, msg_type, _serial, status = header
    assert (program, procedure, msg_type, status) == (REMOTE_PROGRAM, AUTH_LIST, 0, 0)
    assert length >= 28


@pytest.mark.interop
@pytest.mark.skipif(VIRSH is None, reason="virsh is not installed")
async def test_virsh_denied_by_dn_list(tmp_path: Path) -> None:
    pki = cli_pki(tmp_path)
    results: dict[str, object] = {}
    ctx = TLSContext.server_from_pki(pki, allowed_dns=["O=netrpc,CN=admin"])
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve_one, ctx, results)
        done = await run_virsh(port, tmp_path / "bob")
    assert isinstance(results["error"], TLSAccessDenied)
    assert "'O=netrpc,CN=bob'" in str(results["error"])
    assert done.returncode != 0
    assert b"Unable to read TLS confirmation" in done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def libvirtd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A private libvirtd (test driver only) serving TLS with netrpc-certs files."""
    if LIBVIRTD is None:
        pytest.skip("libvirtd is not installed")
    base = tmp_path_factory.mktemp("libvirtd")
    pki = cli_pki(base)
    (base / "sock").mkdir()
    (base / "drivers").mkdir()
    port = free_port()
    (base / "libvirtd.conf").write_text(
        "\n".join(
            [
                "listen_tls = 1",
                "listen_tcp = 0",
                'listen_addr = "127.0.0.1"',
                f'tls_port = "{port}"',
                'auth_tls = "none"',
                'auth_unix_rw = "none"',
                'auth_unix_ro = "none"',
                f'unix_sock_dir = "{base / "sock"}"',
                f'key_file = "{pki / "serverkey.pem"}"',
                f'cert_file = "{pki / "servercert.pem"}"',
                f'ca_file = "{pki / "cacert.pem"}"',
                f'log_outputs = "3:file:{base / "libvirtd.log"}"',
                "",
            ]
        )
    )
    env = dict(os.environ, LIBVIRT_DRIVER_DIR=str(base / "drivers"))
    proc = subprocess.Popen(
        [LIBVIRTD, "--listen", "-f", str(base / "libvirtd.conf"), "-p", str(base / "pid")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"libvirtd did not start: {(base / 'libvirtd.log').read_text()}")
                time.sleep(0.1)
        yield port, base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.libvirtd
@pytest.mark.skipif(VIRSH is None, reason="virsh is not installed")
def test_libvirtd_and_virsh_accept_generated_pki(libvirtd: tuple[int, Path]) -> None:
    port, base = libvirtd
    uri = f"test+tls://127.0.0.1:{port}/default?pkipath={base / 'cli-pki'}"
    done = subprocess.run(
        [VIRSH or "virsh", "-c", uri, "list", "--all"], capture_output=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert b" test " in done.stdout


@pytest.mark.libvirtd
async def test_client_handshake_against_libvirtd(libvirtd: tuple[int, Path]) -> None:
    port, base = libvirtd
    ctx = TLSContext.client_from_pki(base / "cli-pki")
    stream = await anyio.connect_tcp("127.0.0.1", port)
    tls, identity = await client_handshake(stream, ctx, hostname="127.0.0.1", timeout=10)
    await tls.aclose()
    assert identity.dn == "O=netrpc,CN=127.0.0.1"


@pytest.mark.libvirtd
async def test_libvirtd_refuses_client_from_another_ca(
    libvirtd: tuple[int, Path], tmp_path: Path
) -> None:
    port, base = libvirtd
    m = matrix()
    server_ca = (base / "cli-pki" / "cacert.pem").read_bytes()
    directory = write_pki(tmp_path, role="client", cas=[m.other_ca], leaf=m.other_client)
    (directory / "cacert.pem").write_bytes(server_ca + m.other_ca.cert_pem())
    ctx = TLSContext.client_from_pki(directory)
    stream = await anyio.connect_tcp("127.0.0.1", port)
    with pytest.raises(TLSHandshakeError, match="instead of confirming"):
        await client_handshake(stream, ctx, hostname="127.0.0.1", timeout=10)
