"""Client.connect over ssh (libvirt's command line, netcat and virt-ssh-helper modes) through
a real sshd, against testvirtd and the real libvirtd; default unix sockets; ssh errors."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from netrpc import Client, ConnectionLostError
from netrpc.io.uri import parse_uri
from netrpc.testing import TestVirtd

from . import peers
from .peers import RealLibvirtd
from .sshd import PrivateSshd

REMOTE = rt.REMOTE_PROGRAM
DRIVER_SOCKET = "/run/libvirt/virttestd-sock"


@pytest.fixture(scope="module")
def driver_testvirtd() -> Iterator[TestVirtd]:
    """testvirtd also listening where libvirt looks for a test driver daemon."""
    if os.path.exists(DRIVER_SOCKET):
        pytest.fail(f"{DRIVER_SOCKET} exists: another test driver daemon is running")
    with TestVirtd(tls=False, args=["--driver-sockets"]) as daemon:
        yield daemon


async def session(client: Client) -> tuple[str, list[str]]:
    """Open the URI's driver, return (type, domain names)."""
    assert client.uri is not None
    await client.call(REMOTE, 1, 1, rt.ConnectOpenArgs.xdr.encode(
        rt.ConnectOpenArgs(client.uri.name, 0)))
    kind = rt.StringRet.xdr.decode(await client.call(REMOTE, 1, 3)).value
    raw = await client.call(REMOTE, 1, 273, rt.ConnectListAllArgs.xdr.encode(
        rt.ConnectListAllArgs(1, 0)))
    names = sorted(d.name for d in rt.ConnectListAllDomainsRet.xdr.decode(raw).domains)
    return kind, names


FAKE_SSH = """#!/bin/sh
printf '%s\\0' "$0" "$@" > "{out}"
exit 1
"""

URIS = [
    "test+ssh://host/default",
    "test+ssh://user@host:2222/default?keyfile=/k/id&no_verify=1&no_tty=1",
    "qemu+ssh://host/system?socket=/s/sock",
    "qemu+ssh://host/system?netcat=/my%20nc",
    "qemu+ssh://host/system?proxy=netcat",
    "qemu+ssh://host/system?proxy=native",
    "qemu+ssh://host/session",
    "test+ssh://host/tmp/node.xml?foo=bar",
    "qemu+ssh://u%20x@[::1]:22/system?name=qemu:///embed",
    "qemu+ssh://host",
]


@pytest.mark.parametrize("readonly", [False, True])
def test_ssh_command_line_is_libvirts(tmp_path: Path, virsh: str, readonly: bool) -> None:
    """What virsh (libvirt 9.0's remote driver) runs for each URI, byte for byte."""
    out = tmp_path / "argv"
    fake = tmp_path / "fake-ssh"
    fake.write_text(FAKE_SSH.format(out=out))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    for uri in URIS:
        full = uri + ("&" if "?" in uri else "?") + f"command={fake}"
        out.unlink(missing_ok=True)
        peers.run_virsh(full, "list", readonly=readonly)
        assert out.exists(), f"virsh did not run ssh for {uri}"
        theirs = out.read_bytes().decode().split("\0")[:-1]
        ours = parse_uri(full).ssh_argv(readonly=readonly)
        assert ours == theirs, json.dumps({"uri": uri, "ours": ours, "theirs": theirs})


@pytest.mark.anyio
async def test_client_over_ssh_native_to_real_libvirtd(
    sshd: PrivateSshd, libvirtd_binary: str, tmp_path: Path
) -> None:
    """virt-ssh-helper finds the real libvirtd on its system socket.  (Runs before the
    module's testvirtd claims /run/libvirt/virttestd-sock, which the helper would prefer.)"""
    for path in (DRIVER_SOCKET, "/run/libvirt/libvirt-sock"):
        if os.path.exists(path):
            pytest.fail(f"{path} exists: a daemon already serves the system socket")
    daemon = RealLibvirtd(peers.short_workdir(tmp_path))
    daemon.sock_dir = Path("/run/libvirt")
    daemon.start()
    try:
        uri = sshd.uri("test:///default", proxy="native")
        async with Client.connect(uri, env=peers.client_env()) as client:
            with anyio.fail_after(30):
                assert await session(client) == ("TEST", ["test"])
    finally:
        daemon.stop()


@pytest.mark.anyio
@pytest.mark.parametrize("proxy", ["netcat", "native"])
async def test_client_over_ssh_to_testvirtd(
    sshd: PrivateSshd, driver_testvirtd: TestVirtd, proxy: str
) -> None:
    # netcat: nc -U with the socket given; native: virt-ssh-helper finds the daemon itself
    # (test:///default -> /var/run/libvirt/virttestd-sock).
    params = {"socket": driver_testvirtd.socket} if proxy == "netcat" else {"proxy": "native"}
    async with Client.connect(sshd.uri("test:///default", **params),
                              env=peers.client_env()) as client:
        with anyio.fail_after(30):
            assert await session(client) == ("TEST", ["test"])


@pytest.mark.anyio
async def test_client_over_ssh_to_real_libvirtd(
    sshd: PrivateSshd, real_libvirtd: RealLibvirtd
) -> None:
    uri = sshd.uri("test:///default", socket=real_libvirtd.unix_path)
    async with Client.connect(uri, env=peers.client_env()) as client:
        with anyio.fail_after(30):
            assert await session(client) == ("TEST", ["test"])


def test_virsh_over_ssh_finds_testvirtd_without_socket(
    sshd: PrivateSshd, driver_testvirtd: TestVirtd, virsh: str
) -> None:
    for readonly in (False, True):
        proc = peers.run_virsh(sshd.uri("test:///default"), "list", "--name",
                               readonly=readonly)
        assert proc.returncode == 0 and proc.stdout.split() == ["test"], peers.describe(proc)


@pytest.mark.anyio
async def test_default_unix_socket_is_the_driver_socket(driver_testvirtd: TestVirtd) -> None:
    assert parse_uri("test+unix:///default").unix_socket() == "/var/run/libvirt/virttestd-sock"
    async with Client.connect("test+unix:///default") as client:
        assert await session(client) == ("TEST", ["test"])
    async with Client.connect("test+unix:///default", readonly=True) as client:
        assert await session(client) == ("TEST", ["test"])


@pytest.mark.anyio
async def test_ssh_failures_carry_sshs_own_words(sshd: PrivateSshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    await anyio.run_process(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)])
    cases = {
        sshd.uri("test:///default", keyfile=str(stranger)): "Permission denied (publickey)",
        sshd.uri("test:///default").replace(f":{sshd.port}/", f":{peers.free_tcp_port()}/"):
            "Connection refused",
    }
    for uri, words in cases.items():
        async with Client.connect(uri, env=peers.client_env()) as client:
            with pytest.raises(ConnectionLostError) as info, anyio.fail_after(30):
                await session(client)
        assert words in str(info.value), str(info.value)
        assert str(info.value).startswith("End of file while reading data: ")
