"""netrpc: libvirt's RPC server layer (virNetServer and friends) for Python.

A sans-IO core (:mod:`netrpc.core.xdr`, :mod:`netrpc.core.protocol`, :mod:`netrpc.core.framing`,
:mod:`netrpc.core.connection`, :mod:`netrpc.core.program`) under a thin anyio shell
(:class:`Server`, :class:`Service`, :class:`Client`), byte-compatible with libvirt 9.x.
"""

import logging as _logging

from .core import xdr as xdr
from .core.errors import ConnectionLostError as ConnectionLostError
from .core.errors import ErrorCode as ErrorCode
from .core.errors import ErrorDomain as ErrorDomain
from .core.errors import LocalProtocolError as LocalProtocolError
from .core.errors import NetRPCError as NetRPCError
from .core.errors import ProtocolError as ProtocolError
from .core.errors import RemoteProtocolError as RemoteProtocolError
from .core.errors import RPCError as RPCError
from .core.program import Call as Call
from .core.program import Procedure as Procedure
from .core.program import Program as Program
from .core.program import Reply as Reply
from .core.program import procedure as procedure
from .core.protocol import Header as Header
from .core.protocol import MessageStatus as MessageStatus
from .core.protocol import MessageType as MessageType
from .io.client import Client as Client
from .io.server import Daemon as Daemon
from .io.server import Identity as Identity
from .io.server import Server as Server
from .io.server import ServerClient as ServerClient
from .io.server import Service as Service
from .io.server import Transport as Transport

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
