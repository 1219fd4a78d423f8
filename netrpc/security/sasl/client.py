"""The client side of libvirt's SASL authentication (what virsh does before CONNECT_OPEN).

:func:`authenticate` runs AUTH_LIST, AUTH_SASL_INIT, AUTH_SASL_START and AUTH_SASL_STEP on a
freshly connected stream and returns the stream to use from then on: the same one, or one
wrapped in the negotiated security layer.  :class:`netrpc.Client` calls it when given
``sasl=SASLCredentials(...)``::

    creds = SASLCredentials(username="fred", password="secret123")
    async with Client.unix("/run/libvirt/libvirt-sock", sasl=creds) as client: ...

    # GSSAPI with the ticket in KRB5CCNAME; the server is libvirt/<host>
    async with Client.tcp("host.example.org", 16509, sasl=SASLCredentials()) as client: ...

It works against libvirtd too.  As libvirt's client, it requires an SSF of at least 56 on
plain TCP (so SCRAM is refused there) and none on unix sockets and TLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import anyio.abc

from ...core import xdr
from ...core.connection import NEED_DATA, PAUSED, Connection, ConnectionClosed, ReplyReceived, Role
from ...core.errors import ConnectionLostError, NetRPCError
from ...core.protocol import MessageStatus, decode_error
from .layer import SecurityLayerStream
from .mechanisms import (
    GSSAPI,
    SCRAM_SHA_256,
    ClientMechanism,
    GSSAPIClient,
    SASLAuthError,
    ScramClient,
    SecurityProperties,
    permitted,
)
from .wire import (
    AUTH_LIST,
    AUTH_SASL_INIT,
    AUTH_SASL_START,
    AUTH_SASL_STEP,
    REMOTE_PROGRAM,
    REMOTE_VERSION,
    AuthListRet,
    AuthSaslInitRet,
    AuthSaslStartArgs,
    AuthSaslStartRet,
    AuthSaslStepArgs,
    AuthSaslStepRet,
    AuthType,
)

__all__ = ("SASLClientError", "SASLCredentials", "SASLResult", "authenticate")

#: the SSF libvirt's client requires on insecure transports
_CLIENT_MIN_SSF = 56


class SASLClientError(NetRPCError):
    """The client could not authenticate for a reason of its own (no common mechanism, no
    credentials, a server that fails verification, too weak a layer).  A refusal by the
    server arrives as the server's :class:`~netrpc.core.errors.RPCError` instead."""


@dataclass(frozen=True, slots=True)
class SASLCredentials:
    """How a client logs in with SASL.

    :ivar username: for SCRAM-SHA-256.
    :ivar password: for SCRAM-SHA-256 (GSSAPI uses the Kerberos ticket cache).
    :ivar mechanism: force a mechanism (compared case-sensitively with the server's list,
        as libvirt's ``?auth=sasl.<mech>``); by default SCRAM-SHA-256 when a password is
        given and the server offers it, else GSSAPI.
    :ivar service: the Kerberos service (``libvirt``).
    :ivar hostname: the server's host name for GSSAPI (default: the host connected to).
    :ivar program: the program carrying the authentication procedures (libvirt's REMOTE).
    :ivar version: its version.
    """

    username: str | None = None
    password: str | None = None
    mechanism: str | None = None
    service: str = "libvirt"
    hostname: str | None = None
    program: int = REMOTE_PROGRAM
    version: int = REMOTE_VERSION

    def __repr__(self) -> str:
        # Never show the password.
        return (
            f"SASLCredentials(username={self.username!r}, mechanism={self.mechanism!r}, "
            f"password={'***' if self.password is not None else None})"
        )


@dataclass(frozen=True, slots=True)
class SASLResult:
    """What :func:`authenticate` established.

    :ivar mechanism: the mechanism used, or None when the server wanted no authentication.
    :ivar ssf: the negotiated security strength factor.
    :ivar wrapped: True when a security layer now wraps the connection.
    """

    mechanism: str | None
    ssf: int = 0
    wrapped: bool = False


def _codec(kind: type) -> xdr.XdrType[Any]:
    return xdr.codec_for(kind)


class _Exchange:
    """Calls on a stream before the real client takes it over."""

    def __init__(self, stream: anyio.abc.ByteStream, program: int, version: int) -> None:
        self.stream = stream
        self.program = program
        self.version = version
        self.conn = Connection(Role.CLIENT, keepalive_interval=0)

    async def call(self, procedure: int, payload: bytes = b"") -> bytes:
        conn = self.conn
        serial = conn.send_call(self.program, self.version, procedure, payload)
        for segment in conn.data_to_send():
            assert isinstance(segment, bytes)
            await self.stream.send(segment)
        while True:
            event = conn.next_event()
            if event is NEED_DATA or event is PAUSED:
                try:
                    data = await self.stream.receive(65536)
                except anyio.EndOfStream:
                    data = b""
                except (anyio.BrokenResourceError, OSError) as exc:
                    raise ConnectionLostError(f"connection lost during authentication: {exc!r}") \
                        from None
                conn.receive_data(data)
                continue
            if isinstance(event, ReplyReceived) and event.header.serial == serial:
                if event.header.status == MessageStatus.ERROR:
                    raise decode_error(event.payload)
                return event.payload
            if isinstance(event, ConnectionClosed):
                raise ConnectionLostError(
                    f"the server closed the connection during authentication ({event.reason})"
                )


def _choose(offered: list[str], creds: SASLCredentials, props: SecurityProperties) -> str:
    if creds.mechanism is not None:
        if creds.mechanism not in offered:
            raise SASLClientError(f"SASL mechanism {creds.mechanism} not supported by server")
        chosen = creds.mechanism
    elif creds.password is not None and SCRAM_SHA_256 in offered and permitted(
        SCRAM_SHA_256, props
    ):
        chosen = SCRAM_SHA_256
    elif GSSAPI in offered:
        chosen = GSSAPI
    elif SCRAM_SHA_256 in offered:
        chosen = SCRAM_SHA_256
    else:
        raise SASLClientError(
            f"no supported SASL mechanism among those offered ({','.join(offered) or 'none'})"
        )
    if not permitted(chosen, props):
        raise SASLClientError(
            f"SASL mechanism {chosen} cannot give the SSF {props.min_ssf} this transport "
            "requires (use TLS or a unix socket)"
        )
    return chosen


def _mechanism(
    name: str, creds: SASLCredentials, props: SecurityProperties, host: str
) -> ClientMechanism:
    if name == SCRAM_SHA_256:
        if creds.username is None or creds.password is None:
            raise SASLClientError("SCRAM-SHA-256 needs a user name and a password")
        return ScramClient(creds.username, creds.password)
    if name == GSSAPI:
        return GSSAPIClient(creds.hostname or host, props, service=creds.service)
    raise SASLClientError(f"SASL mechanism {name} is not supported by this client")


async def authenticate(
    stream: anyio.abc.ByteStream,
    credentials: SASLCredentials,
    *,
    secure: bool,
    host: str = "localhost",
) -> tuple[anyio.abc.ByteStream, SASLResult]:
    """Log in on a freshly connected *stream*.

    :param secure: True on unix sockets and TLS (no layer needed), False on plain TCP and
        command tunnels (an SSF of at least 56 is required, as libvirt's client does).
    :param host: the server's host name (the GSSAPI target ``libvirt@host``).
    :returns: the stream to use from now on, and what was negotiated.
    :raises RPCError: when the server refuses (``authentication failed: ...``).
    :raises SASLClientError: when this side cannot or will not go on.
    :raises ConnectionLostError: when the connection dies meanwhile.
    """
    ex = _Exchange(stream, credentials.program, credentials.version)
    types = _codec(AuthListRet).decode(await ex.call(AUTH_LIST), allow_trailing=True).types
    if AuthType.SASL not in types:
        if AuthType.NONE in types or not types:
            return stream, SASLResult(None)
        raise SASLClientError(f"the server wants an unsupported authentication type {types}")
    props = SecurityProperties.secure() if secure else SecurityProperties.insecure(
        _CLIENT_MIN_SSF
    )
    init = _codec(AuthSaslInitRet).decode(await ex.call(AUTH_SASL_INIT), allow_trailing=True)
    offered = [m for m in init.mechlist.split(",") if m]
    name = _choose(offered, credentials, props)
    try:
        mech = _mechanism(name, credentials, props, host)
        first = mech.start()
        payload = _codec(AuthSaslStartArgs).encode(
            AuthSaslStartArgs(name, int(first is None), first or b"")
        )
        ret = _codec(AuthSaslStartRet).decode(
            await ex.call(AUTH_SASL_START, payload), allow_trailing=True
        )
        server_done, server_data = bool(ret.complete), None if ret.nil else ret.data
        while True:
            # Even when the server is done the client steps once more: that is where it
            # checks the server (SCRAM's signature, GSSAPI's mutual authentication).
            done, out = mech.step(server_data)
            if server_done:
                if not done:
                    raise SASLClientError("the server finished before the client")
                break
            args = AuthSaslStepArgs(int(out is None), out or b"")
            payload = _codec(AuthSaslStepArgs).encode(args)
            step = _codec(AuthSaslStepRet).decode(
                await ex.call(AUTH_SASL_STEP, payload), allow_trailing=True
            )
            server_done, server_data = bool(step.complete), None if step.nil else step.data
    except SASLAuthError as exc:
        raise SASLClientError(str(exc)) from None
    ssf = mech.ssf
    if not secure and ssf < _CLIENT_MIN_SSF:
        raise SASLClientError(f"negotiation SSF {ssf} was not strong enough")
    layer = mech.layer
    if layer is None:
        return stream, SASLResult(name, ssf)
    if ex.conn.buffered_input:
        raise SASLClientError("the server sent data before the security layer started")
    wrapped: Any = SecurityLayerStream(stream, layer)
    return wrapped, SASLResult(name, ssf, wrapped=True)
