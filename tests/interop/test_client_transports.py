"""Client.connect(uri) over unix, tcp, tls and ext, against testvirtd and the real libvirtd;
and the testvirtd fixture opening a custom node file."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from netrpc import Client
from netrpc.testing import TestVirtd

from . import peers
from .peers import RealLibvirtd
from .test_ssh_transport import session


class TlsLibvirtd(RealLibvirtd):
    tls_port: int = 0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The testvirtd harness's throwaway PKI, copied for the real libvirtd too."""
    with TestVirtd(tls=True) as tv:
        target = tmp_path_factory.mktemp("pki") / "pki"
        shutil.copytree(tv.pki_dir, target)
    return target


@pytest.fixture(scope="module")
def tls_libvirtd(pki: Path, libvirtd_binary: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsLibvirtd]:
    workdir = peers.short_workdir(tmp_path_factory.mktemp("lvd-tls"))
    port = peers.free_tcp_port()
    daemon = TlsLibvirtd(workdir, config={
        "listen_tls": "1", "tls_port": json.dumps(str(port)), "auth_tls": '"none"',
        "key_file": json.dumps(str(pki / "serverkey.pem")),
        "cert_file": json.dumps(str(pki / "servercert.pem")),
        "ca_file": json.dumps(str(pki / "cacert.pem")),
    })
    daemon.tls_port = port
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def find_nc() -> str:
    path = shutil.which("nc")
    if path is None:
        raise peers.PeerMissing("nc not found (install netcat-openbsd)")
    return path


def ext_command(tmp_path: Path, socket_path: str) -> str:
    """An ext transport command: OpenBSD netcat on the daemon's unix socket."""
    nc = peers.require_peer(find_nc)
    script = tmp_path / "ext.sh"
    script.write_text(f"#!/bin/sh\nexec {nc} -U {socket_path}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


@pytest.mark.anyio
async def test_every_transport_to_testvirtd(testvirtd: TestVirtd, tmp_path: Path) -> None:
    uris = [
        f"test+unix:///default?socket={testvirtd.socket}",
        testvirtd.tcp_uri,
        testvirtd.tls_uri,
        f"test+ext:///default?command={ext_command(tmp_path, testvirtd.socket)}",
    ]
    for uri in uris:
        async with Client.connect(uri) as client:
            with anyio.fail_after(30):
                assert await session(client) == ("TEST", ["test"]), uri


@pytest.mark.anyio
async def test_every_transport_to_real_libvirtd(
    tls_libvirtd: TlsLibvirtd, pki: Path, tmp_path: Path
) -> None:
    uris = [
        f"test+unix:///default?socket={tls_libvirtd.unix_path}",
        f"test+tcp://127.0.0.1:{tls_libvirtd.tcp_port}/default",
        f"test+tls://127.0.0.1:{tls_libvirtd.tls_port}/default?pkipath={pki}",
        f"test+ext:///default?command={ext_command(tmp_path, tls_libvirtd.unix_path)}",
    ]
    for uri in uris:
        async with Client.connect(uri) as client:
            with anyio.fail_after(30):
                assert await session(client) == ("TEST", ["test"]), uri


NODE = """<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>2</cores><threads>1</threads>
       <active>2</active><mhz>2000</mhz><model>i686</model></cpu>
  <memory>4194304</memory>
  <domain type='test'>
    <name>custom</name>
    <memory>524288</memory>
    <os><type>hvm</type></os>
  </domain>
</node>
"""


def test_fixture_opens_a_custom_node_file(
    testvirtd: TestVirtd, tmp_path: Path, system_python: str
) -> None:
    node = tmp_path / "node.xml"
    node.write_text(NODE)
    uri = testvirtd.node_uri(node)
    assert uri == f"test+unix://{node}?socket={testvirtd.socket}"
    script = ("import libvirt, sys, json; c = libvirt.open(sys.argv[1]); "
              "print(json.dumps([sorted(d.name() for d in c.listAllDomains()), c.getInfo()[1]]))")
    proc = peers.run_system_python("-c", script, uri)
    assert proc.returncode == 0, peers.describe(proc)
    assert json.loads(proc.stdout) == [["custom"], 4096]
    # The shared test:///default next to it is untouched.
    proc = peers.run_system_python("-c", script, testvirtd.uri)
    assert json.loads(proc.stdout)[0] == ["test"]
