"""SASL between a netrpc server and netrpc clients over real sockets (asyncio and trio):
SCRAM-SHA-256 on unix sockets and TLS, GSSAPI with its security layer on TCP, and every way
a login can fail, each answered as libvirtd answers it while others keep being served."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Any

import anyio
import pytest

from netrpc import Call, Client, Program, RPCError, Server, Service, procedure
from netrpc.admin.program import client_info
from netrpc.core import xdr
from netrpc.core.errors import ConnectionLostError
from netrpc.core.protocol import Header, encode_message
from netrpc.io.server import ServerClient
from netrpc.security.sasl import (
    PasswordFile,
    SASLAuthProcedures,
    SASLClientError,
    SASLConfig,
    SASLCredentials,
    ScramVerifier,
)
from netrpc.security.sasl.client import _Exchange
from netrpc.security.sasl.layer import SecurityLayerStream
from netrpc.security.sasl.mechanisms import GSSAPIClient, SecurityProperties
from netrpc.security.sasl.wire import (
    AuthListRet,
    AuthSaslInitRet,
    AuthSaslStartArgs,
    AuthSaslStartRet,
    AuthSaslStepArgs,
    AuthSaslStepRet,
)
from netrpc.security.tls import TLSContext

from .certfactory import matrix, write_pki
from .krb5realm import KerberosRealm, patched_environ
from .wiretap import split_frames, split_records, tapped

PROGRAM, VERSION = 0x20008086, 1
LOG = "netrpc.sasl"
FRED = SASLCredentials("fred", "secret123")


@xdr.struct
class Text:
    text: Annotated[str, xdr.String(1 << 20)]


class AppProgram(SASLAuthProcedures, Program):
    """The authentication procedures plus 1 whoami and 2 echo (both need a login)."""

    number, version = PROGRAM, VERSION

    @procedure(1, ret=Text, readonly=True, inline=True)
    def whoami(self, call: Call, args: None) -> Text:
        return Text(call.client.identity.sasl_user or "")

    @procedure(2, args=Text, ret=Text, readonly=True, inline=True)
    def echo(self, call: Call, args: Text) -> Text:
        return Text(args.text)


def codec(kind: type) -> xdr.XdrType[Any]:
    return xdr.codec_for(kind)


async def whoami(client: Client) -> str:
    text: str = codec(Text).decode(await client.call(PROGRAM, VERSION, 1)).text
    return text


async def echo(client: Client, text: str) -> str:
    out: str = codec(Text).decode(
        await client.call(PROGRAM, VERSION, 2, codec(Text).encode(Text(text)))
    ).text
    return out


async def auth_list(client: Client) -> list[int]:
    types: list[int] = codec(AuthListRet).decode(await client.call(PROGRAM, VERSION, 66)).types
    return types


async def init(client: Client) -> str:
    mechlist: str = codec(AuthSaslInitRet).decode(
        await client.call(PROGRAM, VERSION, 67)
    ).mechlist
    return mechlist


async def start(client: Client, mech: str, data: bytes | None) -> AuthSaslStartRet:
    payload = codec(AuthSaslStartArgs).encode(
        AuthSaslStartArgs(mech, int(data is None), data or b"")
    )
    ret: AuthSaslStartRet = codec(AuthSaslStartRet).decode(
        await client.call(PROGRAM, VERSION, 68, payload)
    )
    return ret


async def step(client: Client, data: bytes | None) -> AuthSaslStepRet:
    payload = codec(AuthSaslStepArgs).encode(AuthSaslStepArgs(int(data is None), data or b""))
    ret: AuthSaslStepRet = codec(AuthSaslStepRet).decode(
        await client.call(PROGRAM, VERSION, 69, payload)
    )
    return ret


def assert_auth_failed(exc: RPCError) -> None:
    assert (exc.code, exc.domain, exc.level) == (45, 7, 2)
    assert exc.message == "authentication failed: authentication failed"
    assert (exc.str1, exc.str2) == ("authentication failed: %s", "authentication failed")


@pytest.fixture
def sockdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sasl-", dir="/tmp") as name:
        yield Path(name)


@pytest.fixture
def passwd(sockdir: Path) -> Path:
    path = sockdir / "passwd"
    PasswordFile.write(
        str(path), {"fred": ScramVerifier.make("secret123"), "bob": ScramVerifier.make("bobpw")}
    )
    return path


@contextlib.asynccontextmanager
async def serving(*services: Service) -> AsyncIterator[Server]:
    server = Server("sasl-test", programs=[AppProgram()])
    for service in services:
        server.add_service(service)
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        try:
            yield server
        finally:
            server.shutdown(timeout=5)


async def wait_for(predicate: Any, timeout: float = 10) -> None:  # noqa: ASYNC109
    with anyio.fail_after(timeout):
        while not predicate():
            await anyio.sleep(0.01)


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG and r.levelno >= logging.WARNING]


# ------------------------------------------------------------------------------ SCRAM, unix


async def test_scram_login_on_unix(sockdir: Path, passwd: Path) -> None:
    path = str(sockdir / "sock")
    sasl = SASLConfig(["scram-sha-256", "gssapi"][:1], password_file=passwd)
    async with serving(Service.unix(path, auth="sasl", sasl=sasl)) as server:
        async with Client.unix(path) as raw:
            assert await auth_list(raw) == [1]
            with pytest.raises(RPCError, match=r"^authentication required$"):
                await whoami(raw)
            assert server.nclients_unauthenticated == 1
        async with Client.unix(path, sasl=FRED) as client:
            assert await whoami(client) == "fred"
            assert await auth_list(client) == [0]
            [connected] = server.clients.values()
            assert connected.authenticated and connected.identity.sasl_user == "fred"
            assert server.nclients_unauthenticated == 0
            params = {p.field: p.data for p in client_info(connected)}
            assert list(params)[:2] == ["readonly", "sasl_user_name"]
            assert params["sasl_user_name"] == "fred"
            # Logged in: INIT again is an invalid request, as in libvirtd.
            with pytest.raises(RPCError) as info:
                await init(client)
            assert_auth_failed(info.value)


@pytest.mark.parametrize(
    ("creds", "reason"),
    [
        (SASLCredentials("fred", "Wr0ngPass"), "user 'fred': wrong password"),
        (SASLCredentials("nobody", "Wr0ngPass"), "unknown user 'nobody'"),
        (SASLCredentials("bob", "bobpw"), "'bob' is not on the list of allowed users"),
    ],
    ids=["wrong-password", "unknown-user", "not-allowed"],
)
async def test_failed_logins(
    sockdir: Path, passwd: Path, caplog: pytest.LogCaptureFixture,
    creds: SASLCredentials, reason: str,
) -> None:
    caplog.set_level(logging.INFO, LOG)
    path = str(sockdir / "sock")
    sasl = SASLConfig(password_file=passwd, allowed_usernames=["fr*"])
    async with serving(Service.unix(path, auth="sasl", sasl=sasl)) as server:
        with pytest.raises(RPCError) as info:
            async with Client.unix(path, sasl=creds):
                pass
        assert_auth_failed(info.value)
        [line] = warnings(caplog)
        assert reason in line and "SCRAM-SHA-256" in line
        assert creds.password is not None and creds.password not in line
        # The server keeps serving: fred logs in.
        async with Client.unix(path, sasl=FRED) as client:
            assert await whoami(client) == "fred"
        await wait_for(lambda: not server.clients)


async def test_failed_attempt_is_discarded_then_retry_works(sockdir: Path, passwd: Path) -> None:
    path = str(sockdir / "sock")
    async with serving(
        Service.unix(path, auth="sasl", sasl=SASLConfig(password_file=passwd))
    ) as _server:
        async with Client.unix(path) as client:
            assert await init(client) == "SCRAM-SHA-256"
            with pytest.raises(RPCError) as info:
                await start(client, "SCRAM-SHA-256", b"n,,n=nobody,r=abcdefghijkl")
            assert_auth_failed(info.value)
            # The attempt is gone: STEP is refused, INIT starts a new one.
            with pytest.raises(RPCError) as info:
                await step(client, b"c=biws,r=x,p=y")
            assert_auth_failed(info.value)
            assert await init(client) == "SCRAM-SHA-256"
            import scramp

            scram = scramp.ScramClient(["SCRAM-SHA-256"], "fred", "secret123")
            first = await start(client, "scram-sha-256", scram.get_client_first().encode())
            assert (first.complete, first.nil) == (0, 0)
            scram.set_server_first(first.data.decode())
            final = await step(client, scram.get_client_final().encode())
            assert (final.complete, final.nil) == (1, 0)
            scram.set_server_final(final.data.decode())
            assert await whoami(client) == "fred"


async def run_sequence(client: Client, sequence: str) -> None:
    """Drive one out-of-order or garbage sequence; the last call fails."""
    if sequence == "step-before-init":
        await step(client, b"x")
    elif sequence == "start-before-init":
        await start(client, "SCRAM-SHA-256", b"n,,n=fred,r=abc")
    elif sequence == "init-twice":
        await init(client)
        await init(client)
    elif sequence == "start-twice":
        await init(client)
        await start(client, "SCRAM-SHA-256", b"n,,n=fred,r=abcdefghijkl")
        await start(client, "SCRAM-SHA-256", b"n,,n=fred,r=abcdefghijkl")
    elif sequence == "mech-not-offered":
        await init(client)
        await start(client, "GSSAPI", b"\x60\x82")
    elif sequence == "garbage-start":
        await init(client)
        await start(client, "SCRAM-SHA-256", bytes(range(256)) * 4)
    elif sequence == "garbage-step":
        await init(client)
        await start(client, "SCRAM-SHA-256", b"n,,n=fred,r=abcdefghijkl")
        await step(client, b"\x00\xff garbage")
    else:
        await init(client)
        await start(client, "SCRAM-SHA-256", b"n,,n=fred,r=abcdefghijkl")
        await step(client, None)


@pytest.mark.parametrize(
    "sequence",
    [
        "step-before-init", "start-before-init", "init-twice", "start-twice",
        "mech-not-offered", "garbage-start", "garbage-step", "nil-step",
    ],
)
async def test_out_of_order_and_garbage(
    sockdir: Path, passwd: Path, caplog: pytest.LogCaptureFixture, sequence: str
) -> None:
    caplog.set_level(logging.INFO, LOG)
    path = str(sockdir / "sock")
    async with serving(
        Service.unix(path, auth="sasl", sasl=SASLConfig(password_file=passwd))
    ) as _server:
        async with Client.unix(path) as client:
            with pytest.raises(RPCError) as info:
                await run_sequence(client, sequence)
            assert_auth_failed(info.value)
            assert len(warnings(caplog)) == 1
            # Undecodable arguments get the dispatcher's error; the connection stays.
            with pytest.raises(RPCError, match=r"^Unable to decode message payload$"):
                await client.call(PROGRAM, VERSION, 68, b"\x00\x00\x01\x00")
        async with Client.unix(path, sasl=FRED) as client:
            assert await whoami(client) == "fred"


async def test_client_stopping_mid_exchange(sockdir: Path, passwd: Path) -> None:
    path = str(sockdir / "sock")
    async with serving(
        Service.unix(path, auth="sasl", sasl=SASLConfig(password_file=passwd))
    ) as server:
        # One client goes away after START, another stalls after START.
        async with Client.unix(path) as quitter:
            await init(quitter)
            await start(quitter, "SCRAM-SHA-256", b"n,,n=fred,r=abcdefghijkl")
        async with Client.unix(path) as staller:
            await init(staller)
            await start(staller, "SCRAM-SHA-256", b"n,,n=fred,r=abcdefghijkl")
            await wait_for(lambda: len(server.clients) == 1)
            assert server.nclients_unauthenticated == 1
            async with Client.unix(path, sasl=FRED) as client:
                assert await whoami(client) == "fred"
                assert server.nclients_unauthenticated == 1


# ------------------------------------------------------------------------------ SCRAM, TLS


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Path, Path]:
    m = matrix()
    return (
        write_pki(tmp_path / "server", role="server", cas=[m.ca], leaf=m.server),
        write_pki(tmp_path / "client", role="client", cas=[m.ca], leaf=m.client),
    )


async def test_scram_login_over_tls(pki: tuple[Path, Path], passwd: Path) -> None:
    server_dir, client_dir = pki
    service = Service.tls(
        TLSContext.server_from_pki(server_dir), auth="sasl",
        sasl=SASLConfig(password_file=passwd),
    )
    async with serving(service) as server:
        port = service.port_bound
        assert port is not None
        ctx = TLSContext.client_from_pki(client_dir)
        async with Client.tls("127.0.0.1", port, ctx, hostname="localhost") as raw:
            assert await init(raw) == "SCRAM-SHA-256"
        async with Client.tls(
            "127.0.0.1", port, ctx, hostname="localhost", sasl=FRED
        ) as client:
            assert await whoami(client) == "fred"
            [connected] = [c for c in server.clients.values() if c.authenticated]
            assert connected.identity.tls_dn and connected.identity.sasl_user == "fred"
            assert not isinstance(connected.stream, SecurityLayerStream)


async def test_tcp_offers_no_scram(passwd: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, LOG)
    service = Service.tcp(auth="sasl", sasl=SASLConfig(password_file=passwd))
    async with serving(service):
        port = service.port_bound
        assert port is not None
        async with Client.tcp("127.0.0.1", port) as raw:
            with pytest.raises(RPCError) as info:
                await init(raw)
            assert_auth_failed(info.value)
        assert any("no SASL mechanism meets the required SSF 56" in r.getMessage()
                   for r in caplog.records)
        # A server that did offer SCRAM on TCP would still be refused by the client.
        sasl = SASLConfig(password_file=passwd, tcp_min_ssf=0)
        service2 = Service.tcp(auth="sasl", sasl=sasl)
        async with serving(service2):
            assert service2.port_bound is not None
            with pytest.raises(SASLClientError, match="cannot give the SSF 56"):
                async with Client.tcp("127.0.0.1", service2.port_bound, sasl=FRED):
                    pass


# ------------------------------------------------------------------------------ GSSAPI


@pytest.fixture
def kerberos(krb5_realm: KerberosRealm) -> Iterator[KerberosRealm]:
    with patched_environ({k: v for k, v in krb5_realm.env().items() if k != "KRB5_KTNAME"}):
        yield krb5_realm


def gssapi_config(realm: KerberosRealm, **kwargs: Any) -> SASLConfig:
    return SASLConfig(["gssapi"], keytab=str(realm.keytab), hostname="localhost", **kwargs)


GSS = SASLCredentials(hostname="localhost")


async def test_gssapi_over_tcp_wraps_everything(kerberos: KerberosRealm) -> None:
    service = Service.tcp(auth="sasl", sasl=gssapi_config(kerberos))
    async with serving(service) as server:
        assert service.port_bound is not None
        with tapped("127.0.0.1", service.port_bound) as tap:
            async with Client.tcp("127.0.0.1", tap.port, sasl=GSS) as client:
                assert isinstance(client.stream, SecurityLayerStream)
                assert await whoami(client) == "fred"
                big = "x" * 300_000  # several frames each way
                assert await echo(client, big) == big
                [connected] = server.clients.values()
                assert isinstance(connected.stream, SecurityLayerStream)
                assert connected.identity.sasl_user == "fred"
                assert {p.field: p.data for p in client_info(connected)}["sasl_user_name"] == (
                    "fred"
                )
            await wait_for(lambda: not server.clients)
        up, down = bytes(tap.up), bytes(tap.down)
        # The four auth calls go in the clear, then only frames of RFC 4121 wrap tokens.
        calls, rest_up = split_records(up)
        replies, rest_down = split_records(down)
        assert [r[12:16] for r in calls] == [bytes([0, 0, 0, p]) for p in (66, 67, 68, 69, 69)]
        assert len(replies) == len(calls)
        for wire in (rest_up, rest_down):
            frames = split_frames(wire)
            assert frames and all(f[:2] == b"\x05\x04" for f in frames)
            assert b"\x20\x00\x80\x86" not in wire and b"xxxxxxxx" not in wire
        assert max(len(f) for f in split_frames(rest_up)) > 60000


async def test_gssapi_keytab_from_krb5_ktname(kerberos: KerberosRealm) -> None:
    with patched_environ({"KRB5_KTNAME": f"FILE:{kerberos.keytab}"}):
        sasl = SASLConfig(["gssapi"], hostname="localhost")
        service = Service.tcp(auth="sasl", sasl=sasl)
        async with serving(service):
            assert service.port_bound is not None
            async with Client.tcp("127.0.0.1", service.port_bound, sasl=GSS) as client:
                assert await whoami(client) == "fred"


async def test_password_file_broken_while_serving(
    sockdir: Path, passwd: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG)
    path = str(sockdir / "sock")
    async with serving(
        Service.unix(path, auth="sasl", sasl=SASLConfig(password_file=passwd))
    ) as _server:
        passwd.write_text("fred:not a verifier\n")
        with pytest.raises(RPCError) as info:
            async with Client.unix(path, sasl=FRED):
                pass
        assert_auth_failed(info.value)
        [line] = warnings(caplog)
        assert "cannot check user 'fred'" in line and f"{passwd}:1: not a SCRAM verifier" in line


async def test_gssapi_on_unix_has_no_layer(kerberos: KerberosRealm, sockdir: Path) -> None:
    path = str(sockdir / "sock")
    sasl = gssapi_config(kerberos)
    async with serving(Service.unix(path, auth="sasl", sasl=sasl)) as server:
        async with Client.unix(path, sasl=GSS) as client:
            assert not isinstance(client.stream, SecurityLayerStream)
            assert await whoami(client) == "fred"
            [connected] = server.clients.values()
            assert not isinstance(connected.stream, SecurityLayerStream)


async def test_gssapi_identity_and_allow_list(
    kerberos: KerberosRealm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG)
    service = Service.tcp(auth="sasl", sasl=gssapi_config(kerberos, allowed_usernames=["bob"]))
    async with serving(service):
        assert service.port_bound is not None
        with pytest.raises(RPCError) as info:
            async with Client.tcp("127.0.0.1", service.port_bound, sasl=GSS):
                pass
        assert_auth_failed(info.value)
        [line] = warnings(caplog)
        assert "'fred' is not on the list of allowed users" in line and "GSSAPI" in line


async def test_gssapi_without_ticket_or_wrong_host(
    kerberos: KerberosRealm, sockdir: Path
) -> None:
    service = Service.tcp(auth="sasl", sasl=gssapi_config(kerberos))
    async with serving(service):
        port = service.port_bound
        assert port is not None
        with patched_environ({"KRB5CCNAME": f"FILE:{sockdir / 'none'}"}):
            with pytest.raises(SASLClientError, match="GSSAPI"):
                async with Client.tcp("127.0.0.1", port, sasl=GSS):
                    pass
        with pytest.raises(SASLClientError, match="GSSAPI"):
            async with Client.tcp("127.0.0.1", port, sasl=SASLCredentials(hostname="nohost")):
                pass
        with pytest.raises(SASLClientError, match="SCRAM-SHA-256 not supported by server"):
            async with Client.tcp(
                "127.0.0.1", port, sasl=SASLCredentials("fred", "x", mechanism="SCRAM-SHA-256")
            ):
                pass
        async with Client.tcp("127.0.0.1", port, sasl=GSS) as client:
            assert await whoami(client) == "fred"


async def _gssapi_exchange(port: int) -> tuple[Any, Any, bytes]:
    """Run GSSAPI by hand up to the client's final STEP (not sent); returns the exchange,
    the mechanism and the encoded STEP call."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    ex = _Exchange(stream, PROGRAM, VERSION)
    await ex.call(66)
    await ex.call(67)
    mech = GSSAPIClient("localhost", SecurityProperties.insecure(56))
    args = AuthSaslStartArgs("GSSAPI", 0, mech.start() or b"")
    ret = codec(AuthSaslStartRet).decode(await ex.call(68, codec(AuthSaslStartArgs).encode(args)))
    _, out = mech.step(ret.data)
    ret = codec(AuthSaslStepRet).decode(
        await ex.call(69, codec(AuthSaslStepArgs).encode(AuthSaslStepArgs(1, b"")))
    )
    _, choice = mech.step(ret.data)
    ex.conn.send_call(PROGRAM, VERSION, 69, codec(AuthSaslStepArgs).encode(
        AuthSaslStepArgs(0, choice or b"")))
    [final] = ex.conn.data_to_send()
    assert isinstance(final, bytes)
    return ex, mech, final


async def test_gssapi_layer_refuses_plain_and_forged_bytes(
    kerberos: KerberosRealm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "netrpc.server")
    service = Service.tcp(auth="sasl", sasl=gssapi_config(kerberos))
    async with serving(service) as server:
        port = service.port_bound
        assert port is not None
        # Plain bytes glued to the final STEP are not taken as the authenticated peer's.
        ex, _mech, final = await _gssapi_exchange(port)
        whoami_call = encode_message(Header(PROGRAM, VERSION, 1, 0, 99, 0))
        await ex.stream.send(final + whoami_call)
        with anyio.fail_after(10):
            with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                while True:
                    await ex.stream.receive()
        await ex.stream.aclose()
        await wait_for(lambda: any("before the security layer started" in r.getMessage()
                                   for r in caplog.records))
        # A forged frame after the layer started closes the connection.
        async with Client.tcp("127.0.0.1", port, sasl=GSS) as client:
            assert await whoami(client) == "fred"
            assert isinstance(client.stream, SecurityLayerStream)
            raw = client.stream.transport
            await raw.send(b"\x00\x00\x00\x3c" + b"\x05\x04\x06\xff" + b"\x00" * 56)
            with pytest.raises(ConnectionLostError):
                await whoami(client)
        await wait_for(lambda: any("SASL security layer: bad wrapped token" in r.getMessage()
                                   for r in caplog.records))
        # Others are still served.
        async with Client.tcp("127.0.0.1", port, sasl=GSS) as client:
            assert await whoami(client) == "fred"
        await wait_for(lambda: not server.clients)


def test_server_client_filter_hook_exists() -> None:
    assert callable(ServerClient.set_stream_filter)
