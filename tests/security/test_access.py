"""Access control: unix socket permissions and group, read-only sockets, peer uid/gid
allow-lists, and the auth policies ("none", "tls", "hook") with an auth program.

Every async test runs on asyncio and on trio.
"""

from __future__ import annotations

import contextlib
import gc
import grp
import logging
import os
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated

import anyio
import anyio.lowlevel
import pytest

from netrpc import Call, Client, Program, RPCError, Server, Service, procedure
from netrpc.core import xdr
from netrpc.core.errors import ConnectionLostError, ErrorCode, ErrorDomain
from netrpc.io.server import ServerClient
from netrpc.security.tls import TLSContext

from .certfactory import CLIENT_DN, matrix, write_pki

PROGRAM = 0x20241516
LOG = "netrpc.server"
PASSWORD = "open sesame"


@xdr.struct
class Text:
    text: Annotated[str, xdr.String(1024)]


TEXT = xdr.codec_for(Text)


class GuardedProgram(Program):
    """1 peek (read-only), 2 poke (changes state), 3 auth_list and 4 login (both callable
    before authentication; login authenticates the client on the right password)."""

    number, version = PROGRAM, 1

    def __init__(self) -> None:
        self.pokes = 0

    @procedure(1, ret=Text, readonly=True, inline=True)
    def peek(self, call: Call, args: None) -> Text:
        return Text(f"pokes={self.pokes}")

    @procedure(2, inline=True)
    def poke(self, call: Call, args: None) -> None:
        self.pokes += 1

    @procedure(3, ret=Text, auth=False, readonly=True, inline=True)
    def auth_list(self, call: Call, args: None) -> Text:
        return Text("authenticated" if call.client.authenticated else "password")

    @procedure(4, args=Text, auth=False, readonly=True, inline=True)
    def login(self, call: Call, args: Text) -> None:
        if args.text != PASSWORD:
            raise RPCError(
                ErrorCode.AUTH_FAILED, ErrorDomain.RPC, "authentication failed: wrong password"
            )
        call.client.set_authenticated()


async def peek(client: Client) -> str:
    text: str = TEXT.decode(await client.call(PROGRAM, 1, 1, b"")).text
    return text


async def poke(client: Client) -> None:
    await client.call(PROGRAM, 1, 2, b"")


async def auth_list(client: Client) -> str:
    text: str = TEXT.decode(await client.call(PROGRAM, 1, 3, b"")).text
    return text


async def login(client: Client, password: str) -> None:
    await client.call(PROGRAM, 1, 4, TEXT.encode(Text(password)))


@pytest.fixture
def sockdir() -> Iterator[Path]:
    # Short path: unix socket names are limited to 107 bytes.
    with tempfile.TemporaryDirectory(prefix="acc-", dir="/tmp") as name:
        yield Path(name)


@contextlib.asynccontextmanager
async def serving(
    *services: Service, program: GuardedProgram | None = None
) -> AsyncIterator[tuple[Server, GuardedProgram]]:
    prog = program or GuardedProgram()
    server = Server("access-test", programs=[prog])
    for service in services:
        server.add_service(service)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        try:
            yield server, prog
        finally:
            server.shutdown(timeout=5)


async def wait_for(predicate: object, timeout: float = 5) -> None:  # noqa: ASYNC109
    with anyio.fail_after(timeout):
        while not predicate():  # type: ignore[operator]
            await anyio.sleep(0.01)


def log_lines(caplog: pytest.LogCaptureFixture, text: str, level: int = logging.INFO) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == LOG and r.levelno >= level and text in r.getMessage()
    ]


# -- unix socket permissions ----------------------------------------------------------------


def other_group() -> int | None:
    """A group other than our own that we may chown a socket to, or None."""
    mine = os.getegid()
    if os.geteuid() == 0:
        return next((g.gr_gid for g in grp.getgrall() if g.gr_gid != mine), None)
    return next((g for g in os.getgroups() if g != mine), None)


def own_group_name() -> str:
    return grp.getgrgid(os.getegid()).gr_name


@pytest.mark.parametrize("by", ["gid", "name"])
async def test_unix_socket_mode_and_own_group(sockdir: Path, by: str) -> None:
    group: int | str = os.getegid() if by == "gid" else own_group_name()
    rw = str(sockdir / "sock")
    ro = str(sockdir / "sock-ro")
    async with serving(
        Service.unix(rw, mode=0o660, group=group),
        Service.unix(ro, mode=0o666, readonly=True),
    ) as (_server, _):
        st = os.stat(rw)
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o660
        assert st.st_gid == os.getegid()
        st_ro = os.stat(ro)
        assert stat.S_IMODE(st_ro.st_mode) == 0o666
        async with Client.unix(rw) as client:
            assert await peek(client) == "pokes=0"
    # Both files are removed at shutdown.
    assert not os.path.exists(rw) and not os.path.exists(ro)


async def test_unix_socket_chowned_to_another_group(sockdir: Path) -> None:
    gid = other_group()
    if gid is None:
        pytest.skip("no second group to chown the socket to")
    path = str(sockdir / "sock")
    async with serving(Service.unix(path, mode=0o660, group=grp.getgrgid(gid).gr_name)):
        st = os.stat(path)
        assert (stat.S_IMODE(st.st_mode), st.st_gid) == (0o660, gid)


async def test_default_unix_mode_is_0600(sockdir: Path) -> None:
    path = str(sockdir / "sock")
    async with serving(Service.unix(path)):
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o600
        assert st.st_uid == os.geteuid()


async def test_unknown_group_fails_at_start(sockdir: Path) -> None:
    path = sockdir / "sock"
    server = Server("access-test", programs=[GuardedProgram()])
    server.add_service(Service.unix(str(path), group="no-such-group-netrpc"))
    with pytest.raises(OSError, match="unknown group 'no-such-group-netrpc'"):
        await server.serve()
    gc.collect()
    assert not path.exists()


# -- read-only sockets ------------------------------------------------------------------------


async def test_read_only_socket_refuses_state_changes(sockdir: Path) -> None:
    rw, ro = str(sockdir / "sock"), str(sockdir / "sock-ro")
    async with serving(Service.unix(rw), Service.unix(ro, mode=0o666, readonly=True)) as (
        server,
        prog,
    ):
        async with Client.unix(ro) as client:
            assert await peek(client) == "pokes=0"
            with pytest.raises(RPCError) as info:
                await poke(client)
            err = info.value
            assert (err.code, err.domain) == (ErrorCode.OPERATION_DENIED, ErrorDomain.RPC)
            assert (err.code, err.domain) == (29, 7)
            assert err.message == "operation forbidden: read only access prevents poke"
            assert err.str1 == "operation forbidden: %s"
            assert err.str2 == "read only access prevents poke"
            # The refusal does not end the connection.
            assert await peek(client) == "pokes=0"
            [ro_client] = server.clients.values()
            assert ro_client.readonly
        async with Client.unix(rw) as client:
            await poke(client)
            assert await peek(client) == "pokes=1"
    assert prog.pokes == 1


async def test_read_only_tcp_service(sockdir: Path) -> None:
    async with serving(Service.tcp("127.0.0.1", 0, readonly=True)) as (server, prog):
        port = server.services[0].port_bound
        assert port is not None
        async with Client.tcp("127.0.0.1", port) as client:
            with pytest.raises(RPCError, match="read only access prevents poke"):
                await poke(client)
    assert prog.pokes == 0


# -- peer credential allow-lists --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uid", "gid"])
async def test_unix_peer_allow_list_refuses_others(
    sockdir: Path, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    caplog.set_level(logging.INFO, LOG)
    ours = os.geteuid() if kind == "uid" else os.getegid()
    other = ours + 4242
    refused_path, allowed_path = str(sockdir / "refused"), str(sockdir / "allowed")
    options = "allowed_uids" if kind == "uid" else "allowed_gids"
    async with serving(
        Service.unix(refused_path, **{options: [other]}),  # type: ignore[arg-type]
        Service.unix(allowed_path, **{options: [ours, other]}),  # type: ignore[arg-type]
    ) as (server, prog):
        async with Client.unix(refused_path) as client:
            with anyio.fail_after(10), pytest.raises(ConnectionLostError):
                await peek(client)
        await wait_for(lambda: log_lines(caplog, "refusing client", logging.WARNING))
        await wait_for(lambda: server.nclients == 0)
        async with Client.unix(allowed_path) as client:
            assert await peek(client) == "pokes=0"
    [line] = log_lines(caplog, "refusing client", logging.WARNING)
    assert (
        line == f"access-test: refusing client 1: {kind} {ours} not allowed on unix:{refused_path}"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to connect as another user")
async def test_unix_peer_allow_list_with_a_real_other_user(
    sockdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A process running as nobody (65534) is refused; root (allowed) is served."""
    caplog.set_level(logging.WARNING, LOG)
    os.chmod(sockdir, 0o755)
    path = str(sockdir / "sock")
    script = (
        "import os, socket, struct, sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)\n"
        # A call to procedure 1 of our program; the refused peer gets EOF or EPIPE.
        "try:\n"
        f"    s.sendall(struct.pack('>IIIiiIi', 28, {PROGRAM}, 1, 1, 0, 1, 0))\n"
        "    print(len(s.recv(100)))\n"
        "except (BrokenPipeError, ConnectionResetError):\n"
        "    print(0)\n"
    )
    async with serving(Service.unix(path, mode=0o666, allowed_uids=[0])) as (server, _):
        done = await anyio.run_process([sys.executable, "-c", script, path], check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == b"0"  # EOF, no reply
        async with Client.unix(path) as client:
            assert await peek(client) == "pokes=0"
        await wait_for(lambda: log_lines(caplog, "refusing client", logging.WARNING))
    [line] = log_lines(caplog, "refusing client", logging.WARNING)
    assert line == f"access-test: refusing client 1: uid 65534 not allowed on unix:{path}"


async def test_unix_identity_has_peer_credentials(sockdir: Path) -> None:
    path = str(sockdir / "sock")
    async with serving(Service.unix(path)) as (server, _):
        async with Client.unix(path) as client:
            await peek(client)
            [connected] = server.clients.values()
            ident = connected.identity
            assert (ident.unix_uid, ident.unix_gid, ident.unix_pid) == (
                os.geteuid(),
                os.getegid(),
                os.getpid(),
            )
            assert ident.tls_dn is None


# -- auth policies ----------------------------------------------------------------------------


def refusing_hook(seen: list[ServerClient]) -> object:
    def hook(client: ServerClient) -> bool:
        seen.append(client)
        return False

    return hook


async def test_hook_refusal_allows_only_auth_procedures(
    sockdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG)
    seen: list[ServerClient] = []
    path = str(sockdir / "sock")
    service = Service.unix(path, auth="hook", authenticator=refusing_hook(seen))  # type: ignore[arg-type]
    async with serving(service) as (server, prog):
        async with Client.unix(path) as client:
            assert await auth_list(client) == "password"
            assert server.nclients_unauthenticated == 1
            for call in (peek, poke):
                with pytest.raises(RPCError) as info:
                    await call(client)
                err = info.value
                assert (err.code, err.domain, err.message) == (39, 7, "authentication required")
                assert (err.str1, err.str2) == ("%s", "authentication required")
            # A wrong password leaves the client unauthenticated.
            with pytest.raises(RPCError, match="wrong password") as info:
                await login(client, "guess")
            assert info.value.code == ErrorCode.AUTH_FAILED
            with pytest.raises(RPCError, match=r"^authentication required$"):
                await peek(client)
            # The auth program unlocks everything else.
            await login(client, PASSWORD)
            assert server.nclients_unauthenticated == 0
            assert await auth_list(client) == "authenticated"
            await poke(client)
            assert await peek(client) == "pokes=1"
    assert len(seen) == 1
    [line] = log_lines(caplog, "not authenticated by the hook")
    assert line.startswith("access-test: client 1 (")
    assert line.endswith("not authenticated by the hook; only auth-phase procedures are allowed")


async def test_async_hook_accepting_authenticates(sockdir: Path) -> None:
    path = str(sockdir / "sock")
    decided: list[int | None] = []

    async def hook(client: ServerClient) -> bool:
        await anyio.lowlevel.checkpoint()
        decided.append(client.identity.unix_uid)
        return client.identity.unix_uid == os.geteuid()

    async with serving(Service.unix(path, auth="hook", authenticator=hook)) as (server, _):
        async with Client.unix(path) as client:
            await poke(client)
            assert await peek(client) == "pokes=1"
            assert server.nclients_unauthenticated == 0
    assert decided == [os.geteuid()]


async def test_failing_hook_refuses_the_client(
    sockdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, LOG)
    path = str(sockdir / "sock")

    def hook(client: ServerClient) -> bool:
        raise RuntimeError("directory service down")

    async with serving(Service.unix(path, auth="hook", authenticator=hook)) as (server, prog):
        async with Client.unix(path) as client:
            with anyio.fail_after(10), pytest.raises(ConnectionLostError):
                await auth_list(client)
        await wait_for(lambda: log_lines(caplog, "authenticator failed", logging.ERROR))
    [record] = [r for r in caplog.records if "authenticator failed" in r.getMessage()]
    assert record.getMessage() == "access-test: authenticator failed; refusing client 1"
    assert record.exc_info is not None and "directory service down" in str(record.exc_info[1])


def test_hook_policy_needs_an_authenticator(sockdir: Path) -> None:
    server = Server("access-test")
    with pytest.raises(ValueError, match="auth 'hook' needs an authenticator"):
        server.add_service(Service.unix(str(sockdir / "sock"), auth="hook"))


async def test_auth_none_authenticates_at_once(sockdir: Path) -> None:
    path = str(sockdir / "sock")
    async with serving(Service.unix(path)) as (server, _):
        async with Client.unix(path) as client:
            assert await auth_list(client) == "authenticated"
            assert server.nclients_unauthenticated == 0


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Path, Path]:
    m = matrix()
    return (
        write_pki(tmp_path / "server", role="server", cas=[m.ca], leaf=m.server),
        write_pki(tmp_path / "client", role="client", cas=[m.ca], leaf=m.client),
    )


async def test_auth_tls_marks_tls_clients_authenticated(pki: tuple[Path, Path]) -> None:
    server_dir, client_dir = pki
    service = Service.tls(TLSContext.server_from_pki(server_dir))
    assert service.auth == "tls"
    async with serving(service) as (server, _):
        port = service.port_bound
        assert port is not None
        async with Client.tls(
            "127.0.0.1", port, TLSContext.client_from_pki(client_dir), hostname="localhost"
        ) as client:
            assert await auth_list(client) == "authenticated"
            await poke(client)
            [connected] = server.clients.values()
            assert connected.authenticated
            assert connected.identity.tls_dn == CLIENT_DN
            assert server.nclients_unauthenticated == 0


async def test_tls_with_hook_sees_the_dn_and_can_refuse(pki: tuple[Path, Path]) -> None:
    """auth="hook" on a TLS service: the certificate is checked first, then the hook
    decides (here: only DNs it knows); the TLS handshake alone does not authenticate."""
    server_dir, client_dir = pki
    dns: list[str | None] = []

    def hook(client: ServerClient) -> bool:
        dns.append(client.identity.tls_dn)
        return client.identity.tls_dn == "C=UK,CN=somebody else"

    service = Service.tls(TLSContext.server_from_pki(server_dir), auth="hook", authenticator=hook)
    async with serving(service) as (server, _):
        port = service.port_bound
        assert port is not None
        async with Client.tls(
            "127.0.0.1", port, TLSContext.client_from_pki(client_dir), hostname="localhost"
        ) as client:
            assert await auth_list(client) == "password"
            with pytest.raises(RPCError, match=r"^authentication required$"):
                await peek(client)
            await login(client, PASSWORD)
            assert await peek(client) == "pokes=0"
    assert dns == [CLIENT_DN]


async def test_tls_service_with_auth_none(pki: tuple[Path, Path]) -> None:
    server_dir, client_dir = pki
    service = Service.tls(TLSContext.server_from_pki(server_dir), auth="none")
    async with serving(service) as (server, _):
        port = service.port_bound
        assert port is not None
        async with Client.tls(
            "127.0.0.1", port, TLSContext.client_from_pki(client_dir), hostname="localhost"
        ) as client:
            assert await auth_list(client) == "authenticated"
