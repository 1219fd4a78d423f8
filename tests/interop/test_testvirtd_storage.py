"""Real virsh ``vol-*`` against testvirtd: output identical to libvirtd's test driver, and
``vol-upload`` / ``vol-download`` (plain and ``--sparse``) over unix and TCP."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import checks, peers
from ._testvirtd import Testvirtd, running
from .peers import Endpoints, RealLibvirtd

pytestmark = pytest.mark.interop

MiB = 1024 * 1024


@pytest.fixture
def testvirtd() -> Iterator[Testvirtd]:
    # several client runs act on one state: kept, unlike libvirtd's test driver
    with running("--keep-state") as daemon:
        yield daemon


def uri(server: Endpoints, transport: str) -> str:
    return server.uri_tcp if transport == "tcp" else server.uri_unix


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(4 * MiB):
            h.update(block)
    return h.hexdigest()


def layout(path: Path) -> list[tuple[int, int]]:
    """The data extents of a file, from SEEK_DATA/SEEK_HOLE."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break
            hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
            out.append((data, hole))
            pos = hole
    finally:
        os.close(fd)
    return out


def make_sparse(path: Path, size: int, extents: list[tuple[int, int]]) -> None:
    with open(path, "wb") as fh:
        fh.truncate(size)
        for offset, length in extents:
            fh.seek(offset)
            fh.write(os.urandom(length))


# ------------------------------------------------------------------------------ vs. libvirtd

SESSION = [
    "vol-list default-pool",
    "vol-create-as default-pool v1 10M",
    "vol-create-as default-pool v2 5M --allocation 1M",
    "vol-list default-pool",
    "vol-list default-pool --details",
    "vol-info v1 --pool default-pool",
    "vol-info v2 --pool default-pool --bytes",
    "vol-dumpxml v1 --pool default-pool",
    "vol-path v1 --pool default-pool",
    "vol-key v1 --pool default-pool",
    "vol-name /default-pool/v1",
    "vol-pool /default-pool/v2",
    "vol-info /default-pool/v2",
    "vol-create-as default-pool v1 10M",
    "vol-info nope --pool default-pool",
    "vol-key /default-pool/nope",
    "vol-delete v2 --pool default-pool --delete-snapshots",
    "vol-resize v2 20M --pool default-pool",
    "vol-info v2 --pool default-pool --physical",
    "vol-delete v2 --pool default-pool",
    "vol-list default-pool --details",
]


def run_session(server: Endpoints, transport: str, workdir: Path) -> tuple[str, str]:
    xml = workdir / "v3.xml"
    xml.write_text("<volume><name>v3</name><capacity unit='K'>64</capacity>"
                   "<allocation>0</allocation></volume>\n")
    script = "; ".join([*SESSION, f"vol-create default-pool {xml}",
                        "vol-info v3 --pool default-pool", "vol-list default-pool --details"])
    proc = peers.run_virsh(uri(server, transport), script)
    return proc.stdout, proc.stderr


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_vol_commands_match_libvirtd(testvirtd: Testvirtd, real_libvirtd: RealLibvirtd,
                                     virsh: str, transport: str, tmp_path: Path) -> None:
    # One virsh session each: libvirtd's test driver forgets volumes between connections.
    ours = run_session(testvirtd, transport, tmp_path)
    theirs = run_session(real_libvirtd, transport, tmp_path)
    assert ours == theirs
    assert "Vol v1 created" in ours[0] and "unsupported flags (0x2)" in ours[1]


def test_test_driver_has_no_upload(real_libvirtd: RealLibvirtd, virsh: str,
                                   tmp_path: Path) -> None:
    """What libvirtd's test driver answers: testvirtd implements these as the dir backend."""
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000)
    proc = peers.run_virsh(real_libvirtd.uri_tcp,
                           f"vol-create-as default-pool v 1M; vol-upload v {src} "
                           "--pool default-pool")
    assert "not supported by the connection driver: virStorageVolUpload" in proc.stderr


# ------------------------------------------------------------------------------ transfers


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_upload_download_64mib(testvirtd: Testvirtd, virsh: str, transport: str,
                               tmp_path: Path) -> None:
    src, dst = tmp_path / "random.bin", tmp_path / "back.bin"
    with open(src, "wb") as fh:
        for _ in range(64):
            fh.write(os.urandom(MiB))
    u = uri(testvirtd, transport)
    checks.virsh_ok(u, "vol-create-as", "default-pool", "big", "64M")
    checks.virsh_ok(u, "vol-upload", "big", str(src), "--pool", "default-pool", timeout=120)
    checks.virsh_ok(u, "vol-download", "big", str(dst), "--pool", "default-pool", timeout=120)
    assert dst.stat().st_size == 64 * MiB
    assert sha256(dst) == sha256(src)
    # --offset/--length: a slice of the volume
    part = tmp_path / "part.bin"
    checks.virsh_ok(u, "vol-download", "big", str(part), "--pool", "default-pool",
                    "--offset", str(MiB + 5), "--length", str(3 * MiB))
    with open(src, "rb") as fh:
        fh.seek(MiB + 5)
        assert part.read_bytes() == fh.read(3 * MiB)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_sparse_upload_download_keeps_holes(testvirtd: Testvirtd, virsh: str, transport: str,
                                            tmp_path: Path) -> None:
    src, dst = tmp_path / "sparse.bin", tmp_path / "sparse-back.bin"
    size = 64 * MiB
    make_sparse(src, size, [(0, MiB), (10 * MiB, 2 * MiB + 4096), (40 * MiB, 64 * 1024),
                            (63 * MiB, MiB)])
    u = uri(testvirtd, transport)
    checks.virsh_ok(u, "vol-create-as", "default-pool", "sp", "64M")
    checks.virsh_ok(u, "vol-upload", "--sparse", "sp", str(src), "--pool", "default-pool",
                    timeout=120)
    checks.virsh_ok(u, "vol-download", "--sparse", "sp", str(dst), "--pool", "default-pool",
                    timeout=120)
    assert dst.stat().st_size == size
    assert sha256(dst) == sha256(src)
    assert layout(dst) == layout(src)
    du = subprocess.run(["du", "-k", str(src), str(dst)], capture_output=True, text=True,
                        check=True).stdout.split()
    assert du[0] == du[2] and int(du[0]) < 8 * 1024
    # without --sparse the same volume arrives complete, holes filled with zeros
    full = tmp_path / "full.bin"
    checks.virsh_ok(u, "vol-download", "sp", str(full), "--pool", "default-pool", timeout=120)
    assert sha256(full) == sha256(src)
    assert full.stat().st_blocks * 512 >= size


def test_upload_on_readonly_socket_is_refused(testvirtd: Testvirtd, virsh: str,
                                              tmp_path: Path) -> None:
    src = tmp_path / "x.bin"
    src.write_bytes(b"x" * 10)
    checks.virsh_ok(testvirtd.uri_tcp, "vol-create-as", "default-pool", "ro", "1M")
    proc = peers.run_virsh(testvirtd.uri_ro, "vol-upload", "ro", str(src), "--pool",
                           "default-pool")
    assert proc.returncode != 0
    assert "read only access prevents virStorageVolUpload" in proc.stderr
