"""Node files (``test:///ABS/PATH.xml``) side by side: libvirtd's test driver and testvirtd
load the same files and virsh prints the same for everything in them, and the same errors
for broken ones.

The node file under ``data/node/`` uses every element the test driver reads: node info,
domains in every run state (``test:`` namespace: runstate, transient, hasmanagedsave,
domainsnapshot), networks of each forward mode, host interfaces of each type, pools of
several types with volumes, node devices, and ``file=`` references relative to it.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import peers
from ._testvirtd import Testvirtd, running
from .peers import Endpoints, RealLibvirtd

pytestmark = pytest.mark.interop

DATA = Path(__file__).resolve().parent / "data" / "node"

DOMAINS = ["web", "db", "batch", "scratch", "saved", "crashed", "sleeper", "snapper", "mail"]
NETWORKS = ["nat-net", "isolated", "routed", "host-bridge", "sriov", "open-net"]
POOLS = {"pool-a": ["web.img", "base.img", "overlay.qcow2", "install.iso"],
         "vg0": ["lv-data"], "nfs": [], "ceph": ["disk1"], "sdc": ["sdc1"], "tank": []}
INTERFACES = ["eth0", "br0", "bond0", "eth0.42"]
DEVICES = ["computer", "pci_0000_00_02_0", "pci_0000_03_00_0", "net_eth0_00_16_3e_00_00_01",
           "scsi_host5", "usb_1_1", "block_sda_WDC_1234"]


@pytest.fixture(scope="module")
def testvirtd() -> Iterator[Testvirtd]:
    with running() as daemon:
        yield daemon


@pytest.fixture(scope="module")
def node_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of data/node in a fresh directory (file= references are relative)."""
    target = tmp_path_factory.mktemp("node") / "files"
    shutil.copytree(DATA, target)
    return target


def at(server: Endpoints, path: Path | str) -> Endpoints:
    """*server*'s endpoints, the URIs opening the node file *path*."""
    fields = {f.name: getattr(server, f.name) for f in dataclasses.fields(Endpoints)}
    return Endpoints(**{**fields, "path": str(path)})


def same(real: Endpoints, tvd: Endpoints, *args: str) -> str:
    """Run virsh ARGS against both; assert the same exit status and output; the output."""
    results = []
    for server in (real, tvd):
        proc = peers.run_virsh(server.uri_tcp, *args)
        err = proc.stderr.replace(server.uri_tcp, "<uri>")
        if server.tcp_port is not None:
            err = re.sub(rf"\b{server.tcp_port}\b", "<port>", err)
        results.append((proc.returncode, proc.stdout, err))
    assert results[1] == results[0], f"virsh {' '.join(args)}"
    return results[0][1]


def test_listings(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd, node_dir: Path) -> None:
    real, tvd = at(real_libvirtd, node_dir / "node.xml"), at(testvirtd, node_dir / "node.xml")
    listing = same(real, tvd, "list", "--all")
    assert all(name in listing for name in DOMAINS)
    for command in (("net-list", "--all"), ("pool-list", "--all"), ("iface-list", "--all"),
                    ("nodeinfo",), ("capabilities",), ("hostname",), ("version",),
                    ("list", "--all", "--managed-save"), ("list", "--transient"),
                    ("list", "--with-snapshot"), ("list", "--state-other"),
                    ("list", "--inactive", "--name")):
        same(real, tvd, *command)
    # libvirt 9.0's virsh asks the test driver for active devices only, which it refuses
    assert not same(real, tvd, "nodedev-list").strip()


def test_domains(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd, node_dir: Path) -> None:
    real, tvd = at(real_libvirtd, node_dir / "node.xml"), at(testvirtd, node_dir / "node.xml")
    for name in DOMAINS:
        same(real, tvd, "dumpxml", name)
        same(real, tvd, "domstate", "--reason", name)
        same(real, tvd, "domid", name)
        same(real, tvd, "dumpxml", "--inactive", name)
    same(real, tvd, "snapshot-num", "snapper")


def test_networks_pools_volumes(
    real_libvirtd: RealLibvirtd, testvirtd: Testvirtd, node_dir: Path
) -> None:
    real, tvd = at(real_libvirtd, node_dir / "node.xml"), at(testvirtd, node_dir / "node.xml")
    for name in NETWORKS:
        same(real, tvd, "net-dumpxml", name)
        same(real, tvd, "net-info", name)
    for pool, volumes in POOLS.items():
        same(real, tvd, "pool-dumpxml", pool)
        same(real, tvd, "pool-info", pool)
        same(real, tvd, "vol-list", "--details", pool)
        for vol in volumes:
            same(real, tvd, "vol-dumpxml", "--pool", pool, vol)
            same(real, tvd, "vol-info", "--pool", pool, vol)
            same(real, tvd, "vol-path", "--pool", pool, vol)
    same(real, tvd, "vol-key", "--pool", "ceph", "disk1")
    same(real, tvd, "vol-info", "rbdpool/disk1")
    same(real, tvd, "vol-info", "/pool-a/base.img")


def test_interfaces_and_devices(
    real_libvirtd: RealLibvirtd, testvirtd: Testvirtd, node_dir: Path
) -> None:
    real, tvd = at(real_libvirtd, node_dir / "node.xml"), at(testvirtd, node_dir / "node.xml")
    for name in INTERFACES:
        same(real, tvd, "iface-dumpxml", name)
        same(real, tvd, "iface-mac", name)
    # interfaces without a MAC address make every MAC lookup ambiguous in libvirt 9.0
    same(real, tvd, "iface-name", "00:16:3E:00:00:01")
    same(real, tvd, "iface-dumpxml", "nosuch")
    for name in DEVICES:
        same(real, tvd, "nodedev-dumpxml", name)
    same(real, tvd, "nodedev-dumpxml", "nosuch")


def test_default_instance_files(
    real_libvirtd: RealLibvirtd, testvirtd: Testvirtd
) -> None:
    """test:///default's own interface and node devices, as the test driver has them."""
    for command in (("iface-list", "--all"), ("iface-dumpxml", "eth1"),
                    ("nodedev-dumpxml", "computer"), ("nodedev-dumpxml", "scsi_host1"),
                    ("nodedev-dumpxml", "scsi_host11")):
        same(real_libvirtd, testvirtd, *command)


def test_private_instance_per_connection(
    real_libvirtd: RealLibvirtd, testvirtd: Testvirtd, node_dir: Path
) -> None:
    """Changes made through one connection to a node file are gone for the next."""
    real, tvd = at(real_libvirtd, node_dir / "node.xml"), at(testvirtd, node_dir / "node.xml")
    for server in (real, tvd):
        proc = peers.run_virsh(server.uri_tcp, "suspend", "web")
        assert proc.returncode == 0, peers.describe(proc)
    same(real, tvd, "domstate", "web")


BROKEN = {
    "missing-ref.xml": "<node><domain file='nowhere.xml'/></node>",
    "wrong-root.xml": "<nodes/>",
    "ref-wrong-root.xml": "<node><network file='wrong-root.xml'/></node>",
    "cpu.xml": "<node><cpu><sockets>two</sockets></cpu></node>",
    "active.xml": "<node><cpu><active>-1</active></cpu></node>",
    "memory.xml": "<node><memory>lots</memory></node>",
    "no-os.xml": "<node><domain type='test'><name>a</name><memory>1024</memory></domain></node>",
    "runstate.xml": (
        "<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        "<name>a</name><memory>1024</memory><os><type>hvm</type></os>"
        "<test:runstate>9</test:runstate></domain></node>"
    ),
    "bad-runstate.xml": (
        "<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        "<name>a</name><memory>1024</memory><os><type>hvm</type></os>"
        "<test:runstate>x</test:runstate></domain></node>"
    ),
    "transient-shutoff.xml": (
        "<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        "<name>a</name><memory>1024</memory><os><type>hvm</type></os><test:transient/>"
        "<test:runstate>5</test:runstate></domain></node>"
    ),
    "managedsave-running.xml": (
        "<node><domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>"
        "<name>a</name><memory>1024</memory><os><type>hvm</type></os>"
        "<test:hasmanagedsave/></domain></node>"
    ),
    "pool-no-path.xml": "<node><pool type='dir'><name>p</name></pool></node>",
    "empty.xml": "<node/>",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_node_files(
    real_libvirtd: RealLibvirtd, testvirtd: Testvirtd, tmp_path: Path, name: str
) -> None:
    for file_name, text in BROKEN.items():
        (tmp_path / file_name).write_text(text)
    real, tvd = at(real_libvirtd, tmp_path / name), at(testvirtd, tmp_path / name)
    same(real, tvd, "list", "--all")


def test_missing_node_file_and_directory(
    real_libvirtd: RealLibvirtd, testvirtd: Testvirtd, tmp_path: Path
) -> None:
    for path in (tmp_path / "nothing.xml", tmp_path):
        same(at(real_libvirtd, path), at(testvirtd, path), "list", "--all")


def test_syntax_error(real_libvirtd: RealLibvirtd, testvirtd: Testvirtd, tmp_path: Path) -> None:
    """A file that is not XML: code 35 naming the file and line (the parser's own words
    differ: libxml2 and expat describe syntax errors differently)."""
    bad = tmp_path / "bad.xml"
    bad.write_text("<node>\n<domain>\n</node>\n")
    for server in (real_libvirtd, testvirtd):
        proc = peers.run_virsh(at(server, bad).uri_tcp, "list")
        assert proc.returncode == 1
        assert f"error: {bad}:3: " in proc.stderr, proc.stderr
