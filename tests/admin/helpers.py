"""In-process daemon with an admin server, and an admin client, for the admin tests."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio

from netrpc import Client, Daemon, Server, Service
from netrpc.admin.logconfig import LogConfig
from netrpc.admin.program import AdminProgram, NonnullServer, TypedParam, enable_admin, params_dict

from .echo import EchoProgram


@dataclass
class Env:
    daemon: Daemon
    server: Server
    admin: Server
    sock: str
    admin_sock: str
    log_config: LogConfig


@contextlib.asynccontextmanager
async def running_daemon(**server_options: Any) -> AsyncIterator[Env]:
    """A Daemon with server "testvirtd" (EchoProgram on a unix socket) and admin, serving
    in the current task group (servers started directly: no signal handling)."""
    tmp = tempfile.mkdtemp(prefix="netrpc-adm-", dir="/tmp")
    try:
        server = Server("testvirtd", [EchoProgram()], **server_options)
        server.add_service(Service.unix(f"{tmp}/sock"))
        daemon = Daemon([server])
        log_config = LogConfig(logger="netrpc-admin-test")
        admin = enable_admin(daemon, f"{tmp}/admin-sock", log_config=log_config)
        async with anyio.create_task_group() as tg:
            for srv in daemon.servers.values():
                await tg.start(srv.serve)
            try:
                yield Env(daemon, server, admin, f"{tmp}/sock", f"{tmp}/admin-sock", log_config)
            finally:
                for srv in daemon.servers.values():
                    srv.shutdown(1)
                log_config.reset()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Admin:
    """Typed calls to the admin program."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def call(self, name: str, args: Any = None) -> Any:
        return await self.client.call_procedure(AdminProgram, name, args)

    async def threadpool(self, server: str = "testvirtd") -> dict[str, Any]:
        from netrpc.admin.program import ServerFlagsArgs

        ret = await self.call(
            "server_get_threadpool_parameters", ServerFlagsArgs(NonnullServer(server), 0)
        )
        return params_dict(ret.params)

    async def limits(self, server: str = "testvirtd") -> dict[str, Any]:
        from netrpc.admin.program import ServerFlagsArgs

        ret = await self.call("server_get_client_limits", ServerFlagsArgs(NonnullServer(server), 0))
        return params_dict(ret.params)

    async def set_limits(self, server: str = "testvirtd", **values: int) -> None:
        from netrpc.admin.program import SetClientLimitsArgs

        params = [TypedParam.uint(k, v) for k, v in values.items()]
        await self.call(
            "server_set_client_limits", SetClientLimitsArgs(NonnullServer(server), params, 0)
        )

    async def set_threadpool(self, server: str = "testvirtd", **values: int) -> None:
        from netrpc.admin.program import SetThreadpoolParamsArgs

        params = [TypedParam.uint(k, v) for k, v in values.items()]
        await self.call(
            "server_set_threadpool_parameters",
            SetThreadpoolParamsArgs(NonnullServer(server), params, 0),
        )


@contextlib.asynccontextmanager
async def admin_client(env: Env) -> AsyncIterator[Admin]:
    async with Client.unix(env.admin_sock) as client:
        from netrpc.admin.program import FlagsArgs

        await client.call_procedure(AdminProgram, "connect_open", FlagsArgs(0))
        yield Admin(client)


async def wait_until(predicate: Any) -> None:
    with anyio.fail_after(5):
        while not predicate():
            await anyio.sleep(0.01)
