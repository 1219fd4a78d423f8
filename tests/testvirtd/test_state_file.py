"""``--state``: what a call acknowledges is on disk, and a document that cannot be saved and
read back is refused before it is acknowledged."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.hypervisor import Hypervisor
from netrpc import RPCError

from ._support import connect, running_daemon

pytestmark = pytest.mark.anyio


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
