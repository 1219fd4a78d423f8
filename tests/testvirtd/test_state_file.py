"""``--state``: what a call acknowledges is on disk, a document that cannot be saved and read
back is refused before it is acknowledged, saving never holds up unrelated calls, and a crash
in the middle of a save leaves nothing behind."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.daemon import load_hypervisor
from daemons.testvirtd.hypervisor import Hypervisor
from netrpc import Client, RPCError

from ._support import REMOTE, connect, running_daemon


def domain_xml(name: str, depth: int = 1) -> str:
    """A domain whose deepest element is *depth* levels deep (the root counts as 1)."""
    inner = max(0, depth - 2)  # <metadata> is level 2
    nested = "<a>" * inner + "</a>" * inner
    meta = f"<metadata>{nested}</metadata>" if depth > 1 else ""
    return (f"<domain type='test'><name>{name}</name><memory>1024</memory>"
            f"<os><type>hvm</type></os>{meta}</domain>")


def saved_names(path: str) -> set[str]:
    with Hypervisor.load(path) as saved:
        return {ref.name for ref in saved.domains.list_all(0)}


@pytest.mark.anyio
async def test_deep_documents_refused_and_the_state_stays_loadable(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    async with running_daemon(state_file=path) as daemon, connect(daemon) as r:
        await r.call(11, rt.DomainDefineXmlArgs(domain_xml("deepest", 257)), rt.DomainRet)
        for depth in (258, 990, 5000):
            with pytest.raises(RPCError) as info:
                await r.call(11, rt.DomainDefineXmlArgs(domain_xml(f"deep{depth}", depth)))
            assert (info.value.code, info.value.domain) == (35, 20)
            assert "Excessive depth in document: 256" in str(info.value.message)
        await r.call(11, rt.DomainDefineXmlArgs(domain_xml("after")), rt.DomainRet)
    assert {"deepest", "after"} <= saved_names(path)
    assert not any(name.startswith("deep") and name != "deepest" for name in saved_names(path))


@pytest.mark.anyio
async def test_a_failed_save_fails_the_call(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    async with running_daemon(state_file=str(path)) as daemon, connect(daemon) as r:
        await r.call(11, rt.DomainDefineXmlArgs(domain_xml("saved")), rt.DomainRet)
        # the state file turns into a non-empty directory: it cannot be replaced any more
        path.unlink()
        path.mkdir()
        (path / "blocker").write_text("x")
        with pytest.raises(RPCError) as info:
            await r.call(11, rt.DomainDefineXmlArgs(domain_xml("unsaved")))
        assert (info.value.code, info.value.domain) == (38, 0)
        assert str(path) in str(info.value.message)
        # once the file can be written again, the next change saves everything
        (path / "blocker").unlink()
        path.rmdir()
        await r.call(11, rt.DomainDefineXmlArgs(domain_xml("later")), rt.DomainRet)
    assert {"saved", "unsaved", "later"} <= saved_names(str(path))
    assert not [n for n in os.listdir(tmp_path) if n != "state.json"]


# ------------------------------------------------------------------------------ off the loop

ROOT = Path(__file__).resolve().parents[2]
OPEN = rt.ConnectOpenArgs.xdr.encode(rt.ConnectOpenArgs("test:///default", 0))


@contextlib.contextmanager
def daemon_process(workdir: Path, state: Path) -> Iterator[subprocess.Popen[str]]:
    """testvirtd with ``--state`` in a child process, listening on ``workdir/sock``."""
    with open(workdir / "stderr", "a") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemons.testvirtd", "--listen", f"unix://{workdir}/sock",
             "--no-admin", "--qmp-dir", "none", "--state", str(state)],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True,
        )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while proc.stdout.readline().strip() != "ready":
            assert time.monotonic() < deadline and proc.poll() is None, "testvirtd did not start"
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def define_call(name: str) -> bytes:
    return rt.DomainDefineXmlArgs.xdr.encode(rt.DomainDefineXmlArgs(domain_xml(name)))


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_unrelated_calls_do_not_wait_for_saves(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Hypervisor() as hv:
        for n in range(3000):
            hv.domains.define_xml(domain_xml(f"pre{n}"), 0)
        hv.save(str(state))
    with daemon_process(tmp_path, state):
        async with Client.unix(str(tmp_path / "sock")) as a, \
                Client.unix(str(tmp_path / "sock")) as b, \
                Client.unix(str(tmp_path / "sock")) as probe:
            for client in (a, b, probe):
                await client.call(REMOTE, 1, 1, OPEN)
            await a.call(REMOTE, 1, 11, define_call("first"))  # the first save formats all
            defines: list[float] = []
            unrelated: list[float] = []
            done = anyio.Event()

            async def define(client: Client, prefix: str, check: bool) -> None:
                for n in range(25):
                    start = time.perf_counter()
                    await client.call(REMOTE, 1, 11, define_call(f"{prefix}{n}"))
                    defines.append(time.perf_counter() - start)
                    if check:  # answered, so on disk
                        assert f"<name>{prefix}{n}</name>".encode() in state.read_bytes()

            async def measure() -> None:
                while not done.is_set():
                    start = time.perf_counter()
                    await probe.call(REMOTE, 1, 157)  # CONNECT_GET_LIB_VERSION
                    unrelated.append(time.perf_counter() - start)
                    await anyio.sleep(0.005)

            async with anyio.create_task_group() as tg:
                tg.start_soon(measure)
                async with anyio.create_task_group() as definers:
                    definers.start_soon(define, a, "a", True)
                    definers.start_soon(define, b, "b", False)
                done.set()
    assert saved_names(str(state)) >= {f"{p}{n}" for p in "ab" for n in range(25)}
    # A save of 3,000 domains takes tens of milliseconds (more on a loaded machine); a call
    # that has nothing to do with it does not wait for it.  Generous margins: the machine
    # running the suite is busy.
    assert statistics.median(unrelated) < 0.05, (statistics.median(unrelated), len(unrelated))
    assert statistics.median(unrelated) < statistics.median(defines) / 2


def test_temporary_files_of_a_crash_are_removed_at_start(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    load_hypervisor(str(state)).close()
    leftovers = [tmp_path / f".state.json.tmp-{n}" for n in range(3)]
    for path in leftovers:
        path.write_text("{half a state")
    other = tmp_path / ".other.json.tmp-1"  # another state file's: not ours to remove
    other.write_text("x")
    load_hypervisor(str(state)).close()
    assert not any(path.exists() for path in leftovers)
    assert other.exists()


def leftovers(directory: Path) -> list[str]:
    """Files next to the state file that the daemon did not mean to keep."""
    return sorted(set(os.listdir(directory)) - {"state.json", "stderr", "sock"})


async def define_until_killed(
    sock: str, proc: subprocess.Popen[str], prefix: str, delay: float, defined: set[str]
) -> None:
    """Define domains one after the other on *sock*; SIGKILL *proc* after *delay*."""

    async def churn() -> None:
        with contextlib.suppress(Exception):  # the connection dies with the daemon
            async with Client.unix(sock) as client:
                await client.call(REMOTE, 1, 1, OPEN)
                n = 0
                while True:
                    await client.call(REMOTE, 1, 11, define_call(f"{prefix}{n}"))
                    defined.add(f"{prefix}{n}")  # answered: it must survive the kill
                    n += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(churn)
        await anyio.sleep(delay)
        proc.kill()  # SIGKILL, most likely in the middle of a save
        await anyio.sleep(0.2)
        tg.cancel_scope.cancel()


def test_killed_while_saving_leaves_a_loadable_state_and_no_temporary_files(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    defined: set[str] = set()
    for round_ in range(4):
        with daemon_process(tmp_path, state) as proc:
            assert not leftovers(tmp_path)
            anyio.run(define_until_killed, str(tmp_path / "sock"), proc, f"k{round_}_",
                      0.3 + 0.2 * round_, defined)
            proc.wait()
    load_hypervisor(str(state)).close()  # start-up cleans what the last kill left
    assert not leftovers(tmp_path)
    assert len(defined) > 10
    assert defined <= saved_names(str(state))
