"""TLS at the server level: netrpc Server + Service.tls against netrpc Client.tls.

Every async test runs on asyncio and on trio. Certificates come from the shared
matrix (tests/security/certfactory.py); each test gets its own PKI directories.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import anyio
import pytest
from anyio.abc import SocketAttribute

from netrpc import Call, Client, Program, Server, Service, procedure
from netrpc.core import xdr
from netrpc.core.errors import ConnectionLostError
from netrpc.core.protocol import Header, MessageStatus, MessageType, encode_message
from netrpc.security import certs
from netrpc.security.tls import TLSConfigError, TLSContext, TLSHandshakeError, client_handshake

from .certfactory import CLIENT_DN, matrix, write_pki

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = 0x20241515
REMOTE_PROGRAM = 0x20008086
AUTH_LIST = 66
LOG = "netrpc.server"


@xdr.struct
class Text:
    text: Annotated[str, xdr.String(1024)]


TEXT = xdr.codec_for(Text)


class EchoProgram(Program):
    """Procedure 1 echoes and records who called it."""

    number, version = PROGRAM, 1

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, bool]] = []

    @procedure(1, args=Text, ret=Text, readonly=True, inline=True)
    def echo(self, call: Call, args: Text) -> Text:
        self.calls.append((call.client.identity.tls_dn, call.client.authenticated))
        return Text(args.text)


async def echo(client: Client, text: str = "hello") -> str:
    payload = await client.call(PROGRAM, 1, 1, TEXT.encode(Text(text)))
    answer: str = TEXT.decode(payload).text
    return answer


@dataclass
class Pki:
    server: Path
    client: Path
    foreign_client: Path  # issued by another CA; trusts our CA for the server
    expired_client: Path
    inactive_client: Path
    intruder_client: Path  # same CA, DN C=UK,CN=intruder
    revoking_server: Path  # its cacrl.pem revokes the normal client


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    m = matrix()
    intruder = certs.make_client_cert(m.ca, "intruder", subject="C=UK,CN=intruder")
    return Pki(
        server=write_pki(tmp_path / "server", role="server", cas=[m.ca], leaf=m.server),
        client=write_pki(tmp_path / "client", role="client", cas=[m.ca], leaf=m.client),
        foreign_client=write_pki(
            tmp_path / "foreign", role="client", cas=[m.ca, m.other_ca], leaf=m.other_client
        ),
        expired_client=write_pki(
            tmp_path / "expired", role="client", cas=[m.ca], leaf=m.clients["expired"]
        ),
        inactive_client=write_pki(
            tmp_path / "inactive", role="client", cas=[m.ca], leaf=m.clients["inactive"]
        ),
        intruder_client=write_pki(tmp_path / "intruder", role="client", cas=[m.ca], leaf=intruder),
        revoking_server=write_pki(
            tmp_path / "revoking",
            role="server",
            cas=[m.ca],
            leaf=m.server,
            crl=certs.make_crl(m.ca, [m.client.certificate]),
        ),
    )


def client_ctx(directory: Path, *, sanity_check: bool = True) -> TLSContext:
    return TLSContext.client_from_pki(directory, sanity_check=sanity_check)


@contextlib.asynccontextmanager
async def serving(
    *services: Service, program: EchoProgram | None = None
) -> AsyncIterator[tuple[Server, EchoProgram]]:
    prog = program or EchoProgram()
    server = Server("tls-test", programs=[prog])
    for service in services:
        server.add_service(service)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        try:
            yield server, prog
        finally:
            server.shutdown(timeout=5)


def port_of(server: Server, index: int = 0) -> int:
    port = server.services[index].port_bound
    assert port is not None
    return port


def tls_client(
    port: int, ctx: TLSContext, hostname: str = "localhost"
) -> contextlib.AbstractAsyncContextManager[Client]:
    return Client.tls("127.0.0.1", port, ctx, hostname=hostname, handshake_timeout=10)


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOG and r.levelno >= logging.WARNING and text in r.getMessage()
    ]


async def refused(port: int, ctx: TLSContext, match: str, hostname: str = "localhost") -> None:
    with pytest.raises(TLSHandshakeError, match=match):
        async with tls_client(port, ctx, hostname):
            pytest.fail("the client got a session")


async def wait_for(predicate: object, timeout: float = 5) -> None:  # noqa: ASYNC109
    with anyio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await anyio.sleep(0.01)


# -- a good chain -------------------------------------------------------------------------


async def test_good_chain_serves_and_records_the_dn(pki: Pki) -> None:
    async with serving(Service.tls(TLSContext.server_from_pki(pki.server))) as (server, prog):
        async with tls_client(port_of(server), client_ctx(pki.client)) as client:
            assert await echo(client) == "hello"
            [connected] = server.clients.values()
            assert connected.identity.tls_dn == CLIENT_DN == "C=UK,CN=libvirt"
            assert connected.identity.transport.name == "TLS"
            assert connected.identity.address is not None
            assert connected.identity.address.startswith("127.0.0.1:")
            assert connected.authenticated
        assert prog.calls == [(CLIENT_DN, True)]


async def test_client_checks_host_names_in_the_san(pki: Pki) -> None:
    async with serving(Service.tls(TLSContext.server_from_pki(pki.server))) as (server, _):
        for hostname in ("localhost", "127.0.0.1"):
            async with tls_client(port_of(server), client_ctx(pki.client), hostname) as client:
                assert await echo(client, hostname) == hostname


# -- refused clients ------------------------------------------------------------------------


async def test_client_from_another_ca_refused(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOG)
    async with serving(Service.tls(TLSContext.server_from_pki(pki.server))) as (server, prog):
        await refused(port_of(server), client_ctx(pki.foreign_client), "refused|instead of")
        await wait_for(lambda: warnings_about(caplog, "TLS handshake with"))
        # The server keeps serving good clients.
        async with tls_client(port_of(server), client_ctx(pki.client)) as client:
            assert await echo(client) == "hello"
    [line] = warnings_about(caplog, "TLS handshake with")
    # OpenSSL names the unknown issuer; the client sent its root along (it trusts it).
    assert "TLS handshake failed: CERTIFICATE_VERIFY_FAILED: " in line
    assert "self-signed certificate in certificate chain" in line or "local issuer" in line
    assert prog.calls == [(CLIENT_DN, True)]


@pytest.mark.parametrize(
    ("which", "reason"),
    [("expired_client", "certificate has expired"), ("inactive_client", "not yet valid")],
)
async def test_client_outside_validity_refused(
    pki: Pki, caplog: pytest.LogCaptureFixture, which: str, reason: str
) -> None:
    caplog.set_level(logging.WARNING, LOG)
    # The client must skip its own load-time audit to even present such a certificate.
    with pytest.raises(TLSConfigError, match=r"clientcert\.pem: certificate"):
        client_ctx(getattr(pki, which))
    bad = client_ctx(getattr(pki, which), sanity_check=False)
    async with serving(Service.tls(TLSContext.server_from_pki(pki.server))) as (server, prog):
        await refused(port_of(server), bad, "refused|instead of")
        await wait_for(lambda: warnings_about(caplog, reason))
    [line] = warnings_about(caplog, "TLS handshake with")
    assert "127.0.0.1:" in line and reason in line
    assert prog.calls == []


async def test_revoked_client_refused(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOG)
    ctx = TLSContext.server_from_pki(pki.revoking_server)
    assert len(ctx.crls) == 1
    async with serving(Service.tls(ctx)) as (server, prog):
        await refused(port_of(server), client_ctx(pki.client), "refused|instead of")
        await wait_for(lambda: warnings_about(caplog, "certificate revoked"))
        # Another client of the same CA, not on the CRL, gets in.
        async with tls_client(port_of(server), client_ctx(pki.intruder_client)) as client:
            assert await echo(client) == "hello"
    assert prog.calls == [("C=UK,CN=intruder", True)]


async def test_dn_allow_list_accepts_and_denies(pki: Pki, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, LOG)
    ctx = TLSContext.server_from_pki(pki.server, allowed_dns=["C=UK,CN=libv*"])
    async with serving(Service.tls(ctx)) as (server, prog):
        port = port_of(server)
        async with tls_client(port, client_ctx(pki.client)) as client:
            assert await echo(client) == "hello"
        # The denied client completes the TLS handshake but gets no confirmation byte,
        # hence no RPC at all.
        await refused(port, client_ctx(pki.intruder_client), "instead of confirming")
        await wait_for(lambda: warnings_about(caplog, "C=UK,CN=intruder"))
        await wait_for(lambda: server.nclients == 0)
    assert prog.calls == [(CLIENT_DN, True)]
    [line] = warnings_about(caplog, "TLS handshake with")
    assert line.startswith("tls-test: TLS handshake with 127.0.0.1:")
    assert (
        "client's distinguished name 'C=UK,CN=intruder' is not on the list of allowed "
        "clients (tls_allowed_dn_list)" in line
    )


async def test_empty_allow_list_denies_everyone(pki: Pki) -> None:
    ctx = TLSContext.server_from_pki(pki.server, allowed_dns=[])
    async with serving(Service.tls(ctx)) as (server, prog):
        await refused(port_of(server), client_ctx(pki.client), "instead of confirming")
    assert prog.calls == []


async def test_hostname_mismatch_refused_by_the_client(pki: Pki) -> None:
    async with serving(Service.tls(TLSContext.server_from_pki(pki.server))) as (server, prog):
        await refused(
            port_of(server), client_ctx(pki.client), "Hostname mismatch", hostname="example.org"
        )
        await wait_for(lambda: server.nclients == 0)
    assert prog.calls == []


# -- wrong protocol on a port ---------------------------------------------------------------


def auth_list_call() -> bytes:
    header = Header(REMOTE_PROGRAM, 1, AUTH_LIST, MessageType.CALL, 1, MessageStatus.OK)
    return encode_message(header)


async def test_plain_rpc_to_a_tls_port_is_refused(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOG)
    async with serving(Service.tls(TLSContext.server_from_pki(pki.server))) as (server, prog):
        port = port_of(server)
        # Through the netrpc client: the call fails because the connection is closed.
        async with Client.tcp("127.0.0.1", port) as plain:
            with anyio.fail_after(10), pytest.raises(ConnectionLostError):
                await plain.call(REMOTE_PROGRAM, 1, AUTH_LIST, b"")
        # Raw bytes: the server answers nothing readable as RPC and closes.
        raw = await anyio.connect_tcp("127.0.0.1", port)
        async with raw:
            await raw.send(auth_list_call())
            received = b""
            with anyio.fail_after(10):
                try:
                    while True:
                        received += await raw.receive()
                except (anyio.EndOfStream, anyio.BrokenResourceError):
                    pass
            # At most a TLS alert record (content type 21), never an RPC reply.
            assert received == b"" or received[0] == 21
        await wait_for(lambda: len(warnings_about(caplog, "TLS handshake with")) == 2)
        # Other clients are still served.
        async with tls_client(port, client_ctx(pki.client)) as client:
            assert await echo(client) == "hello"
    for line in warnings_about(caplog, "TLS handshake with"):
        assert "TLS handshake failed:" in line
    assert not [r for r in caplog.records if r.exc_info]
    assert prog.calls == [(CLIENT_DN, True)]


async def test_tls_client_hello_to_a_plain_port_fails_cleanly(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, LOG)
    async with serving(Service.tcp("127.0.0.1", 0)) as (server, prog):
        port = port_of(server)
        with pytest.raises(TLSHandshakeError, match="TLS handshake failed"):
            async with tls_client(port, client_ctx(pki.client)):
                pytest.fail("got a TLS session from a plain port")
        await wait_for(lambda: server.nclients == 0)
        async with Client.tcp("127.0.0.1", port) as client:
            assert await echo(client) == "hello"
    # The ClientHello is read as an RPC length word: bad framing, closed, no traceback.
    [line] = [
        r.getMessage()
        for r in caplog.records
        if r.name == LOG and r.getMessage().startswith("closing connection from 127.0.0.1:")
    ]
    assert "bytes received too large, want 33554432" in line
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert prog.calls == [(None, True)]


# -- handshake timeout ------------------------------------------------------------------------


async def test_stalled_handshake_times_out_while_others_are_served(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOG)
    ctx = TLSContext.server_from_pki(pki.server)
    timeout = 1.0
    async with serving(Service.tls(ctx, handshake_timeout=timeout)) as (server, prog):
        port = port_of(server)
        stalled = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(3)]
        started = time.monotonic()
        addresses = {f"127.0.0.1:{raw.extra(SocketAttribute.local_port)}" for raw in stalled}
        try:
            await wait_for(lambda: server.nclients == 3)
            # While three connections sit in their handshake, good clients come and go.
            for i in range(3):
                async with tls_client(port, client_ctx(pki.client)) as client:
                    assert await echo(client, str(i)) == str(i)
            assert time.monotonic() - started < timeout
            await wait_for(lambda: server.nclients == 3, timeout / 2)
            # Then each stalled connection is closed by the server.
            for raw in stalled:
                with anyio.fail_after(timeout + 5):
                    with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                        await raw.receive()
            assert time.monotonic() - started >= timeout * 0.9
            await wait_for(lambda: server.nclients == 0)
        finally:
            for raw in stalled:
                await raw.aclose()
    lines = warnings_about(caplog, "TLS handshake with")
    assert len(lines) == 3
    assert {line.split()[4].rstrip(":") for line in lines} == addresses
    assert prog.calls == [(CLIENT_DN, True)] * 3


async def test_stalled_handshake_log_says_it_timed_out(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOG)
    ctx = TLSContext.server_from_pki(pki.server)
    async with serving(Service.tls(ctx, handshake_timeout=0.3)) as (server, _):
        async with await anyio.connect_tcp("127.0.0.1", port_of(server)) as raw:
            with anyio.fail_after(5), pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await raw.receive()
        await wait_for(lambda: warnings_about(caplog, "TLS handshake with"))
    [line] = warnings_about(caplog, "TLS handshake with")
    assert "timed out after 0.3 s" in line


# -- certificate reload -----------------------------------------------------------------------


async def test_reload_new_connections_use_new_certs_old_one_keeps_working(
    pki: Pki, tmp_path: Path
) -> None:
    m = matrix()
    new_ca = certs.make_ca("C=UK,CN=Rotated CA")
    new_server = certs.make_server_cert(new_ca, ["localhost", "127.0.0.1"], subject="C=UK,CN=new")
    new_client = write_pki(
        tmp_path / "new_client",
        role="client",
        cas=[new_ca],
        leaf=certs.make_client_cert(new_ca, "rotated", subject="C=UK,CN=rotated"),
    )
    ctx = TLSContext.server_from_pki(pki.server)
    assert ctx.certificate == m.server.certificate
    async with serving(Service.tls(ctx)) as (server, prog):
        port = port_of(server)
        with pytest.raises(TLSHandshakeError):
            async with tls_client(port, client_ctx(new_client)):
                pass
        async with tls_client(port, client_ctx(pki.client)) as old:
            assert await echo(old, "before") == "before"
            # Replace the files in place, then reload.
            write_pki(pki.server, role="server", cas=[new_ca], leaf=new_server)
            await anyio.to_thread.run_sync(ctx.reload)
            assert ctx.certificate == new_server.certificate
            async with tls_client(port, client_ctx(new_client)) as fresh:
                assert await echo(fresh, "new") == "new"
            # A client of the old CA no longer trusts the server (nor the server it).
            await refused(port, client_ctx(pki.client), "TLS handshake failed")
            # The connection made before the reload is untouched.
            assert await echo(old, "after") == "after"
    assert prog.calls == [(CLIENT_DN, True), ("C=UK,CN=rotated", True), (CLIENT_DN, True)]


async def test_failed_reload_keeps_serving_with_the_old_certs(pki: Pki) -> None:
    ctx = TLSContext.server_from_pki(pki.server)
    async with serving(Service.tls(ctx)) as (server, _):
        (pki.server / "servercert.pem").write_text("garbage\n")
        with pytest.raises(TLSConfigError, match=r"servercert\.pem: no valid PEM certificate"):
            ctx.reload()
        async with tls_client(port_of(server), client_ctx(pki.client)) as client:
            assert await echo(client) == "hello"


# -- broken credentials at start-up -----------------------------------------------------------


def test_service_cannot_be_built_from_broken_files(pki: Pki) -> None:
    (pki.server / "serverkey.pem").unlink()
    with pytest.raises(TLSConfigError, match=r"serverkey\.pem: cannot read private key"):
        Service.tls(TLSContext.server_from_pki(pki.server))


def test_auth_tls_needs_a_tls_service() -> None:
    server = Server("tls-test")
    with pytest.raises(ValueError, match="auth 'tls' needs a TLS service"):
        server.add_service(Service.tcp("127.0.0.1", 0, auth="tls"))


def run_testvirtd(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "daemons.testvirtd", "--no-admin", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_testvirtd_refuses_to_start_without_pki_files() -> None:
    done = run_testvirtd("--listen", "tls://127.0.0.1:0", "--pki", "/nonexistent")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "testvirtd: error: /nonexistent/cacert.pem: cannot read CA certificate file: "
        "No such file or directory\n"
    )


def test_testvirtd_refuses_to_start_with_a_broken_certificate(pki: Pki) -> None:
    (pki.server / "servercert.pem").write_text("not a certificate\n")
    done = run_testvirtd("--listen", "tls://127.0.0.1:0", "--pki", str(pki.server))
    assert done.returncode == 2
    assert "ready" not in done.stdout
    assert done.stderr.startswith(
        f"testvirtd: error: {pki.server / 'servercert.pem'}: no valid PEM certificate found"
    )


def test_testvirtd_refuses_to_start_with_an_expired_server_certificate(
    pki: Pki, tmp_path: Path
) -> None:
    m = matrix()
    expired = write_pki(tmp_path / "srv", role="server", cas=[m.ca], leaf=m.servers["expired"])
    done = run_testvirtd("--listen", "tls://127.0.0.1:0", "--pki", str(expired))
    assert done.returncode == 2
    assert done.stderr.startswith(
        f"testvirtd: error: {expired / 'servercert.pem'}: certificate expired on "
    )


async def test_client_handshake_helper_sees_the_server_identity(pki: Pki) -> None:
    async with serving(Service.tls(TLSContext.server_from_pki(pki.server))) as (server, _):
        stream = await anyio.connect_tcp("127.0.0.1", port_of(server))
        tls, identity = await client_handshake(
            stream, client_ctx(pki.client), hostname="localhost", timeout=10
        )
        await tls.aclose()
    assert identity.dn == "C=UK,CN=libvirt.org"
    assert identity.verified
