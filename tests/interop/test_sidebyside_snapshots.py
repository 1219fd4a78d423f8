"""Snapshot and checkpoint APIs and virsh's snapshot/checkpoint commands, side by side with
libvirtd's test driver."""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest

from daemons.testvirtd import protocol as P
from netrpc import Client, RPCError
from netrpc.core import xdrlang

from . import peers
from .rawcalls import RawCall, compare
from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("snapshots"))
def test_snapshot_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


@pytest.mark.parametrize("name", scenario_names("saving"))
def test_saving_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


#: virsh shows creation times as local dates, and snapshot-create-as without a name names
#: the snapshot after that time: the wall clock of two servers cannot match.
_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}")
_CREATION = re.compile(r"<creationTime>\d+</creationTime>")


def _times(text: str) -> str:
    return _CREATION.sub("<creationTime>T</creationTime>", _DATE.sub("<date>", text))


def test_virsh_snapshot_commands(sidebyside: SideBySide) -> None:
    v = sidebyside.virsh
    v("snapshot-list", "test")
    v("snapshot-current", "test")
    v("snapshot-create-as", "test", "s1", "first one")
    v("snapshot-create-as", "--domain", "test", "--name", "s2", "--print-xml")
    v("snapshot-create-as", "test", "s2", "--atomic")
    v("snapshot-create-as", "test", "bad", "--disk-only")
    v("snapshot-create-as", "test", "bad", "--no-metadata")
    v("snapshot-create-as", "test", "bad", "--reuse-external")
    v("snapshot-create-as", "test", "s3", "--diskspec", "vda,snapshot=internal",
      "--memspec", "snapshot=internal")
    v("snapshot-create-as", "test", "bad", "--diskspec", "vda,snapshot=external")
    v("suspend", "test")
    v("snapshot-create-as", "test", "p1", "--halt")
    v("domstate", "--reason", "test")
    for args in (["--tree"], ["--parent"], ["--roots"], ["--leaves"], ["--no-leaves"],
                 ["--name"], ["--topological"], ["--inactive"], ["--active"],
                 ["--disk-only"], ["--internal"], ["--external"], ["--metadata"],
                 ["--no-metadata"], ["--current"], ["--from", "s1"],
                 ["--from", "s1", "--descendants"], ["--current", "--descendants", "--name"],
                 ["--from", "nope"]):
        v("snapshot-list", "test", *args, normalise=_times)
    for name in ("s1", "s2", "p1"):
        v("snapshot-info", "test", name)
        v("snapshot-dumpxml", "test", name, normalise=_times)
        v("snapshot-parent", "test", name)
    v("snapshot-info", "test", "--current")
    v("snapshot-current", "test", normalise=_times)
    v("snapshot-current", "test", "--name")
    v("snapshot-current", "test", "s1")
    v("snapshot-current", "test", "--name")
    v("snapshot-revert", "test", "s2")
    v("domstate", "--reason", "test")
    v("snapshot-revert", "test", "p1", "--running")
    v("domstate", "--reason", "test")
    v("snapshot-revert", "test", "--current", "--paused")
    v("domstate", "--reason", "test")
    v("snapshot-revert", "test", "s2", "--running", "--paused")
    v("snapshot-revert", "test", "nope")
    v("snapshot-delete", "test", "s2", "--metadata")
    v("snapshot-delete", "test", "s2", "--children-only")
    v("snapshot-list", "test", "--tree")
    v("snapshot-delete", "test", "s1")
    v("snapshot-list", "test", "--parent", normalise=_times)
    v("snapshot-delete", "test", "--current", "--children")
    v("snapshot-list", "test", "--tree")
    v("snapshot-create-as", "test", normalise=_times)
    v("snapshot-delete", "test", "nope")
    v("undefine", "test")
    v("destroy", "test")
    v("undefine", "test")
    v("undefine", "test", "--snapshots-metadata")
    v("list", "--all")


def test_virsh_checkpoint_commands(sidebyside: SideBySide) -> None:
    v = sidebyside.virsh
    v("checkpoint-list", "test")
    v("checkpoint-create-as", "test", "c1", "first")
    v("checkpoint-create-as", "test", "c2", "--diskspec", "vda,checkpoint=no")
    v("checkpoint-create-as", "test", "--name", "c3", "--print-xml")
    v("checkpoint-create-as", "test", "c3", "--quiesce")
    v("checkpoint-create-as", "test", "bad", "--diskspec", "vdz")
    for args in (["--tree"], ["--parent"], ["--roots"], ["--leaves"], ["--no-leaves"],
                 ["--name"], ["--topological"], ["--from", "c1"],
                 ["--from", "c1", "--descendants"], ["--from", "nope"]):
        v("checkpoint-list", "test", *args, normalise=_times)
    for name in ("c1", "c2", "c3"):
        v("checkpoint-info", "test", name)
        v("checkpoint-dumpxml", "test", name, normalise=_times)
        v("checkpoint-dumpxml", "test", name, "--no-domain", normalise=_times)
        v("checkpoint-parent", "test", name)
    v("checkpoint-dumpxml", "test", "c1", "--size", normalise=_times)
    v("snapshot-create-as", "test", "s1")
    v("checkpoint-delete", "test", "c2", "--children-only")
    v("checkpoint-delete", "test", "c1", "--metadata")
    v("checkpoint-list", "test", "--tree")
    v("checkpoint-delete", "test", "c2", "--children")
    v("checkpoint-list", "test", "--tree")
    v("destroy", "test")
    v("checkpoint-create-as", "test", "c4")


def test_virsh_saving_commands(sidebyside: SideBySide, tmp_path: Path) -> None:
    v = sidebyside.virsh
    image = str(tmp_path / "test.img")
    v("save", "test", image)
    v("save", "test", image)
    v("domstate", "--reason", "test")
    v("save-image-dumpxml", image)
    v("save-image-dumpxml", image, "--security-info")
    v("save-image-define", image, str(tmp_path / "nope.xml"))
    v("restore", image)
    v("restore", image)
    v("domstate", "--reason", "test")
    v("save", "test", image, "--running")
    v("save", "test", image, "--bypass-cache")
    v("restore", str(tmp_path / "missing.img"))
    v("managedsave", "test")
    v("domstate", "--reason", "test")
    v("list", "--all", "--managed-save")
    v("list", "--all", "--with-managed-save")
    v("dominfo", "test", normalise=lambda t: re.sub(r"[\d.]+s\n", "<t>\n", t))
    v("managedsave-dumpxml", "test")
    v("managedsave-remove", "test")
    v("managedsave-remove", "test")
    v("start", "test")
    v("managedsave", "test", "--running")
    v("start", "test")
    v("dump", "test", str(tmp_path / "core"))
    v("dump", "test", str(tmp_path / "core"), "--format", "kdump-zlib")
    v("dump", "test", str(tmp_path / "core"), "--live")
    v("dump", "test", str(tmp_path / "core"), "--crash")
    v("domstate", "--reason", "test")
    v("start", "test")
    v("screenshot", "test", str(tmp_path / "shot.png"))
    v("screenshot", "test", str(tmp_path / "shot.png"), "--screen", "1")


_TEST = P.NonnullDomain("test", uuid.UUID("6695eb01-f6a4-8304-79aa-97f2502e193f").bytes, 1)
_GONE = P.NonnullDomain("gone", uuid.UUID("6695eb01-f6a4-8304-79aa-97f2502e1930").bytes, -1)
_SNAP = "<domainsnapshot><name>{}</name></domainsnapshot>"


def _snap(name: str, dom: Any = _TEST) -> Any:
    return P.NonnullDomainSnapshot(name, dom)


def _chk(name: str, dom: Any = _TEST) -> Any:
    return P.NonnullDomainCheckpoint(name, dom)


#: what libvirtd's dispatcher and the API entry points check before the test driver runs,
#: and handles libvirt's client library would not send (paths are absolute: libvirtd and
#: testvirtd make relative ones absolute against their own, different, directories)
RAW_CALLS: list[RawCall] = [
    ("DOMAIN_SNAPSHOT_CREATE_XML", (_TEST, _SNAP.format("raw1"), 2)),
    ("DOMAIN_SNAPSHOT_CREATE_XML", (_TEST, _SNAP.format("raw1"), 1 | 4)),
    ("DOMAIN_SNAPSHOT_CREATE_XML", (_TEST, _SNAP.format("raw1"), 1 | 8)),
    ("DOMAIN_SNAPSHOT_CREATE_XML", (_TEST, _SNAP.format("raw1"), 2 | 4 | 8)),
    ("DOMAIN_SNAPSHOT_CREATE_XML", (_GONE, _SNAP.format("raw1"), 0)),
    ("DOMAIN_SNAPSHOT_CREATE_XML", (_TEST, _SNAP.format("raw1"), 0)),
    ("DOMAIN_SNAPSHOT_CREATE_XML", (_TEST, _SNAP.format("raw2"), 0)),
    ("DOMAIN_SNAPSHOT_LIST_NAMES", (_TEST, 16385, 0)),
    ("DOMAIN_SNAPSHOT_LIST_NAMES", (_TEST, 1, 1024)),
    ("DOMAIN_SNAPSHOT_LIST_NAMES", (_TEST, 2, 1024)),
    # (not maxnames 0 with snapshots to list, nor a negative one: libvirtd 9.0 crashes)
    ("DOMAIN_SNAPSHOT_LIST_NAMES", (_TEST, 1, 0)),
    ("DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES", (_snap("raw1"), 16385, 0)),
    ("DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES", (_snap("raw1"), 5, 0)),
    ("DOMAIN_SNAPSHOT_LIST_CHILDREN_NAMES", (_snap("nope"), 5, 0)),
    ("DOMAIN_LIST_ALL_SNAPSHOTS", (_TEST, 0, 1024)),
    ("DOMAIN_LIST_ALL_SNAPSHOTS", (_TEST, 1, 1)),
    ("DOMAIN_LIST_ALL_SNAPSHOTS", (_GONE, 1, 0)),
    ("DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN", (_snap("raw1"), 0, 0)),
    ("DOMAIN_SNAPSHOT_LIST_ALL_CHILDREN", (_snap("raw1", _GONE), 1, 0)),
    ("DOMAIN_SNAPSHOT_GET_XML_DESC", (_snap("raw1", _GONE), 0)),
    ("DOMAIN_SNAPSHOT_GET_PARENT", (_snap("raw2"), 0)),
    ("DOMAIN_SNAPSHOT_CURRENT", (_TEST, 0)),
    ("DOMAIN_REVERT_TO_SNAPSHOT", (_snap("raw1"), 1 | 2)),
    ("DOMAIN_REVERT_TO_SNAPSHOT", (_snap("raw1"), 16)),
    ("DOMAIN_SNAPSHOT_DELETE", (_snap("raw1"), 1 | 4)),
    ("DOMAIN_SNAPSHOT_DELETE", (_snap("raw1"), 2)),
    ("DOMAIN_SNAPSHOT_DELETE", (_snap("raw1"), 1)),
    ("DOMAIN_SNAPSHOT_NUM", (_TEST, 0)),
    ("DOMAIN_CHECKPOINT_CREATE_XML", (_TEST, "<domaincheckpoint/>", 1 | 2)),
    ("DOMAIN_CHECKPOINT_CREATE_XML", (_TEST, "<domaincheckpoint/>", 4)),
    ("DOMAIN_CHECKPOINT_CREATE_XML", (_TEST, "<domaincheckpoint/>", 8)),
    ("DOMAIN_CHECKPOINT_DELETE", (_chk("c"), 1 | 4)),
    ("DOMAIN_CHECKPOINT_DELETE", (_chk("c"), 0)),
    ("DOMAIN_CHECKPOINT_GET_XML_DESC", (_chk("c", _GONE), 0)),
    ("DOMAIN_LIST_ALL_CHECKPOINTS", (_TEST, 0, 0)),
    ("DOMAIN_LIST_ALL_CHECKPOINTS", (_TEST, 1, 16)),
    ("DOMAIN_SAVE_FLAGS", (_TEST, "/nonexistent/x", None, 2 | 4)),
    ("DOMAIN_SAVE_FLAGS", (_GONE, "/nonexistent/x", None, 0)),
    ("DOMAIN_RESTORE_FLAGS", ("/nonexistent/x", None, 2 | 4)),
    ("DOMAIN_RESTORE_FLAGS", ("/nonexistent//./x/../y", None, 0)),
    ("DOMAIN_SAVE_IMAGE_GET_XML_DESC", ("/nonexistent/x", 2)),
    ("DOMAIN_SAVE_IMAGE_DEFINE_XML", ("/nonexistent/x", "<domain/>", 2 | 4)),
    ("DOMAIN_MANAGED_SAVE", (_TEST, 2 | 4)),
    ("DOMAIN_MANAGED_SAVE", (_GONE, 0)),
    ("DOMAIN_MANAGED_SAVE_REMOVE", (_GONE, 0)),
    ("DOMAIN_HAS_MANAGED_SAVE_IMAGE", (_GONE, 0)),
    ("DOMAIN_CORE_DUMP", (_TEST, "/nonexistent/x", 1 | 2)),
    ("DOMAIN_CORE_DUMP", (_TEST, "/nonexistent/x", 1 | 8)),
    ("DOMAIN_CORE_DUMP", (_TEST, "/nonexistent/x", 2 | 8)),
    ("DOMAIN_CORE_DUMP", (_TEST, "/nonexistent/x", 16)),
    ("DOMAIN_CORE_DUMP_WITH_FORMAT", (_TEST, "/nonexistent/x", 5, 0)),
    ("DOMAIN_CORE_DUMP_WITH_FORMAT", (_TEST, "/nonexistent/x", 4, 0)),
    ("DOMAIN_CORE_DUMP_WITH_FORMAT", (_GONE, "/nonexistent/x", 0, 0)),
]


def test_raw_snapshot_and_saving_calls(sidebyside: SideBySide) -> None:
    """Arguments libvirt's client library would not send get the same answers."""
    real_path, tvd_path = sidebyside.real.unix_path, sidebyside.tvd.unix_path
    assert real_path and tvd_path
    differences = compare(real_path, tvd_path, RAW_CALLS)
    assert not differences, "\n".join(differences)


_MARKER = ("<domain type='test'><name>zz-marker</name>"
           "<uuid>0f0f0f0f-1111-2222-3333-444455556667</uuid><memory>65536</memory>"
           "<os><type>hvm</type></os></domain>")


async def _events_of(path: str, image: str) -> list[Any]:
    """Lifecycle events a raw client receives through a legacy registration and a callback
    registration while saving, restoring, snapshotting, reverting, managed-saving and
    crash-dumping "test"."""
    got: list[Any] = []
    done = anyio.Event()
    legacy = P.PROCS["DOMAIN_EVENT_LIFECYCLE"]
    callback = P.PROCS["DOMAIN_EVENT_CALLBACK_LIFECYCLE"]

    def on_legacy(_header: Any, payload: bytes) -> None:
        assert legacy.args is not None
        msg = legacy.args.decode(payload)
        got.append(["legacy", msg.dom.name, msg.event, msg.detail])
        if msg.dom.name == "zz-marker" and msg.event == 1:
            done.set()

    def on_callback(_header: Any, payload: bytes) -> None:
        assert callback.args is not None
        msg = callback.args.decode(payload)
        got.append(["callback", msg.callbackID, msg.msg.dom.name, msg.msg.event,
                    msg.msg.detail])

    async def call(name: str, *values: Any) -> Any:
        decl = P.PROCS[name]
        payload = b"" if decl.args is None else decl.args.encode(
            type(xdrlang.default_value(decl.args))(*values))
        try:
            reply = await client.call(P.REMOTE_PROGRAM, 1, decl.number, payload)
        except RPCError as exc:
            got.append([name, "error", exc.message])
            return None
        return decl.ret.decode(reply) if decl.ret is not None else None

    async with Client.unix(path) as client:
        client.on_event(P.REMOTE_PROGRAM, legacy.number, on_legacy)
        client.on_event(P.REMOTE_PROGRAM, callback.number, on_callback)
        await call("CONNECT_OPEN", "test:///default", 0)
        await call("CONNECT_DOMAIN_EVENT_REGISTER_ANY", 0)
        got.append(["callback id", repr(await call("CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY",
                                                   0, _TEST))])
        await call("DOMAIN_SAVE", _TEST, image)
        restored = (await call("DOMAIN_LOOKUP_BY_NAME", "test")).dom
        await call("DOMAIN_RESTORE", image)
        restored = (await call("DOMAIN_LOOKUP_BY_NAME", "test")).dom
        await call("DOMAIN_SNAPSHOT_CREATE_XML", restored, _SNAP.format("e1"), 0)
        await call("DOMAIN_SUSPEND", restored)
        await call("DOMAIN_SNAPSHOT_CREATE_XML", restored, _SNAP.format("e2"), 0)
        await call("DOMAIN_REVERT_TO_SNAPSHOT", _snap("e1", restored), 0)
        await call("DOMAIN_REVERT_TO_SNAPSHOT", _snap("e2", restored), 0)
        await call("DOMAIN_SNAPSHOT_CREATE_XML", restored, _SNAP.format("e3"), 8)
        await call("DOMAIN_REVERT_TO_SNAPSHOT", _snap("e3", restored), 2)
        await call("DOMAIN_CREATE", restored)
        await call("DOMAIN_MANAGED_SAVE", restored, 0)
        await call("DOMAIN_CREATE", restored)
        restored = (await call("DOMAIN_LOOKUP_BY_NAME", "test")).dom
        await call("DOMAIN_CORE_DUMP", restored, image + ".core", 1)
        marker = (await call("DOMAIN_DEFINE_XML", _MARKER)).dom
        await call("DOMAIN_UNDEFINE", marker)
        with anyio.fail_after(20):
            await done.wait()
    return got


def test_events_both_registrations(sidebyside: SideBySide, tmp_path: Path) -> None:
    """The lifecycle events of saving and snapshots reach a legacy registration and a
    callback registration alike, in libvirtd's order."""
    real_path, tvd_path = sidebyside.real.unix_path, sidebyside.tvd.unix_path
    assert real_path and tvd_path
    image = str(tmp_path / "events.img")
    theirs = anyio.run(_events_of, real_path, image)
    ours = anyio.run(_events_of, tvd_path, image)
    assert [repr(e) for e in ours] == [repr(e) for e in theirs]
    assert any(e[0] == "legacy" and e[3] == 2 for e in theirs)  # STARTED/RESTORED seen


def test_golibvirt_snapshots_and_saving(sidebyside: SideBySide, golibvirt_snapshots: Path,
                                       tmp_path: Path) -> None:
    """go-libvirt's own encoding of these calls (optional strings, list sizes, the
    screenshot stream) gets the same answers from both."""
    outputs = []
    for server in (sidebyside.real, sidebyside.tvd):
        assert server.unix_path is not None
        proc = subprocess.run([str(golibvirt_snapshots), "-unix", server.unix_path,
                               "-dir", str(tmp_path)], capture_output=True, text=True,
                              timeout=120, env=peers.client_env())
        assert proc.returncode == 0, peers.describe(proc)
        outputs.append(peers.json_lines(proc.stdout))
    theirs, ours = outputs
    assert ours == theirs
    assert len(theirs) > 30


def test_virsh_read_only(sidebyside: SideBySide, tmp_path: Path) -> None:
    """What a read-only connection may and may not do, in libvirt's words."""
    v = sidebyside.virsh
    v("snapshot-create-as", "test", "s1")
    for args in (("snapshot-create-as", "test", "s2"), ("snapshot-list", "test"),
                 ("snapshot-info", "test", "s1"), ("snapshot-dumpxml", "test", "s1"),
                 ("snapshot-dumpxml", "test", "s1", "--security-info"),
                 ("snapshot-current", "test", "--name"), ("snapshot-parent", "test", "s1"),
                 ("snapshot-revert", "test", "s1"), ("snapshot-delete", "test", "s1"),
                 ("checkpoint-list", "test"), ("checkpoint-create-as", "test", "c1"),
                 ("save", "test", str(tmp_path / "ro.img")),
                 ("restore", str(tmp_path / "ro.img")),
                 ("save-image-dumpxml", str(tmp_path / "ro.img")),
                 ("managedsave", "test"), ("managedsave-remove", "test"),
                 ("dump", "test", str(tmp_path / "ro.core")),
                 ("screenshot", "test", str(tmp_path / "ro.png")),
                 ("list", "--all", "--with-snapshot")):
        v(*args, readonly=True, normalise=_times)


def test_virsh_from_files_and_editing(sidebyside: SideBySide, tmp_path: Path) -> None:
    """snapshot-create / checkpoint-create from files (redefining, current, validated), and
    snapshot-edit / checkpoint-edit through an editor that changes the description."""
    v = sidebyside.virsh
    snap_file = tmp_path / "snap.xml"
    snap_file.write_text("<domainsnapshot><name>f1</name><description>from a file"
                         "</description></domainsnapshot>")
    v("snapshot-create", "test", str(snap_file))
    v("snapshot-create", "test", str(snap_file), "--validate")
    v("snapshot-create", "test", "--xmlfile", str(tmp_path / "missing.xml"))
    v("snapshot-dumpxml", "test", "f1", "--security-info", normalise=_times)
    # redefine from what libvirt printed, as virsh users do
    real_xml = peers.run_virsh(sidebyside.real.uri_tcp, "snapshot-dumpxml", "test", "f1").stdout
    redefined = tmp_path / "redefine.xml"
    redefined.write_text(real_xml.replace("from a file", "redefined"))
    v("snapshot-create", "test", str(redefined), "--redefine", normalise=_times)
    v("snapshot-create", "test", str(redefined), "--redefine", "--current", normalise=_times)
    v("snapshot-create", "test", str(redefined), "--current")
    v("snapshot-info", "test", "f1")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/redefined/edited/' \"$1\"\n")
    editor.chmod(0o755)
    outputs = []
    for server in (sidebyside.real, sidebyside.tvd):
        for args in (("snapshot-edit", "test", "f1"), ("snapshot-dumpxml", "test", "f1")):
            proc = peers.run_virsh(server.uri_tcp, *args, env={"EDITOR": str(editor),
                                                               "VISUAL": str(editor)})
            outputs.append((proc.returncode, _times(proc.stdout), proc.stderr))
    assert outputs[2:] == outputs[:2]
    assert "edited" in outputs[1][1]
    v("snapshot-delete", "test", "--current")
    chk_file = tmp_path / "chk.xml"
    chk_file.write_text("<domaincheckpoint><name>k1</name></domaincheckpoint>")
    v("checkpoint-create", "test", str(chk_file))
    v("checkpoint-create", "test", str(chk_file), "--quiesce")
    v("checkpoint-dumpxml", "test", "k1", normalise=_times)
    v("dump", "test", str(tmp_path / "core"), "--memory-only")
    v("dump", "test", str(tmp_path / "core"), "--bypass-cache")
    v("dump", "test", str(tmp_path / "core"), "--format", "win-dmp")
    v("dump", "test", str(tmp_path / "core"), "--reset")
