"""The admin program against an in-process daemon, with netrpc's own Client."""

from __future__ import annotations

import logging
import os

import anyio
import pytest

from netrpc import Client, ConnectionLostError, RPCError
from netrpc.admin.program import (
    ADMIN_PROGRAM,
    ClientFlagsArgs,
    FlagsArgs,
    ListClientsArgs,
    ListServersArgs,
    LookupClientArgs,
    LookupServerArgs,
    NonnullServer,
    ServerFlagsArgs,
    SetDaemonTimeoutArgs,
    SetLoggingArgs,
    SetThreadpoolParamsArgs,
    TypedParam,
    enable_admin,
    params_dict,
)
from netrpc.io.server import Daemon, Server, Service

from .echo import ECHO_PROGRAM, Seconds, Text
from .helpers import admin_client, running_daemon, wait_until

SRV = NonnullServer("testvirtd")


async def test_servers_version_and_open() -> None:
    async with running_daemon() as env:
        async with Client.unix(env.admin_sock) as raw:
            # GET_LIB_VERSION works before CONNECT_OPEN, as in libvirtd
            assert await raw.call(ADMIN_PROGRAM, 1, 3) == bytes.fromhex("0000000000895440")
            with pytest.raises(RPCError) as info:
                await raw.call(ADMIN_PROGRAM, 1, 1, FlagsArgs.xdr.encode(FlagsArgs(1)))
            err = info.value
            assert (err.code, err.domain) == (8, 62)
            assert err.message == "unsupported flags (0x1) in function adminDispatchConnectOpen"
        async with admin_client(env) as adm:
            ret = await adm.call("connect_list_servers", ListServersArgs(1, 0))
            assert [s.name for s in ret.servers] == ["testvirtd", "admin"]
            assert ret.ret == 2
            ret = await adm.call("connect_list_servers", ListServersArgs(0, 0))
            assert (ret.servers, ret.ret) == ([], 2)
            ret = await adm.call("connect_lookup_server", LookupServerArgs("admin", 0))
            assert ret.srv.name == "admin"


async def test_missing_server_error_is_exact() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        with pytest.raises(RPCError) as info:
            await adm.call("connect_lookup_server", LookupServerArgs("nosuchsrv", 0))
        err = info.value
        assert (err.code, err.domain, err.level) == (95, 7, 2)
        assert err.message == "Server not found: No server named 'nosuchsrv'"
        assert (err.str1, err.str2, err.str3) == (
            "Server not found: %s",
            "No server named 'nosuchsrv'",
            None,
        )
        assert (err.int1, err.int2) == (-1, -1)


async def test_connect_close_closes_after_reply() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        await adm.call("connect_close")
        with anyio.fail_after(5):
            await adm.client.closed.wait()


async def test_threadpool_get_and_set_changes_the_pool() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        assert await adm.threadpool() == {
            "minWorkers": 5,
            "maxWorkers": 20,
            "nWorkers": 5,
            "freeWorkers": 5,
            "prioWorkers": 5,
            "jobQueueDepth": 0,
        }
        assert (await adm.threadpool("admin"))["prioWorkers"] == 0
        await adm.set_threadpool(minWorkers=0, maxWorkers=1, prioWorkers=2)
        pool = env.server.workers
        assert (pool.min_workers, pool.max_workers, pool.prio_workers) == (0, 1, 2)
        # one worker now: a second blocking call waits in the queue
        async with Client.unix(env.sock) as c, anyio.create_task_group() as tg:
            for _ in range(2):
                tg.start_soon(c.call, ECHO_PROGRAM, 1, 3, Seconds.xdr.encode(Seconds(0.5)))
            await wait_until(lambda: pool.queued == 1)
            info = await adm.threadpool()
            assert info["jobQueueDepth"] == 1
            assert info["freeWorkers"] == 0
            await adm.set_threadpool(maxWorkers=2)  # the waiting job starts at once
            await wait_until(lambda: pool.queued == 0 and pool.busy == 2)


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        (
            [TypedParam.uint("bogus", 1)],
            74,
            "argument unsupported: parameter 'bogus' not supported",
        ),
        (
            [TypedParam.uint("nWorkers", 1)],
            74,
            "argument unsupported: parameter 'nWorkers' not supported",
        ),
        (
            [TypedParam.int_("minWorkers", 1)],
            8,
            "invalid argument: invalid type 'int' for parameter 'minWorkers', expected 'uint'",
        ),
        (
            [TypedParam.uint("minWorkers", 1), TypedParam.uint("minWorkers", 2)],
            8,
            "invalid argument: parameter 'minWorkers' occurs multiple times",
        ),
        (
            [TypedParam.uint("minWorkers", 30)],
            8,
            "invalid argument: minWorkers cannot be larger than maxWorkers",
        ),
        (
            [TypedParam.uint("minWorkers", 0), TypedParam.uint("maxWorkers", 0)],
            8,
            "invalid argument: maxWorkers must not be switched from zero to non-zero and "
            "vice versa",
        ),
    ],
)
async def test_threadpool_set_errors(params: list[TypedParam], code: int, message: str) -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        with pytest.raises(RPCError) as info:
            await adm.call(
                "server_set_threadpool_parameters", SetThreadpoolParamsArgs(SRV, params, 0)
            )
        assert (info.value.code, info.value.domain, info.value.message) == (code, 0, message)
        assert env.server.workers.min_workers == 5
        assert env.server.workers.max_workers == 20


async def test_client_limits_are_live() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        assert await adm.limits() == {
            "nclients_max": 5000,
            "nclients": 0,
            "nclients_unauth_max": 20,
            "nclients_unauth": 0,
            "max_client_output": 4 * 1024 * 1024,
        }
        await adm.set_limits(nclients_max=1, nclients_unauth_max=1)
        assert (env.server.max_clients, env.server.max_anonymous_clients) == (1, 1)
        echo = Text.xdr.encode(Text("hi"))
        async with Client.unix(env.sock) as first:
            await first.call(ECHO_PROGRAM, 1, 1, echo)
            async with Client.unix(env.sock) as second:
                answered = anyio.Event()

                async def waiting_call() -> None:
                    await second.call(ECHO_PROGRAM, 1, 1, echo)
                    answered.set()

                async with anyio.create_task_group() as tg:
                    tg.start_soon(waiting_call)
                    await anyio.sleep(0.3)
                    assert not answered.is_set()  # not accepted: the server is full
                    assert (await adm.limits())["nclients"] == 1
                    await adm.set_limits(nclients_max=2)
                    with anyio.fail_after(5):
                        await answered.wait()
                assert (await adm.limits())["nclients"] == 2
                # lowering never drops connected clients
                await adm.set_limits(nclients_max=1)
                await first.call(ECHO_PROGRAM, 1, 1, echo)
                await second.call(ECHO_PROGRAM, 1, 1, echo)
                assert env.server.nclients == 2


async def test_max_client_output_is_shown_and_set_live() -> None:
    async with running_daemon(max_client_output=65536) as env, admin_client(env) as adm:
        assert (await adm.limits())["max_client_output"] == 65536
        async with Client.unix(env.sock):
            await wait_until(lambda: env.server.nclients == 1)
            [connected] = env.server.clients.values()
            assert connected.max_output == 65536
            # connected clients take the new limit too; 0 means no limit
            await adm.set_limits(max_client_output=1024)
            assert (env.server.max_client_output, connected.max_output) == (1024, 1024)
            await adm.set_limits(max_client_output=0)
            assert (env.server.max_client_output, connected.max_output) == (None, None)
            assert (await adm.limits())["max_client_output"] == 0
        assert (env.server.max_clients, env.server.max_anonymous_clients) == (5000, 20)


async def test_client_limits_errors() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        with pytest.raises(RPCError) as info:
            await adm.set_limits(nclients_max=10)
        assert (info.value.code, info.value.domain) == (8, 7)
        assert info.value.message == (
            "invalid argument: The overall maximum number of clients waiting for "
            "authentication must not be less than the overall maximum number of clients"
        )
        with pytest.raises(RPCError) as info:
            await adm.set_limits(nclients=10)
        assert info.value.code == 74
        assert env.server.max_clients == 5000


async def test_list_lookup_and_info_of_clients() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        async with Client.unix(env.sock):
            await wait_until(lambda: env.server.nclients == 1)
            ret = await adm.call("server_list_clients", ListClientsArgs(SRV, 1, 0))
            assert ret.ret == 1
            (clnt,) = ret.clients
            sc = env.server.clients[clnt.id]
            assert clnt.srv.name == "testvirtd"
            assert clnt.timestamp == int(sc.connect_time)
            assert clnt.transport == 0
            looked = await adm.call("server_lookup_client", LookupClientArgs(SRV, clnt.id, 0))
            assert looked.clnt == clnt
            info = await adm.call("client_get_info", ClientFlagsArgs(clnt, 0))
            fields = [(p.field, p.type) for p in info.params]
            assert fields == [
                ("readonly", 6),
                ("unix_user_id", 1),
                ("unix_user_name", 7),
                ("unix_group_id", 1),
                ("unix_group_name", 7),
                ("unix_process_id", 1),
            ]
            values = params_dict(info.params)
            assert values["readonly"] is False
            assert values["unix_user_id"] == os.getuid()
            assert values["unix_process_id"] == os.getpid()
        with pytest.raises(RPCError) as err:
            await adm.call("server_lookup_client", LookupClientArgs(SRV, 4242, 0))
        assert (err.value.code, err.value.domain) == (96, 7)
        assert err.value.message == "Client not found: No client with matching ID '4242'"


async def test_client_close_disconnects_and_cancels_pending_calls() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        async with Client.unix(env.sock) as victim:
            failure: list[BaseException] = []

            async def pending() -> None:
                try:
                    await victim.call(ECHO_PROGRAM, 1, 2, Seconds.xdr.encode(Seconds(30)))
                except ConnectionLostError as exc:
                    failure.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(pending)
                await wait_until(lambda: env.server.nclients == 1)
                await anyio.sleep(0.1)
                (clnt,) = (
                    await adm.call("server_list_clients", ListClientsArgs(SRV, 1, 0))
                ).clients
                with anyio.fail_after(5):
                    await adm.call("client_close", ClientFlagsArgs(clnt, 0))
                    await victim.closed.wait()
            assert failure and isinstance(failure[0], ConnectionLostError)
            await wait_until(lambda: env.server.nclients == 0)


async def test_logging_outputs_and_filters() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        ret = await adm.call("connect_get_logging_filters", FlagsArgs(0))
        assert (ret.filters, ret.nfilters) == (None, 0)
        path = os.path.join(os.path.dirname(env.sock), "d.log")
        await adm.call("connect_set_logging_outputs", SetLoggingArgs(f"4:stderr 1:file:{path}", 0))
        ret = await adm.call("connect_get_logging_outputs", FlagsArgs(0))
        assert (ret.outputs, ret.noutputs) == (f"4:stderr 1:file:{path}", 2)
        await adm.call(
            "connect_set_logging_filters", SetLoggingArgs("1:netrpc-admin-test.chatty 3:*", 0)
        )
        ret = await adm.call("connect_get_logging_filters", FlagsArgs(0))
        assert (ret.filters, ret.nfilters) == ("1:*netrpc-admin-test.chatty* 3:*** ", 2)
        logging.getLogger("netrpc-admin-test.chatty").debug("debug shown")
        logging.getLogger("netrpc-admin-test.quiet").info("info hidden")
        logging.getLogger("netrpc-admin-test.quiet").warning("warning shown")
        text = await anyio.Path(path).read_text()
        assert "debug shown" in text and "warning shown" in text and "info hidden" not in text
        with pytest.raises(RPCError) as err:
            await adm.call("connect_set_logging_outputs", SetLoggingArgs("9:stderr", 0))
        assert err.value.message == (
            "invalid argument: Invalid log priority '9' for log output '9:stderr'"
        )
        with pytest.raises(RPCError) as err:
            await adm.call("connect_set_logging_filters", SetLoggingArgs("bogus", 0))
        assert err.value.message == "invalid argument: Malformed format for filter 'bogus'"
        await adm.call("connect_set_logging_outputs", SetLoggingArgs(None, 0))
        ret = await adm.call("connect_get_logging_outputs", FlagsArgs(0))
        assert (ret.outputs, ret.noutputs) == ("3:stderr", 1)


class FakeTLS:
    def __init__(self) -> None:
        self.reloads = 0

    def reload(self) -> None:
        self.reloads += 1


async def test_update_tls_files() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        with pytest.raises(RPCError) as err:
            await adm.call("server_update_tls_files", ServerFlagsArgs(SRV, 0))
        assert (err.value.code, err.value.domain) == (1, 7)
        assert err.value.message == (
            "internal error: no tls service found, unable to update tls files"
        )
        fake = FakeTLS()
        service = Service.tcp("127.0.0.1", 0)
        service.tls_context = fake  # type: ignore[assignment]
        env.server.services.append(service)  # registered, not listening: enough here
        await adm.call("server_update_tls_files", ServerFlagsArgs(SRV, 0))
        assert fake.reloads == 1


async def test_set_daemon_timeout() -> None:
    async with running_daemon() as env, admin_client(env) as adm:
        await adm.call("connect_set_daemon_timeout", SetDaemonTimeoutArgs(120, 0))
        assert env.daemon.idle_timeout == 120
        await adm.call("connect_set_daemon_timeout", SetDaemonTimeoutArgs(0, 0))
        assert env.daemon.idle_timeout is None


async def test_admin_refuses_other_uids() -> None:
    import tempfile

    tmp = tempfile.mkdtemp(prefix="netrpc-adm-", dir="/tmp")
    daemon = Daemon([Server("testvirtd")])
    admin = enable_admin(daemon, f"{tmp}/admin-sock", allowed_uids=[os.geteuid() + 1])
    assert admin.max_anonymous_clients == 0 and admin.workers.prio_workers == 0
    assert os.path.basename(admin.services[0].path or "") == "admin-sock"
    async with anyio.create_task_group() as tg:
        await tg.start(admin.serve)
        assert oct(os.stat(f"{tmp}/admin-sock").st_mode & 0o777) == "0o700"
        async with Client.unix(f"{tmp}/admin-sock") as c:
            with pytest.raises(ConnectionLostError):
                await c.call(ADMIN_PROGRAM, 1, 3)
        admin.shutdown(1)
    os.rmdir(tmp)
