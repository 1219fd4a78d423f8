"""The server side of libvirt's SASL authentication, for any netrpc daemon.

A :class:`SASLConfig` is the daemon's SASL policy (libvirtd's ``mech_list``, password
database, keytab, ``sasl_allowed_username_list`` and ``tcp_min_ssf``); a service opts in
with ``auth="sasl"``::

    sasl = SASLConfig(["SCRAM-SHA-256", "GSSAPI"], password_file="/etc/mydaemon/passwd",
                      keytab="/etc/mydaemon/krb5.keytab", allowed_usernames=["fred", "adm*"])
    server.add_service(Service.unix(path, auth="sasl", sasl=sasl))
    server.add_service(Service.tcp("0.0.0.0", 16509, auth="sasl", sasl=sasl))

and the daemon's program includes :class:`SASLAuthProcedures`, which provides procedures
66-69 (AUTH_LIST, AUTH_SASL_INIT, AUTH_SASL_START, AUTH_SASL_STEP) exactly as libvirtd's
REMOTE program does.  Until a client completes them, every procedure not declared
``auth=False`` is refused with ``authentication required``.

What libvirtd does, and so this module:

* INIT creates an attempt whose security properties depend on the transport: unix sockets
  and TLS need no security layer; plain TCP needs SSF >= ``tcp_min_ssf`` (56 by default),
  so only mechanisms with a security layer (GSSAPI) are offered there.  The mechanism list
  is upper case, comma-separated, in configuration order.
* START picks a mechanism (case-insensitively) and carries the client's first data; STEP
  continues until the mechanism completes.  Then the SSF is checked again (at least 56 on
  insecure transports), the user name is matched against the allow-list globs, the client
  becomes authenticated, and the identity (the bare user name) is recorded in
  ``client.identity.sasl_user``.  A negotiated security layer wraps the connection from the
  next byte on (after the final reply).
* Any failure (unknown user, wrong password, garbage, a mechanism not offered, a user not
  on the allow-list, a call out of order) is answered with VIR_ERR_AUTH_FAILED
  ``authentication failed: authentication failed`` and discards the attempt: the client
  must INIT again.  The connection stays open.  The reason is logged (warning, logger
  ``netrpc.sasl``) without passwords, proofs or tokens.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from ...core.errors import NetRPCError
from ...core.identity import Transport
from ...core.program import Call, procedure
from .layer import SecurityLayerStream
from .mechanisms import (
    GSSAPI,
    MECHANISMS,
    SCRAM_SHA_256,
    GSSAPIServer,
    MechanismStep,
    SASLAuthError,
    ScramServer,
    SecurityProperties,
    ServerMechanism,
    acceptor_credentials,
    permitted,
)
from .passwd import PasswordFile
from .wire import (
    AUTH_LIST,
    AUTH_SASL_INIT,
    AUTH_SASL_START,
    AUTH_SASL_STEP,
    DATA_MAX,
    AuthListRet,
    AuthSaslInitRet,
    AuthSaslStartArgs,
    AuthSaslStartRet,
    AuthSaslStepArgs,
    AuthSaslStepRet,
    AuthType,
    auth_failed,
)

if TYPE_CHECKING:
    import gssapi

__all__ = ("DEFAULT_TCP_MIN_SSF", "SASLAuthProcedures", "SASLConfig", "SASLConfigError")

log = logging.getLogger("netrpc.sasl")

#: libvirtd's built-in tcp_min_ssf ("good enough to require kerberos")
DEFAULT_TCP_MIN_SSF = 56
#: the SSF libvirtd insists on after authenticating over an insecure transport
_FINISH_MIN_SSF = 56

_STATE_KEY = "netrpc.sasl"


class SASLConfigError(NetRPCError, ValueError):
    """A SASL policy that cannot work (the message names the setting)."""


class SASLConfig:
    """A daemon's SASL policy, shared by its services.

    :param mechanisms: mechanism names in the order they are offered (any case):
        ``SCRAM-SHA-256`` and ``GSSAPI``.
    :param password_file: SCRAM verifiers (see :mod:`netrpc.security.sasl.passwd`); required for
        SCRAM-SHA-256.  A path or a :class:`PasswordFile`.
    :param keytab: the GSSAPI keytab (default: ``KRB5_KTNAME``, then the system's).
    :param service: the Kerberos service name (``libvirt``: principal ``libvirt/<host>``).
    :param hostname: the host part of the service principal (default: this host's name,
        as libvirtd).
    :param allowed_usernames: globs (``*``, ``?``, ``[...]``) a user name must match; None
        allows every authenticated user, an empty list nobody.
    :param tcp_min_ssf: the SSF required on plain TCP (libvirtd's built-in default 56).
    :raises SASLConfigError: for an unknown mechanism, SCRAM without a password file, or a
        keytab without a key for the service principal.
    """

    def __init__(
        self,
        mechanisms: Sequence[str] = (SCRAM_SHA_256,),
        *,
        password_file: str | os.PathLike[str] | PasswordFile | None = None,
        keytab: str | None = None,
        service: str = "libvirt",
        hostname: str | None = None,
        allowed_usernames: Sequence[str] | None = None,
        tcp_min_ssf: int = DEFAULT_TCP_MIN_SSF,
    ) -> None:
        names: list[str] = []
        for mech in mechanisms:
            name = mech.upper()
            if name not in MECHANISMS:
                raise SASLConfigError(
                    f"unsupported SASL mechanism {mech!r} (supported: "
                    f"{', '.join(m.lower() for m in MECHANISMS)})"
                )
            if name not in names:
                names.append(name)
        if not names:
            raise SASLConfigError("no SASL mechanism configured")
        if tcp_min_ssf < 0:
            raise SASLConfigError(f"tcp_min_ssf must not be negative, got {tcp_min_ssf}")
        self.mechanisms: tuple[str, ...] = tuple(names)
        if isinstance(password_file, PasswordFile) or password_file is None:
            self.passwords = password_file
        else:
            try:
                self.passwords = PasswordFile(password_file)
            except ValueError as exc:
                raise SASLConfigError(str(exc)) from None
        if SCRAM_SHA_256 in names and self.passwords is None:
            raise SASLConfigError("SCRAM-SHA-256 needs a password file")
        self.keytab = keytab
        self.service = service
        self.hostname = hostname
        self.allowed_usernames = (
            tuple(allowed_usernames) if allowed_usernames is not None else None
        )
        self.tcp_min_ssf = tcp_min_ssf
        if GSSAPI in names:
            # Fail now, naming the keytab, rather than at each client's first attempt.
            self._credentials()

    def __repr__(self) -> str:
        return (
            f"SASLConfig({list(self.mechanisms)!r}, tcp_min_ssf={self.tcp_min_ssf}, "
            f"allowed_usernames={self.allowed_usernames!r})"
        )

    def _credentials(self) -> gssapi.Credentials:
        try:
            return acceptor_credentials(self.service, self.hostname, self.keytab)
        except SASLAuthError as exc:
            raise SASLConfigError(str(exc)) from None

    def properties(self, transport: Transport) -> SecurityProperties:
        """The security properties libvirtd sets for a client on *transport*."""
        if transport is Transport.TCP:
            return SecurityProperties.insecure(self.tcp_min_ssf)
        return SecurityProperties.secure()

    def offered(self, props: SecurityProperties) -> list[str]:
        """The mechanisms offered under *props*, in configuration order."""
        return [name for name in self.mechanisms if permitted(name, props)]

    def new_mechanism(self, name: str, props: SecurityProperties) -> ServerMechanism:
        """A fresh server session of mechanism *name*."""
        if name == SCRAM_SHA_256:
            assert self.passwords is not None
            return ScramServer(self.passwords.lookup)
        if name == GSSAPI:
            try:
                credentials = acceptor_credentials(self.service, self.hostname, self.keytab)
            except SASLAuthError as exc:
                raise SASLAuthError(f"GSSAPI acceptor unavailable: {exc}") from None
            return GSSAPIServer(credentials, props)
        raise SASLAuthError(f"mechanism {name!r} not supported")

    def allows(self, user: str) -> bool:
        """True when *user* may log in (``sasl_allowed_username_list``)."""
        if self.allowed_usernames is None:
            return True
        return any(fnmatch.fnmatchcase(user, pattern) for pattern in self.allowed_usernames)


@dataclass(slots=True)
class _Attempt:
    props: SecurityProperties
    offered: list[str]
    mechanism: ServerMechanism | None = None


def _sasl_config(value: object) -> SASLConfig | None:
    """The SASL policy of a service (services know it only as an object)."""
    return value if isinstance(value, SASLConfig) else None


def _peer(client: Any) -> str:
    peer = getattr(client, "_peer", None)
    return str(peer()) if callable(peer) else "?"


def _server_name(client: Any) -> str:
    return str(getattr(getattr(client, "server", None), "name", "server"))


class SASLAuthProcedures:
    """libvirt's authentication procedures (66-69), for a :class:`~netrpc.Program`.

    Mix it into the daemon's program (it must be the program the client authenticates
    with: libvirt clients use the REMOTE program)::

        class RemoteProgram(SASLAuthProcedures, Program):
            number, version = 0x20008086, 1

    The policy comes from the service the client connected to (``auth`` and ``sasl``).
    """

    @procedure(AUTH_LIST, ret=AuthListRet, auth=False, readonly=True, inline=True)
    def auth_list(self, call: Call, args: None) -> AuthListRet:
        """AUTH_LIST: ``[SASL]`` while a SASL client still has to log in, else ``[NONE]``."""
        client = call.client
        if client.service.auth == "sasl" and not client.authenticated:
            return AuthListRet([AuthType.SASL])
        return AuthListRet([AuthType.NONE])

    @procedure(AUTH_SASL_INIT, ret=AuthSaslInitRet, auth=False, readonly=True, inline=True)
    def auth_sasl_init(self, call: Call, args: None) -> AuthSaslInitRet:
        """AUTH_SASL_INIT: start an attempt; returns the mechanisms offered."""
        client = call.client
        config = _sasl_config(client.service.sasl)
        if (
            client.service.auth != "sasl"
            or config is None
            or client.authenticated
            or _STATE_KEY in client.private
        ):
            log.error(
                "%s: client %d (%s) tried an invalid SASL init request",
                _server_name(client), client.id, _peer(client),
            )
            raise auth_failed()
        props = config.properties(client.identity.transport)
        offered = config.offered(props)
        if not offered:
            log.error(
                "%s: client %d (%s): no SASL mechanism meets the required SSF %d",
                _server_name(client), client.id, _peer(client), props.min_ssf,
            )
            raise auth_failed()
        client.private[_STATE_KEY] = _Attempt(props, offered)
        return AuthSaslInitRet(",".join(offered))

    @procedure(
        AUTH_SASL_START, args=AuthSaslStartArgs, ret=AuthSaslStartRet, auth=False,
        readonly=True, inline=True,
    )
    async def auth_sasl_start(self, call: Call, args: AuthSaslStartArgs) -> AuthSaslStartRet:
        """AUTH_SASL_START: the chosen mechanism and the client's initial response."""
        complete, data = await _exchange(call, args.mech, args.nil, args.data)
        return AuthSaslStartRet(int(complete), int(data is None), data or b"")

    @procedure(
        AUTH_SASL_STEP, args=AuthSaslStepArgs, ret=AuthSaslStepRet, auth=False,
        readonly=True, inline=True,
    )
    async def auth_sasl_step(self, call: Call, args: AuthSaslStepArgs) -> AuthSaslStepRet:
        """AUTH_SASL_STEP: the client's next response."""
        complete, data = await _exchange(call, None, args.nil, args.data)
        return AuthSaslStepRet(int(complete), int(data is None), data or b"")


async def _exchange(
    call: Call, mech_name: str | None, nil: int, data: bytes
) -> tuple[bool, bytes | None]:
    """Run START (*mech_name* given) or STEP; on success of the whole exchange, log the
    client in.  Every failure discards the attempt and raises libvirtd's error."""
    client = call.client
    what = "start" if mech_name is not None else "step"
    attempt: _Attempt | None = client.private.get(_STATE_KEY)
    config = _sasl_config(client.service.sasl)
    if client.service.auth != "sasl" or config is None or attempt is None:
        log.error(
            "%s: client %d (%s) tried an invalid SASL %s request",
            _server_name(client), client.id, _peer(client), what,
        )
        raise auth_failed()
    mech_label = mech_name or (attempt.mechanism.name if attempt.mechanism else "?")
    try:
        mechanism = attempt.mechanism
        if mech_name is not None:
            if mechanism is not None:
                raise SASLAuthError("START sent twice")
            name = mech_name.upper()
            if name not in attempt.offered:
                raise SASLAuthError(
                    f"mechanism {mech_name!r} not offered (offered: {','.join(attempt.offered)})"
                )
            mechanism = attempt.mechanism = config.new_mechanism(name, attempt.props)
            run = mechanism.start
        else:
            if mechanism is None:
                raise SASLAuthError("STEP before START")
            run = mechanism.step
        payload = None if nil else data
        if mechanism.blocking:
            result: MechanismStep = await anyio.to_thread.run_sync(run, payload)
        else:
            result = run(payload)
        if result.data is not None and len(result.data) > DATA_MAX:
            raise SASLAuthError(f"reply data too long ({len(result.data)} bytes)")
        if not result.complete:
            return False, result.data
        _finish(client, config, mechanism)
        return True, result.data
    except SASLAuthError as exc:
        client.private.pop(_STATE_KEY, None)
        log.warning(
            "%s: client %d (%s): SASL authentication failed (%s): %s",
            _server_name(client), client.id, _peer(client), mech_label, exc,
        )
        raise auth_failed() from None
    except Exception:
        client.private.pop(_STATE_KEY, None)
        log.exception(
            "%s: client %d (%s): SASL %s failed unexpectedly",
            _server_name(client), client.id, _peer(client), what,
        )
        raise auth_failed() from None


def _finish(client: Any, config: SASLConfig, mechanism: ServerMechanism) -> None:
    """libvirtd's remoteSASLFinish: SSF check, allow-list, then the client is in."""
    secure = client.identity.transport is not Transport.TCP
    ssf = mechanism.ssf
    if not secure and ssf < _FINISH_MIN_SSF:
        raise SASLAuthError(f"negotiated SSF {ssf} was not strong enough")
    user = mechanism.identity
    if not config.allows(user):
        raise SASLAuthError(
            f"user {user!r} is not on the list of allowed users (sasl_allowed_username_list)"
        )
    client.private.pop(_STATE_KEY, None)
    client.identity = dataclasses.replace(client.identity, sasl_user=user)
    client.set_authenticated()
    layer = mechanism.layer
    if layer is not None:
        client.set_stream_filter(lambda stream: SecurityLayerStream(stream, layer))
    log.info(
        "%s: client %d (%s) authenticated as %r with %s (SSF %d)",
        _server_name(client), client.id, _peer(client), user, mechanism.name, ssf,
    )
