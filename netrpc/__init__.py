"""netrpc: libvirt's RPC server layer (virNetServer and friends) for Python.

A sans-IO core (:mod:`netrpc.xdr`, :mod:`netrpc.protocol`, :mod:`netrpc.framing`,
:mod:`netrpc.connection`, :mod:`netrpc.program`) under a thin anyio shell
(:class:`Server`, :class:`Service`, :class:`Client`), byte-compatible with libvirt 9.x.
"""

import logging as _logging

from . import xdr as xdr
from .client import Client as Client
from .errors import ConnectionLostError as ConnectionLostError
from .errors import ErrorCode as ErrorCode
from .errors import ErrorDomain as ErrorDomain
from .errors import LocalProtocolError as LocalProtocolError
from .errors import NetRPCError as NetRPCError
from .errors import ProtocolError as ProtocolError
from .errors import RemoteProtocolError as RemoteProtocolError
from .errors import RPCError as RPCError
from .program import Call as Call
from .program import Procedure as Procedure
from .program import Program as Program
from .program import Reply as Reply
from .program import procedure as procedure
from .protocol import Header as Header
from .protocol import MessageStatus as MessageStatus
from .protocol import MessageType as MessageType
from .server import Daemon as Daemon
from .server import Identity as Identity
from .server import Server as Server
from .server import ServerClient as ServerClient
from .server import Service as Service
from .server import Transport as Transport

__version__ = "0.1.0"

__all__ = (
    "Call",
    "Client",
    "ConnectionLostError",
    "Daemon",
    "ErrorCode",
    "ErrorDomain",
    "Header",
    "Identity",
    "LocalProtocolError",
    "MessageStatus",
    "MessageType",
    "NetRPCError",
    "Procedure",
    "Program",
    "ProtocolError",
    "RPCError",
    "RemoteProtocolError",
    "Reply",
    "Server",
    "ServerClient",
    "Service",
    "Transport",
    "procedure",
    "xdr",
)

_logging.getLogger("netrpc").addHandler(_logging.NullHandler())
