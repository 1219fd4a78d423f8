"""The admin program: run-time control of a netrpc daemon, wire-compatible with virt-admin.

libvirtd serves a second program, ADMIN (``0x06900690`` version 1), on a private unix socket.
:class:`AdminProgram` implements its 19 procedures on top of any
:class:`~netrpc.io.server.Daemon`: list and inspect servers, resize their worker pools, change
client limits, list, inspect and disconnect clients, read and change the logging
configuration, reload TLS credentials and change the idle timeout.  Every change is live.

:func:`enable_admin` adds the admin server to a daemon in one call::

    daemon = Daemon([server])
    enable_admin(daemon, "/run/mydaemon/admin-sock")
    await daemon.run()

after which ``virt-admin -c 'libvirtd:///system?socket=/run/mydaemon/admin-sock' server-list``
works.  Logging is mapped onto Python's :mod:`logging` (see :class:`LogConfig`).
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from ..core import xdr
from ..core.errors import ErrorCode, ErrorDomain, RPCError
from ..core.program import Call, Program, procedure
from ..io.server import Server, Service, Transport
from .logconfig import LogConfig, LoggingError

if TYPE_CHECKING:
    from ..io.server import Daemon, ServerClient

__all__ = (
    "ADMIN_PROGRAM",
    "ADMIN_VERSION",
    "LIB_VERSION",
    "AdminProc",
    "AdminProgram",
    "NonnullClient",
    "NonnullServer",
    "TypedParam",
    "TypedParamType",
    "enable_admin",
    "params_dict",
)

log = logging.getLogger("netrpc.admin")

#: program number of libvirt's admin protocol
ADMIN_PROGRAM = 0x06900690
#: its version
ADMIN_VERSION = 1
#: the library version reported by CONNECT_GET_LIB_VERSION (libvirt 9.0.0)
LIB_VERSION = 9_000_000

ADMIN_STRING_MAX = 4194304
ADMIN_SERVER_LIST_MAX = 16384
ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX = 32
ADMIN_CLIENT_LIST_MAX = 16384
ADMIN_CLIENT_INFO_PARAMETERS_MAX = 64
ADMIN_SERVER_CLIENT_LIMITS_MAX = 32

_STR = xdr.String(ADMIN_STRING_MAX)
_OPT_STR = xdr.Optional(_STR)


class AdminProc(enum.IntEnum):
    """Procedure numbers of the admin program."""

    CONNECT_OPEN = 1
    CONNECT_CLOSE = 2
    CONNECT_GET_LIB_VERSION = 3
    CONNECT_LIST_SERVERS = 4
    CONNECT_LOOKUP_SERVER = 5
    SERVER_GET_THREADPOOL_PARAMETERS = 6
    SERVER_SET_THREADPOOL_PARAMETERS = 7
    SERVER_LIST_CLIENTS = 8
    SERVER_LOOKUP_CLIENT = 9
    CLIENT_GET_INFO = 10
    CLIENT_CLOSE = 11
    SERVER_GET_CLIENT_LIMITS = 12
    SERVER_SET_CLIENT_LIMITS = 13
    CONNECT_GET_LOGGING_OUTPUTS = 14
    CONNECT_GET_LOGGING_FILTERS = 15
    CONNECT_SET_LOGGING_OUTPUTS = 16
    CONNECT_SET_LOGGING_FILTERS = 17
    SERVER_UPDATE_TLS_FILES = 18
    CONNECT_SET_DAEMON_TIMEOUT = 19


# ------------------------------------------------------------------------------------------
# typed parameters


class TypedParamType(enum.IntEnum):
    """``virTypedParameterType``: the discriminant of a typed parameter's value."""

    INT = 1
    UINT = 2
    LLONG = 3
    ULLONG = 4
    DOUBLE = 5
    BOOLEAN = 6
    STRING = 7


_TYPE_NAMES = {
    TypedParamType.INT: "int",
    TypedParamType.UINT: "uint",
    TypedParamType.LLONG: "llong",
    TypedParamType.ULLONG: "ullong",
    TypedParamType.DOUBLE: "double",
    TypedParamType.BOOLEAN: "boolean",
    TypedParamType.STRING: "string",
}

_TYPED_VALUE = xdr.Union(
    "admin_typed_param_value",
    {
        TypedParamType.INT: xdr.INT,
        TypedParamType.UINT: xdr.UINT,
        TypedParamType.LLONG: xdr.HYPER,
        TypedParamType.ULLONG: xdr.UHYPER,
        TypedParamType.DOUBLE: xdr.DOUBLE,
        TypedParamType.BOOLEAN: xdr.INT,
        TypedParamType.STRING: _STR,
    },
)


@xdr.struct
class TypedParam:
    """``admin_typed_param``: a named value of one of seven types.

    Build one with :meth:`uint`, :meth:`int_`, :meth:`boolean`, :meth:`string` ...
    """

    field: Annotated[str, _STR]
    value: Annotated[xdr.UnionValue, _TYPED_VALUE]

    @property
    def type(self) -> int:
        """The value's :class:`TypedParamType` number."""
        return int(self.value.tag)

    @property
    def data(self) -> Any:
        """The value itself (booleans as ``bool``)."""
        if self.type == TypedParamType.BOOLEAN:
            return bool(self.value.value)
        return self.value.value

    @classmethod
    def make(cls, name: str, type_: TypedParamType, value: Any) -> TypedParam:
        """A parameter of any type."""
        return cls(name, xdr.UnionValue(int(type_), value))

    @classmethod
    def int_(cls, name: str, value: int) -> TypedParam:
        """A signed 32-bit parameter."""
        return cls.make(name, TypedParamType.INT, value)

    @classmethod
    def uint(cls, name: str, value: int) -> TypedParam:
        """An unsigned 32-bit parameter."""
        return cls.make(name, TypedParamType.UINT, value)

    @classmethod
    def ullong(cls, name: str, value: int) -> TypedParam:
        """An unsigned 64-bit parameter."""
        return cls.make(name, TypedParamType.ULLONG, value)

    @classmethod
    def boolean(cls, name: str, value: bool) -> TypedParam:
        """A boolean parameter."""
        return cls.make(name, TypedParamType.BOOLEAN, 1 if value else 0)

    @classmethod
    def string(cls, name: str, value: str) -> TypedParam:
        """A string parameter."""
        return cls.make(name, TypedParamType.STRING, value)


def params_dict(params: Iterable[TypedParam]) -> dict[str, Any]:
    """``{field: value}`` of a typed parameter list (for tests and clients)."""
    return {p.field: p.data for p in params}


# ------------------------------------------------------------------------------------------
# wire structures (admin_protocol.x layouts)


@xdr.struct
class NonnullServer:
    """``admin_nonnull_server``."""

    name: Annotated[str, _STR]


@xdr.struct
class NonnullClient:
    """``admin_nonnull_client``: server, id, connect time (epoch seconds), transport."""

    srv: NonnullServer
    id: xdr.UHyper
    timestamp: xdr.Hyper
    transport: xdr.UInt


@xdr.struct
class FlagsArgs:
    """Arguments made of flags only."""

    flags: xdr.UInt


@xdr.struct
class GetLibVersionRet:
    """``admin_connect_get_lib_version_ret``."""

    libVer: xdr.UHyper


@xdr.struct
class ListServersArgs:
    """``admin_connect_list_servers_args``."""

    need_results: xdr.UInt
    flags: xdr.UInt


@xdr.struct
class ListServersRet:
    """``admin_connect_list_servers_ret``."""

    servers: Annotated[list[NonnullServer], xdr.Array(NonnullServer, ADMIN_SERVER_LIST_MAX)]
    ret: xdr.UInt


@xdr.struct
class LookupServerArgs:
    """``admin_connect_lookup_server_args``."""

    name: Annotated[str, _STR]
    flags: xdr.UInt


@xdr.struct
class LookupServerRet:
    """``admin_connect_lookup_server_ret``."""

    srv: NonnullServer


@xdr.struct
class ServerFlagsArgs:
    """A server and flags (threadpool get, client limits get, TLS update)."""

    srv: NonnullServer
    flags: xdr.UInt


@xdr.struct
class ThreadpoolParamsRet:
    """``admin_server_get_threadpool_parameters_ret``."""

    params: Annotated[
        list[TypedParam], xdr.Array(TypedParam, ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX)
    ]


@xdr.struct
class SetThreadpoolParamsArgs:
    """``admin_server_set_threadpool_parameters_args``."""

    srv: NonnullServer
    params: Annotated[
        list[TypedParam], xdr.Array(TypedParam, ADMIN_SERVER_THREADPOOL_PARAMETERS_MAX)
    ]
    flags: xdr.UInt


@xdr.struct
class ListClientsArgs:
    """``admin_server_list_clients_args``."""

    srv: NonnullServer
    need_results: xdr.UInt
    flags: xdr.UInt


@xdr.struct
class ListClientsRet:
    """``admin_server_list_clients_ret``."""

    clients: Annotated[list[NonnullClient], xdr.Array(NonnullClient, ADMIN_CLIENT_LIST_MAX)]
    ret: xdr.UInt


@xdr.struct
class LookupClientArgs:
    """``admin_server_lookup_client_args``."""

    srv: NonnullServer
    id: xdr.UHyper
    flags: xdr.UInt


@xdr.struct
class LookupClientRet:
    """``admin_server_lookup_client_ret``."""

    clnt: NonnullClient


@xdr.struct
class ClientFlagsArgs:
    """A client and flags (client info, client close)."""

    clnt: NonnullClient
    flags: xdr.UInt


@xdr.struct
class ClientInfoRet:
    """``admin_client_get_info_ret``."""

    params: Annotated[list[TypedParam], xdr.Array(TypedParam, ADMIN_CLIENT_INFO_PARAMETERS_MAX)]


@xdr.struct
class ClientLimitsRet:
    """``admin_server_get_client_limits_ret``."""

    params: Annotated[list[TypedParam], xdr.Array(TypedParam, ADMIN_SERVER_CLIENT_LIMITS_MAX)]


@xdr.struct
class SetClientLimitsArgs:
    """``admin_server_set_client_limits_args``."""

    srv: NonnullServer
    params: Annotated[list[TypedParam], xdr.Array(TypedParam, ADMIN_SERVER_CLIENT_LIMITS_MAX)]
    flags: xdr.UInt


@xdr.struct
class LoggingOutputsRet:
    """``admin_connect_get_logging_outputs_ret``."""

    outputs: Annotated[str, _STR]
    noutputs: xdr.UInt


@xdr.struct
class LoggingFiltersRet:
    """``admin_connect_get_logging_filters_ret`` (the string is optional)."""

    filters: Annotated[str | None, _OPT_STR]
    nfilters: xdr.UInt


@xdr.struct
class SetLoggingArgs:
    """``admin_connect_set_logging_outputs_args`` / ``..._filters_args``."""

    value: Annotated[str | None, _OPT_STR]
    flags: xdr.UInt


@xdr.struct
class SetDaemonTimeoutArgs:
    """``admin_connect_set_daemon_timeout_args``."""

    timeout: xdr.UInt
    flags: xdr.UInt


# ------------------------------------------------------------------------------------------
# errors, worded as libvirtd 9.0 words them

_ARGUMENT_UNSUPPORTED = 74  # VIR_ERR_ARGUMENT_UNSUPPORTED
_SYSTEM_ERROR = 38  # VIR_ERR_SYSTEM_ERROR


def _flags_error(flags: int, function: str) -> RPCError:
    return RPCError(
        ErrorCode.INVALID_ARG,
        ErrorDomain.ADMIN,
        f"unsupported flags (0x{flags:x}) in function {function}",
        str1=function,
        str2="flags",
        int1=0,
        int2=0,
    )


def _check_flags(flags: int, function: str) -> None:
    if flags:
        raise _flags_error(flags, function)


def _invalid_arg(info: str, domain: int = ErrorDomain.NONE) -> RPCError:
    return RPCError.formatted(ErrorCode.INVALID_ARG, domain, "invalid argument: %s", info)


def _no_server(name: str) -> RPCError:
    return RPCError.formatted(
        ErrorCode.NO_SERVER, ErrorDomain.RPC, "Server not found: %s", f"No server named '{name}'"
    )


def _no_client(client_id: int, *, domain: int = ErrorDomain.RPC) -> RPCError:
    if domain == ErrorDomain.ADMIN:
        info = f"no client with matching id '{client_id}' found"
    else:
        info = f"No client with matching ID '{client_id}'"
    return RPCError.formatted(ErrorCode.NO_CLIENT, domain, "Client not found: %s", info)


def _logging_error(exc: LoggingError) -> RPCError:
    if exc.invalid_arg:
        return _invalid_arg(exc.message)
    return RPCError(
        _SYSTEM_ERROR, ErrorDomain.NONE, exc.message, str1="%s", str2=exc.message, int1=exc.errno
    )


def _validate(params: Sequence[TypedParam], allowed: dict[str, TypedParamType]) -> dict[str, Any]:
    """libvirt's typed-parameter validation: known names, right types, no duplicates."""
    values: dict[str, Any] = {}
    for param in params:
        expected = allowed.get(param.field)
        if expected is None:
            raise RPCError.formatted(
                _ARGUMENT_UNSUPPORTED,
                ErrorDomain.NONE,
                "argument unsupported: %s",
                f"parameter '{param.field}' not supported",
            )
        if param.type != expected:
            try:
                got = _TYPE_NAMES[TypedParamType(param.type)]
            except ValueError:
                got = str(param.type)
            raise _invalid_arg(
                f"invalid type '{got}' for parameter '{param.field}', "
                f"expected '{_TYPE_NAMES[expected]}'"
            )
        if param.field in values:
            raise _invalid_arg(f"parameter '{param.field}' occurs multiple times")
        values[param.field] = param.data
    return values


# ------------------------------------------------------------------------------------------
# the program

_THREADPOOL_SETTABLE = {
    "minWorkers": TypedParamType.UINT,
    "maxWorkers": TypedParamType.UINT,
    "prioWorkers": TypedParamType.UINT,
}
_LIMITS_SETTABLE = {
    "nclients_max": TypedParamType.UINT,
    "nclients_unauth_max": TypedParamType.UINT,
    "max_client_output": TypedParamType.UINT,
}


def _nonnull_client(server: Server, client: ServerClient) -> NonnullClient:
    return NonnullClient(
        NonnullServer(server.name),
        client.id,
        int(client.connect_time),
        int(client.identity.transport),
    )


def client_info(client: ServerClient) -> list[TypedParam]:
    """The typed parameters CLIENT_GET_INFO reports for *client*, in libvirtd's order:
    ``readonly``, ``sasl_user_name`` once a SASL login succeeded, then ``sock_addr`` and
    ``tls_x509_dname`` for TCP/TLS clients, or ``unix_user_id``, ``unix_user_name``,
    ``unix_group_id``, ``unix_group_name`` and ``unix_process_id`` for unix clients, and
    ``selinux_context``; each identity item only when the client's identity has it."""
    ident = client.identity
    params = [TypedParam.boolean("readonly", client.readonly)]
    if ident.sasl_user is not None:
        params.append(TypedParam.string("sasl_user_name", ident.sasl_user))
    if ident.transport in (Transport.TCP, Transport.TLS):
        if ident.address:
            params.append(TypedParam.string("sock_addr", ident.address))
        if ident.tls_dn:
            params.append(TypedParam.string("tls_x509_dname", ident.tls_dn))
    else:
        if ident.unix_uid is not None:
            params.append(TypedParam.int_("unix_user_id", ident.unix_uid))
        if ident.user_name is not None:
            params.append(TypedParam.string("unix_user_name", ident.user_name))
        if ident.unix_gid is not None:
            params.append(TypedParam.int_("unix_group_id", ident.unix_gid))
        if ident.group_name is not None:
            params.append(TypedParam.string("unix_group_name", ident.group_name))
        if ident.unix_pid is not None:
            params.append(TypedParam.int_("unix_process_id", ident.unix_pid))
    if ident.selinux_context is not None:
        params.append(TypedParam.string("selinux_context", ident.selinux_context))
    return params


class AdminProgram(Program):
    """libvirt's ADMIN program operating on a :class:`~netrpc.io.server.Daemon`.

    :param daemon: the daemon whose servers, clients and settings it controls.
    :param log_config: the logging configuration it reads and changes (the process-wide
        :meth:`LogConfig.default` if None).
    :param lib_version: the version CONNECT_GET_LIB_VERSION reports
        (``major * 1_000_000 + minor * 1000 + micro``).

    Every procedure runs inline: they only read and change in-memory state.
    """

    number = ADMIN_PROGRAM
    version = ADMIN_VERSION

    def __init__(
        self,
        daemon: Daemon,
        *,
        log_config: LogConfig | None = None,
        lib_version: int = LIB_VERSION,
    ) -> None:
        self.daemon = daemon
        self.log_config = log_config if log_config is not None else LogConfig.default()
        self.lib_version = lib_version

    @property
    def name(self) -> str:
        """For logs."""
        return "admin"

    # ------------------------------------------------------------------ helpers

    def server(self, name: str) -> Server:
        """The daemon's server called *name*.

        :raises RPCError: ``VIR_ERR_NO_SERVER`` when there is none.
        """
        server = self.daemon.servers.get(name)
        if server is None:
            raise _no_server(name)
        return server

    @staticmethod
    def client(server: Server, client_id: int, *, domain: int = ErrorDomain.RPC) -> ServerClient:
        """The connected client *client_id* of *server*.

        :raises RPCError: ``VIR_ERR_NO_CLIENT`` when there is none.
        """
        client = server.clients.get(client_id)
        if client is None or client.closed:
            raise _no_client(client_id, domain=domain)
        return client

    # ------------------------------------------------------------------ connection

    @procedure(AdminProc.CONNECT_OPEN, args=FlagsArgs, inline=True)
    def connect_open(self, call: Call, args: FlagsArgs) -> None:
        """Open the admin connection (flags must be 0)."""
        _check_flags(args.flags, "adminDispatchConnectOpen")
        call.client.private[AdminProgram] = True

    @procedure(AdminProc.CONNECT_CLOSE, inline=True)
    def connect_close(self, call: Call, args: None) -> None:
        """Close the connection once the reply is written."""
        call.client.close_after_reply()

    @procedure(AdminProc.CONNECT_GET_LIB_VERSION, ret=GetLibVersionRet, auth=False, inline=True)
    def connect_get_lib_version(self, call: Call, args: None) -> GetLibVersionRet:
        """The library version (allowed before CONNECT_OPEN, as in libvirtd)."""
        return GetLibVersionRet(self.lib_version)

    # ------------------------------------------------------------------ servers

    @procedure(
        AdminProc.CONNECT_LIST_SERVERS, args=ListServersArgs, ret=ListServersRet, inline=True
    )
    def connect_list_servers(self, call: Call, args: ListServersArgs) -> ListServersRet:
        """The daemon's servers, in creation order."""
        _check_flags(args.flags, "adminConnectListServers")
        names = list(self.daemon.servers)
        servers = [NonnullServer(n) for n in names] if args.need_results else []
        return ListServersRet(servers, len(names))

    @procedure(
        AdminProc.CONNECT_LOOKUP_SERVER, args=LookupServerArgs, ret=LookupServerRet, inline=True
    )
    def connect_lookup_server(self, call: Call, args: LookupServerArgs) -> LookupServerRet:
        """Look a server up by name (libvirtd ignores the flags here)."""
        return LookupServerRet(NonnullServer(self.server(args.name).name))

    @procedure(
        AdminProc.SERVER_GET_THREADPOOL_PARAMETERS,
        args=ServerFlagsArgs,
        ret=ThreadpoolParamsRet,
        inline=True,
    )
    def server_get_threadpool_parameters(
        self, call: Call, args: ServerFlagsArgs
    ) -> ThreadpoolParamsRet:
        """The worker pool's limits and live figures."""
        server = self.server(args.srv.name)
        _check_flags(args.flags, "adminServerGetThreadPoolParameters")
        pool = server.workers
        return ThreadpoolParamsRet(
            [
                TypedParam.uint("minWorkers", pool.min_workers),
                TypedParam.uint("maxWorkers", pool.max_workers),
                TypedParam.uint("nWorkers", pool.current_workers),
                TypedParam.uint("freeWorkers", pool.free_workers),
                TypedParam.uint("prioWorkers", pool.prio_workers),
                TypedParam.uint("jobQueueDepth", pool.queued),
            ]
        )

    @procedure(
        AdminProc.SERVER_SET_THREADPOOL_PARAMETERS, args=SetThreadpoolParamsArgs, inline=True
    )
    def server_set_threadpool_parameters(self, call: Call, args: SetThreadpoolParamsArgs) -> None:
        """Resize the running worker pool (minWorkers, maxWorkers, prioWorkers)."""
        server = self.server(args.srv.name)
        _check_flags(args.flags, "adminServerSetThreadPoolParameters")
        values = _validate(args.params, _THREADPOOL_SETTABLE)
        pool = server.workers
        new_min = values.get("minWorkers", pool.min_workers)
        new_max = values.get("maxWorkers", pool.max_workers)
        if new_min > new_max:
            raise _invalid_arg("minWorkers cannot be larger than maxWorkers")
        if (new_max == 0) != (pool.max_workers == 0):
            raise _invalid_arg(
                "maxWorkers must not be switched from zero to non-zero and vice versa"
            )
        try:
            pool.resize(
                min_workers=values.get("minWorkers"),
                max_workers=values.get("maxWorkers"),
                prio_workers=values.get("prioWorkers"),
            )
        except ValueError as exc:
            raise _invalid_arg(str(exc)) from None
        log.info(
            "%s: worker pool set to min=%d max=%d prio=%d",
            server.name,
            pool.min_workers,
            pool.max_workers,
            pool.prio_workers,
        )

    # ------------------------------------------------------------------ clients

    @procedure(AdminProc.SERVER_LIST_CLIENTS, args=ListClientsArgs, ret=ListClientsRet, inline=True)
    def server_list_clients(self, call: Call, args: ListClientsArgs) -> ListClientsRet:
        """The server's connected clients, oldest first."""
        server = self.server(args.srv.name)
        _check_flags(args.flags, "adminServerListClients")
        clients = [c for c in server.clients.values() if not c.closed]
        listed = [_nonnull_client(server, c) for c in clients] if args.need_results else []
        return ListClientsRet(listed[:ADMIN_CLIENT_LIST_MAX], len(clients))

    @procedure(
        AdminProc.SERVER_LOOKUP_CLIENT, args=LookupClientArgs, ret=LookupClientRet, inline=True
    )
    def server_lookup_client(self, call: Call, args: LookupClientArgs) -> LookupClientRet:
        """Look a client up by id."""
        server = self.server(args.srv.name)
        _check_flags(args.flags, "adminServerLookupClient")
        return LookupClientRet(_nonnull_client(server, self.client(server, args.id)))

    @procedure(AdminProc.CLIENT_GET_INFO, args=ClientFlagsArgs, ret=ClientInfoRet, inline=True)
    def client_get_info(self, call: Call, args: ClientFlagsArgs) -> ClientInfoRet:
        """Identity of a client: see :func:`client_info`."""
        server = self.server(args.clnt.srv.name)
        client = self.client(server, args.clnt.id, domain=ErrorDomain.ADMIN)
        _check_flags(args.flags, "adminClientGetInfo")
        return ClientInfoRet(client_info(client))

    @procedure(AdminProc.CLIENT_CLOSE, args=ClientFlagsArgs, inline=True)
    def client_close(self, call: Call, args: ClientFlagsArgs) -> None:
        """Disconnect a client now; its pending calls are abandoned."""
        server = self.server(args.clnt.srv.name)
        client = self.client(server, args.clnt.id)
        _check_flags(args.flags, "adminClientClose")
        log.info("%s: closing client %d on admin request", server.name, client.id)
        if client is call.client:
            client.close_after_reply()
        else:
            client.close("closed by the administrator")

    @procedure(
        AdminProc.SERVER_GET_CLIENT_LIMITS, args=ServerFlagsArgs, ret=ClientLimitsRet, inline=True
    )
    def server_get_client_limits(self, call: Call, args: ServerFlagsArgs) -> ClientLimitsRet:
        """Client limits and current counts: libvirtd's four, then ``max_client_output``
        (bytes of unread replies at which a client's calls wait; 0: no limit)."""
        server = self.server(args.srv.name)
        _check_flags(args.flags, "adminServerGetClientLimits")
        return ClientLimitsRet(
            [
                TypedParam.uint("nclients_max", server.max_clients),
                TypedParam.uint("nclients", server.nclients),
                TypedParam.uint("nclients_unauth_max", server.max_anonymous_clients),
                TypedParam.uint("nclients_unauth", server.nclients_unauthenticated),
                TypedParam.uint(
                    "max_client_output", min(server.max_client_output or 0, 0xFFFFFFFF)
                ),
            ]
        )

    @procedure(AdminProc.SERVER_SET_CLIENT_LIMITS, args=SetClientLimitsArgs, inline=True)
    def server_set_client_limits(self, call: Call, args: SetClientLimitsArgs) -> None:
        """Change the client limits of the running server (never drops connected clients)."""
        server = self.server(args.srv.name)
        _check_flags(args.flags, "adminServerSetClientLimits")
        values = _validate(args.params, _LIMITS_SETTABLE)
        new_max = values.get("nclients_max", server.max_clients)
        new_unauth = values.get("nclients_unauth_max", server.max_anonymous_clients)
        if new_max < new_unauth:
            raise _invalid_arg(
                "The overall maximum number of clients waiting for authentication must not be "
                "less than the overall maximum number of clients",
                ErrorDomain.RPC,
            )
        server.set_client_limits(new_max, new_unauth)
        log.info("%s: client limits set to max=%d unauth=%d", server.name, new_max, new_unauth)
        if "max_client_output" in values:
            # 0: no limit (as in the configuration file)
            server.set_client_output_limit(values["max_client_output"] or None)
            log.info("%s: max_client_output set to %d", server.name,
                     values["max_client_output"])

    # ------------------------------------------------------------------ logging

    @procedure(
        AdminProc.CONNECT_GET_LOGGING_OUTPUTS, args=FlagsArgs, ret=LoggingOutputsRet, inline=True
    )
    def connect_get_logging_outputs(self, call: Call, args: FlagsArgs) -> LoggingOutputsRet:
        """The log outputs in libvirt syntax."""
        _check_flags(args.flags, "adminConnectGetLoggingOutputs")
        cfg = self.log_config
        return LoggingOutputsRet(cfg.outputs_string(), len(cfg.outputs))

    @procedure(
        AdminProc.CONNECT_GET_LOGGING_FILTERS, args=FlagsArgs, ret=LoggingFiltersRet, inline=True
    )
    def connect_get_logging_filters(self, call: Call, args: FlagsArgs) -> LoggingFiltersRet:
        """The log filters in libvirt syntax (absent when there are none)."""
        _check_flags(args.flags, "adminConnectGetLoggingFilters")
        cfg = self.log_config
        return LoggingFiltersRet(cfg.filters_string() or None, len(cfg.filters))

    @procedure(AdminProc.CONNECT_SET_LOGGING_OUTPUTS, args=SetLoggingArgs, inline=True)
    def connect_set_logging_outputs(self, call: Call, args: SetLoggingArgs) -> None:
        """Replace the log outputs; empty restores the default output."""
        _check_flags(args.flags, "adminConnectSetLoggingOutputs")
        try:
            self.log_config.set_outputs(args.value)
        except LoggingError as exc:
            raise _logging_error(exc) from None

    @procedure(AdminProc.CONNECT_SET_LOGGING_FILTERS, args=SetLoggingArgs, inline=True)
    def connect_set_logging_filters(self, call: Call, args: SetLoggingArgs) -> None:
        """Replace the log filters; empty removes them."""
        _check_flags(args.flags, "adminConnectSetLoggingFilters")
        try:
            self.log_config.set_filters(args.value)
        except LoggingError as exc:
            raise _logging_error(exc) from None

    # ------------------------------------------------------------------ TLS, timeout

    @procedure(AdminProc.SERVER_UPDATE_TLS_FILES, args=ServerFlagsArgs, inline=True)
    def server_update_tls_files(self, call: Call, args: ServerFlagsArgs) -> None:
        """Re-read the certificate files of every TLS service of the server.

        Each service's ``tls_context.reload()`` is called; new connections use the new
        credentials, established ones are unaffected.
        """
        server = self.server(args.srv.name)
        _check_flags(args.flags, "adminServerUpdateTlsFiles")
        contexts = []
        for service in server.services:
            if service.tls_context is not None and service.tls_context not in contexts:
                contexts.append(service.tls_context)
        if not contexts:
            raise RPCError.internal("no tls service found, unable to update tls files")
        for context in contexts:
            try:
                context.reload()
            except RPCError:
                raise
            except Exception as exc:
                raise RPCError.internal(f"unable to update tls files: {exc}") from None
        log.info("%s: TLS files reloaded", server.name)

    @procedure(AdminProc.CONNECT_SET_DAEMON_TIMEOUT, args=SetDaemonTimeoutArgs, inline=True)
    def connect_set_daemon_timeout(self, call: Call, args: SetDaemonTimeoutArgs) -> None:
        """Exit after *timeout* seconds without clients (0 disables)."""
        _check_flags(args.flags, "adminConnectSetDaemonTimeout")
        self.daemon.set_idle_timeout(args.timeout or None)
        log.info("idle timeout set to %d s", args.timeout)


def enable_admin(
    daemon: Daemon,
    socket_path: str | os.PathLike[str],
    *,
    server_name: str = "admin",
    mode: int = 0o700,
    group: str | int | None = None,
    allowed_uids: Iterable[int] | None = None,
    max_clients: int = 5000,
    max_queued_clients: int = 20,
    max_client_requests: int = 5,
    min_workers: int = 5,
    max_workers: int = 20,
    keepalive_interval: float = 5,
    keepalive_count: int = 5,
    log_config: LogConfig | None = None,
    lib_version: int = LIB_VERSION,
) -> Server:
    """Give *daemon* an admin server, like libvirtd's: call before ``daemon.run()``.

    The server (named *server_name*) carries :class:`AdminProgram` on a unix socket at
    *socket_path* with permissions *mode* (and *group*, a name or gid, as libvirtd gives it
    ``unix_sock_group``); only peers whose uid is in *allowed_uids*
    (default: the daemon's effective uid) are served, others are refused and logged.  It
    has no priority workers and ``max_anonymous_clients=0``.  The other limits default to
    libvirtd's ``admin_*`` settings.

    :returns: the new server (already added to the daemon).
    """
    uids = [os.geteuid()] if allowed_uids is None else list(allowed_uids)
    program = AdminProgram(daemon, log_config=log_config, lib_version=lib_version)
    server = Server(
        server_name,
        [program],
        max_clients=max_clients,
        max_anonymous_clients=0,
        max_queued_clients=max_queued_clients,
        max_client_requests=max_client_requests,
        min_workers=min_workers,
        max_workers=max_workers,
        prio_workers=0,
        keepalive_interval=keepalive_interval,
        keepalive_count=keepalive_count,
    )
    server.add_service(
        Service.unix(
            socket_path, mode=mode, group=group, allowed_uids=uids, fd_passing=False,
            name="admin",
        )
    )
    daemon.add_server(server)
    return server
