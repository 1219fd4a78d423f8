"""SASL mechanisms: SCRAM-SHA-256 (scramp) and GSSAPI with RFC 4752's security layer.

Each side of a mechanism is a small state machine fed with the peer's data and returning
its own, with no I/O of its own (GSSAPI reads the keytab and the ticket cache inside the
Kerberos library; the server runs those steps on a worker thread).

Security strength factors (SSF) follow Cyrus SASL, which libvirt uses: a mechanism with no
security layer has SSF 0, GSSAPI's integrity layer 1, its confidentiality layer 256.
:class:`SecurityProperties` are what libvirt asks Cyrus for: on unix sockets and TLS no
minimum and no maximum (so no layer is negotiated), on plain TCP a minimum of
``tcp_min_ssf`` and a maximum of 100000.  A mechanism whose strongest layer is below the
minimum is not offered (:func:`permitted`), which is why SCRAM is never offered on TCP.
"""

from __future__ import annotations

import base64
import binascii
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, cast

from ...core.errors import NetRPCError

if TYPE_CHECKING:
    import gssapi


__all__ = (
    "GSSAPI",
    "INSECURE_MAX_SSF",
    "MECHANISMS",
    "SCRAM_SHA_256",
    "SSF_CONFIDENTIALITY",
    "ClientMechanism",
    "GSSAPIClient",
    "GSSAPIServer",
    "Layer",
    "MechanismStep",
    "SASLAuthError",
    "ScramClient",
    "ScramServer",
    "SecurityLayer",
    "SecurityProperties",
    "ServerMechanism",
    "StoredScramKeys",
    "permitted",
)

SCRAM_SHA_256 = "SCRAM-SHA-256"
GSSAPI = "GSSAPI"

#: the SSF Cyrus gives GSSAPI's confidentiality layer (K5_MAX_SSF)
SSF_CONFIDENTIALITY = 256
#: the maximum SSF libvirt asks for on insecure transports ("arbitrary big number")
INSECURE_MAX_SSF = 100000
#: the buffer size libvirt offers (and accepts) for wrapped tokens
MAX_BUFFER = 65536

#: the strongest SSF each mechanism can give
MECHANISMS: dict[str, int] = {SCRAM_SHA_256: 0, GSSAPI: SSF_CONFIDENTIALITY}


class SASLAuthError(NetRPCError):
    """An authentication step failed.  The message is for logs: it names what went wrong,
    never a password, proof or token."""


class MechanismStep(NamedTuple):
    """The outcome of one step: whether this side is done, and the data for the peer
    (None is SASL's NULL, distinct from empty data)."""

    complete: bool
    data: bytes | None


@dataclass(frozen=True, slots=True)
class SecurityProperties:
    """What a session requires of a mechanism (Cyrus' ``sasl_security_properties_t``).

    :ivar min_ssf: the weakest acceptable security layer.
    :ivar max_ssf: the strongest one wanted (0: no layer at all).
    :ivar external_ssf: protection the transport already gives (TLS key bits).
    """

    min_ssf: int = 0
    max_ssf: int = 0
    external_ssf: int = 0

    @classmethod
    def secure(cls, external_ssf: int = 0) -> SecurityProperties:
        """Unix sockets and TLS: any mechanism, no layer (as libvirt asks)."""
        return cls(0, 0, external_ssf)

    @classmethod
    def insecure(cls, min_ssf: int) -> SecurityProperties:
        """Plain TCP: at least *min_ssf* (``tcp_min_ssf``), at most 100000."""
        return cls(min_ssf, INSECURE_MAX_SSF)

    @property
    def require(self) -> int:
        """SSF still required on top of the transport's."""
        return max(0, self.min_ssf - self.external_ssf)

    @property
    def limit(self) -> int:
        """SSF still wanted on top of the transport's."""
        return max(0, self.max_ssf - self.external_ssf)


def permitted(mechanism: str, props: SecurityProperties) -> bool:
    """True when *mechanism* can meet *props* (Cyrus filters the offered list this way)."""
    strongest = MECHANISMS.get(mechanism.upper())
    return strongest is not None and strongest >= props.require


class SecurityLayer(Protocol):
    """A negotiated SASL security layer: every byte after authentication goes through it.

    :ivar max_send: plain bytes per frame this side may send.
    :ivar max_receive: largest wrapped token (without its length word) this side accepts.
    """

    max_send: int
    max_receive: int

    def wrap(self, data: bytes) -> bytes:
        """Protect one frame's worth of plain bytes."""
        ...

    def unwrap(self, token: bytes) -> bytes:
        """Check (and decrypt) one received token.

        :raises SASLAuthError: when the token is forged, replayed, or out of order.
        """
        ...


# ------------------------------------------------------------------------------ interfaces


class ServerMechanism(Protocol):
    """The server side of one mechanism for one authentication attempt."""

    #: upper-case mechanism name
    name: ClassVar[str]
    #: True when steps may block (they then run on a worker thread)
    blocking: ClassVar[bool]

    def start(self, data: bytes | None) -> MechanismStep:
        """Handle the client's initial response (None: the client sent none)."""
        ...

    def step(self, data: bytes | None) -> MechanismStep:
        """Handle the client's next response."""
        ...

    @property
    def identity(self) -> str:
        """The authenticated user name, once complete."""
        ...

    @property
    def ssf(self) -> int:
        """The negotiated security strength factor, once complete."""
        ...

    @property
    def layer(self) -> SecurityLayer | None:
        """The negotiated security layer, or None when nothing is wrapped."""
        ...


class ClientMechanism(Protocol):
    """The client side of one mechanism."""

    name: ClassVar[str]

    def start(self) -> bytes | None:
        """The initial response sent with AUTH_SASL_START."""
        ...

    def step(self, data: bytes | None) -> MechanismStep:
        """Handle the server's data; returns this side's next response."""
        ...

    @property
    def ssf(self) -> int:
        """The negotiated security strength factor, once complete."""
        ...

    @property
    def layer(self) -> SecurityLayer | None:
        """The negotiated security layer, or None."""
        ...


# ------------------------------------------------------------------------------ SCRAM


def _text(data: bytes | None, what: str) -> str:
    if data is None:
        raise SASLAuthError(f"no {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SASLAuthError(f"{what} is not UTF-8") from None


class _ScramStage(enum.Enum):
    FIRST = 1
    FINAL = 2
    DONE = 3


class StoredScramKeys(Protocol):
    """What a SCRAM server keeps of a user (a password file's
    :class:`~netrpc.security.sasl.passwd.ScramVerifier`)."""

    @property
    def salt(self) -> bytes: ...
    @property
    def iterations(self) -> int: ...
    @property
    def stored_key(self) -> bytes: ...
    @property
    def server_key(self) -> bytes: ...


class ScramServer:
    """SCRAM-SHA-256 (RFC 5802/7677) against stored verifiers, never passwords.

    :param lookup: returns the verifier of a user name, or None for an unknown user (the
        attempt then fails at once, as with libvirtd and Cyrus' sasldb).
    """

    name: ClassVar[str] = SCRAM_SHA_256
    blocking: ClassVar[bool] = False

    def __init__(self, lookup: Callable[[str], StoredScramKeys | None]) -> None:
        import scramp

        self._lookup = lookup
        self._mechanism = scramp.ScramMechanism(SCRAM_SHA_256)
        self._server: Any = None
        self._stage = _ScramStage.FIRST
        self._user: str | None = None

    def _auth_info(self, user: str) -> tuple[bytes, bytes, bytes, int]:
        try:
            verifier = self._lookup(user)
        except (OSError, ValueError) as exc:
            # The password file became unreadable or malformed while serving.
            raise SASLAuthError(f"cannot check user {user!r}: {exc}") from None
        if verifier is None:
            raise SASLAuthError(f"unknown user {user!r}")
        self._user = user
        return verifier.salt, verifier.stored_key, verifier.server_key, verifier.iterations

    def start(self, data: bytes | None) -> MechanismStep:
        if data is None:
            # No initial response: ask for the client-first message with an empty challenge.
            return MechanismStep(False, b"")
        return self._client_first(data)

    def step(self, data: bytes | None) -> MechanismStep:
        if self._stage is _ScramStage.FIRST:
            return self._client_first(data)
        if self._stage is _ScramStage.FINAL:
            return self._client_final(data)
        raise SASLAuthError("SCRAM exchange already complete")

    def _client_first(self, data: bytes | None) -> MechanismStep:
        import scramp

        message = _text(data, "SCRAM client-first message")
        self._server = self._mechanism.make_server(self._auth_info)
        try:
            self._server.set_client_first(message)
            reply = self._server.get_server_first()
        except SASLAuthError:
            raise
        except scramp.ScramException as exc:
            # scramp reports a failing lookup as its own exception, caused by ours.
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, SASLAuthError):
                raise cause from None
            raise SASLAuthError(f"bad SCRAM client-first message: {_scram_reason(exc)}") from None
        except Exception as exc:
            raise SASLAuthError(f"bad SCRAM client-first message ({type(exc).__name__})") \
                from None
        self._stage = _ScramStage.FINAL
        return MechanismStep(False, reply.encode("utf-8"))

    def _client_final(self, data: bytes | None) -> MechanismStep:
        import scramp

        message = _text(data, "SCRAM client-final message")
        try:
            self._server.set_client_final(message)
            reply = self._server.get_server_final()
        except scramp.ScramException as exc:
            reason = _scram_reason(exc)
            if "keys don't match" in str(exc):
                reason = "wrong password"
            raise SASLAuthError(f"user {self._user!r}: {reason}") from None
        except Exception as exc:
            raise SASLAuthError(f"bad SCRAM client-final message ({type(exc).__name__})") \
                from None
        self._stage = _ScramStage.DONE
        return MechanismStep(True, reply.encode("utf-8"))

    @property
    def identity(self) -> str:
        if self._stage is not _ScramStage.DONE or self._user is None:
            raise SASLAuthError("SCRAM exchange not complete")
        return self._user

    @property
    def ssf(self) -> int:
        return 0

    @property
    def layer(self) -> SecurityLayer | None:
        return None


def _scram_reason(exc: Exception) -> str:
    # scramp's messages describe the protocol problem; they never contain secrets.
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.rstrip(".")


class ScramClient:
    """The client side of SCRAM-SHA-256."""

    name: ClassVar[str] = SCRAM_SHA_256

    def __init__(self, username: str, password: str) -> None:
        import scramp

        self._client = scramp.ScramClient([SCRAM_SHA_256], username, password)
        self._stage = _ScramStage.FIRST

    def start(self) -> bytes | None:
        return str(self._client.get_client_first()).encode("utf-8")

    def step(self, data: bytes | None) -> MechanismStep:
        import scramp

        try:
            if self._stage is _ScramStage.FIRST:
                self._client.set_server_first(_text(data, "SCRAM server-first message"))
                self._stage = _ScramStage.FINAL
                return MechanismStep(False, str(self._client.get_client_final()).encode())
            if self._stage is _ScramStage.FINAL:
                # Verify the server's signature: it proves the server knows our verifier.
                self._client.set_server_final(_text(data, "SCRAM server-final message"))
                self._stage = _ScramStage.DONE
                return MechanismStep(True, None)
        except scramp.ScramException as exc:
            raise SASLAuthError(f"SCRAM: {_scram_reason(exc)}") from None
        if data:
            raise SASLAuthError("SCRAM: unexpected data after completion")
        return MechanismStep(True, None)

    @property
    def ssf(self) -> int:
        return 0

    @property
    def layer(self) -> SecurityLayer | None:
        return None


# ------------------------------------------------------------------------------ GSSAPI


class Layer(enum.IntFlag):
    """RFC 4752 security layers (the first byte of the negotiation messages)."""

    NONE = 1
    INTEGRITY = 2
    CONFIDENTIALITY = 4


_LAYER_SSF = {Layer.NONE: 0, Layer.INTEGRITY: 1, Layer.CONFIDENTIALITY: SSF_CONFIDENTIALITY}


def _import_gssapi() -> Any:
    try:
        import gssapi
    except ImportError:
        raise SASLAuthError(
            "GSSAPI needs the 'gssapi' Python package (pip install gssapi; it builds "
            "against MIT Kerberos: Debian libkrb5-dev)"
        ) from None
    return gssapi


def offered_layers(props: SecurityProperties) -> Layer:
    """The layers a server offers under *props* (Cyrus' rule)."""
    layers = Layer(0)
    if props.require == 0:
        layers |= Layer.NONE
    if props.require <= 1 <= props.limit:
        layers |= Layer.INTEGRITY
    if props.require <= SSF_CONFIDENTIALITY <= props.limit:
        layers |= Layer.CONFIDENTIALITY
    return layers


def choose_layer(offer: Layer, props: SecurityProperties) -> Layer | None:
    """The strongest layer of *offer* a client accepts under *props* (Cyrus' rule)."""
    for layer in (Layer.CONFIDENTIALITY, Layer.INTEGRITY, Layer.NONE):
        ssf = _LAYER_SSF[layer]
        if layer in offer and props.require <= ssf <= max(props.limit, 0):
            return layer
    return None


class _GSSLayer:
    """Wraps and unwraps with an established GSSAPI context."""

    def __init__(self, context: gssapi.SecurityContext, layer: Layer, peer_max: int) -> None:
        self._context = context
        self._encrypt = layer is Layer.CONFIDENTIALITY
        self.max_receive = MAX_BUFFER
        self.max_send = context.get_wrap_size_limit(peer_max, self._encrypt)
        if self.max_send <= 0:
            raise SASLAuthError(f"peer's maximum buffer {peer_max} is too small")

    def wrap(self, data: bytes) -> bytes:
        return bytes(self._context.wrap(data, self._encrypt).message)

    def unwrap(self, token: bytes) -> bytes:
        gssapi = _import_gssapi()
        try:
            result = self._context.unwrap(token)
        except gssapi.exceptions.GSSError as exc:
            raise SASLAuthError(f"bad wrapped token: {_gss_reason(exc)}") from None
        if self._encrypt and not result.encrypted:
            raise SASLAuthError("received an unencrypted token on a confidential layer")
        return bytes(result.message)


def _gss_reason(exc: BaseException) -> str:
    gen = getattr(exc, "gen_message", None)
    if callable(gen):
        try:
            return " ".join(str(gen()).split())
        except Exception:
            pass
    return type(exc).__name__


def _layer_message(layers: Layer, max_buffer: int, authzid: bytes = b"") -> bytes:
    return bytes([int(layers)]) + max_buffer.to_bytes(3, "big") + authzid


class _GSSStage(enum.Enum):
    CONTEXT = 1
    OFFER = 2
    CHOICE = 3
    DONE = 4


class GSSAPIServer:
    """The server side of GSSAPI (RFC 4752): Kerberos context, then the security layer.

    :param credentials: acceptor credentials (see :func:`acceptor_credentials`).
    :param props: what this transport requires (decides the layers offered).
    """

    name: ClassVar[str] = GSSAPI
    blocking: ClassVar[bool] = True

    def __init__(self, credentials: gssapi.Credentials, props: SecurityProperties) -> None:
        gssapi = _import_gssapi()
        self._gssapi = gssapi
        self._context = gssapi.SecurityContext(creds=credentials, usage="accept")
        self._props = props
        self._stage = _GSSStage.CONTEXT
        self._offer = Layer(0)
        self._identity: str | None = None
        self._ssf = 0
        self._layer: SecurityLayer | None = None

    def start(self, data: bytes | None) -> MechanismStep:
        return self.step(data)

    def step(self, data: bytes | None) -> MechanismStep:
        if self._stage is _GSSStage.CONTEXT:
            try:
                out = self._context.step(data or b"")
            except self._gssapi.exceptions.GSSError as exc:
                raise SASLAuthError(f"GSSAPI: {_gss_reason(exc)}") from None
            if not self._context.complete:
                return MechanismStep(False, bytes(out or b""))
            self._stage = _GSSStage.OFFER
            if out:
                return MechanismStep(False, bytes(out))
            # No token to return (no mutual authentication): offer the layers at once.
            return self._send_offer()
        if self._stage is _GSSStage.OFFER:
            return self._send_offer()
        if self._stage is _GSSStage.CHOICE:
            return self._receive_choice(data)
        raise SASLAuthError("GSSAPI exchange already complete")

    def _send_offer(self) -> MechanismStep:
        self._offer = offered_layers(self._props)
        if not self._offer:
            raise SASLAuthError("GSSAPI: no security layer meets the required SSF")
        max_buffer = 0 if self._offer == Layer.NONE else MAX_BUFFER
        token = self._context.wrap(_layer_message(self._offer, max_buffer), False).message
        self._stage = _GSSStage.CHOICE
        return MechanismStep(False, bytes(token))

    def _receive_choice(self, data: bytes | None) -> MechanismStep:
        if not data:
            raise SASLAuthError("GSSAPI: no security layer choice")
        try:
            message = bytes(self._context.unwrap(data).message)
        except self._gssapi.exceptions.GSSError as exc:
            raise SASLAuthError(f"GSSAPI: bad security layer choice: {_gss_reason(exc)}") \
                from None
        if len(message) < 4:
            raise SASLAuthError("GSSAPI: short security layer choice")
        try:
            chosen = Layer(message[0])
        except ValueError:
            chosen = Layer(0)
        if chosen not in (Layer.NONE, Layer.INTEGRITY, Layer.CONFIDENTIALITY) or (
            chosen not in self._offer
        ):
            raise SASLAuthError(f"GSSAPI: client chose a layer not offered ({message[0]:#x})")
        peer_max = int.from_bytes(message[1:4], "big")
        authid = self._authid()
        authzid = message[4:].decode("utf-8", errors="replace")
        if authzid and authzid != authid:
            raise SASLAuthError(f"GSSAPI: {authid!r} may not act as {authzid!r}")
        if chosen is not Layer.NONE:
            self._layer = _GSSLayer(self._context, chosen, peer_max or MAX_BUFFER)
        self._ssf = _LAYER_SSF[chosen]
        self._identity = authid
        self._stage = _GSSStage.DONE
        return MechanismStep(True, None)

    def _authid(self) -> str:
        # Cyrus reports "fred", not "fred@REALM", when the realm is the default one.
        principal = self._context.initiator_name
        full = str(principal)
        if "@" in full:
            bare = full.rsplit("@", 1)[0]
            try:
                same = self._gssapi.Name(bare, self._gssapi.NameType.user) == principal
            except self._gssapi.exceptions.GSSError:
                same = False
            if same:
                return bare
        return full

    @property
    def identity(self) -> str:
        if self._identity is None:
            raise SASLAuthError("GSSAPI exchange not complete")
        return self._identity

    @property
    def ssf(self) -> int:
        return self._ssf

    @property
    def layer(self) -> SecurityLayer | None:
        return self._layer


def acceptor_credentials(
    service: str = "libvirt", hostname: str | None = None, keytab: str | None = None
) -> gssapi.Credentials:
    """Acceptor credentials for ``service@hostname`` (libvirtd: ``libvirt@<host name>``).

    :param keytab: the keytab file (default: ``KRB5_KTNAME``, then the system keytab).
    :raises SASLAuthError: when the keytab has no key for the principal.
    """
    import socket

    gss = _import_gssapi()
    host = hostname or socket.gethostname()
    name = gss.Name(f"{service}@{host}", gss.NameType.hostbased_service)
    store = {"keytab": keytab} if keytab else None
    try:
        return cast("gssapi.Credentials", gss.Credentials(name=name, usage="accept", store=store))
    except gss.exceptions.GSSError as exc:
        where = keytab or "the default keytab (KRB5_KTNAME)"
        raise SASLAuthError(
            f"no key for {service}/{host} in {where}: {_gss_reason(exc)}"
        ) from None


class GSSAPIClient:
    """The client side of GSSAPI for ``service@host``, from the default ticket cache.

    :param props: what the transport requires (decides the layer chosen).
    """

    name: ClassVar[str] = GSSAPI

    def __init__(
        self,
        host: str,
        props: SecurityProperties,
        *,
        service: str = "libvirt",
        credentials: gssapi.Credentials | None = None,
    ) -> None:
        gssapi = _import_gssapi()
        self._gssapi = gssapi
        flags = gssapi.RequirementFlag
        target = gssapi.Name(f"{service}@{host}", gssapi.NameType.hostbased_service)
        self._context = gssapi.SecurityContext(
            name=target,
            usage="initiate",
            creds=credentials,
            flags=[
                flags.mutual_authentication,
                flags.out_of_sequence_detection,
                flags.integrity,
                flags.confidentiality,
            ],
        )
        self._props = props
        self._stage = _GSSStage.CONTEXT
        self._ssf = 0
        self._layer: SecurityLayer | None = None

    def start(self) -> bytes | None:
        try:
            return bytes(self._context.step())
        except self._gssapi.exceptions.GSSError as exc:
            raise SASLAuthError(f"GSSAPI: {_gss_reason(exc)}") from None

    def step(self, data: bytes | None) -> MechanismStep:
        gss_error = self._gssapi.exceptions.GSSError
        if self._stage is _GSSStage.CONTEXT:
            try:
                out = self._context.step(data or b"")
            except gss_error as exc:
                raise SASLAuthError(f"GSSAPI: {_gss_reason(exc)}") from None
            if self._context.complete:
                self._stage = _GSSStage.OFFER
            return MechanismStep(False, bytes(out) if out else None)
        if self._stage is _GSSStage.OFFER:
            if not data:
                raise SASLAuthError("GSSAPI: the server sent no security layer offer")
            try:
                offer = bytes(self._context.unwrap(data).message)
            except gss_error as exc:
                raise SASLAuthError(f"GSSAPI: bad security layer offer: {_gss_reason(exc)}") \
                    from None
            if len(offer) != 4:
                raise SASLAuthError("GSSAPI: malformed security layer offer")
            chosen = choose_layer(Layer(offer[0] & 7), self._props)
            if chosen is None:
                raise SASLAuthError(
                    f"GSSAPI: the server offers no acceptable security layer ({offer[0]:#x})"
                )
            server_max = int.from_bytes(offer[1:4], "big")
            if chosen is not Layer.NONE:
                self._layer = _GSSLayer(self._context, chosen, server_max or MAX_BUFFER)
            self._ssf = _LAYER_SSF[chosen]
            max_buffer = 0 if chosen is Layer.NONE else MAX_BUFFER
            token = self._context.wrap(_layer_message(chosen, max_buffer), False).message
            self._stage = _GSSStage.DONE
            return MechanismStep(True, bytes(token))
        if data:
            raise SASLAuthError("GSSAPI: unexpected data after completion")
        return MechanismStep(True, None)

    @property
    def ssf(self) -> int:
        return self._ssf

    @property
    def layer(self) -> SecurityLayer | None:
        return self._layer


def b64(data: bytes) -> str:
    """Base64 text (for password files)."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    """Strict base64 decoding.

    :raises ValueError: on invalid input.
    """
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"invalid base64: {exc}") from None
