"""The anyio I/O shell of the server side: Server, Service, ServerClient, Daemon."""

from ...core.identity import Identity as Identity
from ...core.identity import Transport as Transport
from .client import ServerClient as ServerClient
from .config import ClientLimits as ClientLimits
from .config import KeepAliveSettings as KeepAliveSettings
from .config import PoolSettings as PoolSettings
from .daemon import Daemon as Daemon
from .server import Server as Server
from .service import Service as Service
from .service import systemd_listen_fds as systemd_listen_fds
from .workers import WorkerPool as WorkerPool

__all__ = (
    "ClientLimits",
    "Daemon",
    "Identity",
    "KeepAliveSettings",
    "PoolSettings",
    "Server",
    "ServerClient",
    "Service",
    "Transport",
    "WorkerPool",
    "systemd_listen_fds",
)
