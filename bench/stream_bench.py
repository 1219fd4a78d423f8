"""Stream throughput: netrpc's Client against testvirtd (vol-upload / vol-download over a unix
socket), next to a raw unix-socket copy with the same chunk size, measured in the same run.

    python3 bench/stream_bench.py                 # 256 MiB, best of 3 rounds
    python3 bench/stream_bench.py --size 512 --rounds 5
    python3 bench/stream_bench.py --smoke         # 16 MiB, 1 round, < 10 s
    python3 bench/stream_bench.py --json          # one JSON document
    python3 bench/stream_bench.py --profile       # cProfile of the server during the run

testvirtd runs as a subprocess (``python -m daemons.testvirtd``), the client in this process,
so each side has its own interpreter, as with a real virsh.  The raw baseline is a
``socketpair`` with a writer thread sending 256 KiB chunks and a reader taking them (two
threads, the same chunk size, no framing).  The upload also pays for writing the volume's
backing file (page cache); the download reads it back.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402

from daemons.testvirtd import remote_types as rt  # noqa: E402
from daemons.testvirtd.storage import procedures as st  # noqa: E402
from netrpc import Client  # noqa: E402
from netrpc.core.stream import CHUNK_SIZE, Hole  # noqa: E402

MiB = 1024 * 1024
TARGET = 0.5
POOL = rt.NonnullStoragePool("default-pool", bytes.fromhex("dfe224cb28fb8dd0c4b264eb3f0f4566"))


# ------------------------------------------------------------------------------ server


@contextlib.contextmanager
def testvirtd(profile: str | None = None) -> Iterator[str]:  # noqa: PT028
    """A testvirtd subprocess on a unix socket in a temp dir; yields the socket path."""
    workdir = tempfile.mkdtemp(prefix="streambench-")
    path = os.path.join(workdir, "sock")
    argv = [sys.executable]
    if profile:
        argv += ["-m", "cProfile", "-o", profile]
    argv += ["-m", "daemons.testvirtd", "--listen", f"unix://{path}", "--no-admin"]
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or line.strip() == "ready":
                break
        if not os.path.exists(path):
            raise RuntimeError("testvirtd did not start")
        yield path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------ netrpc side


async def _call(client: Client, proc: int, args: Any, ret: Any = None) -> Any:
    payload = b"" if args is None else type(args).xdr.encode(args)
    reply = await client.call(rt.REMOTE_PROGRAM, 1, proc, payload)
    return ret.xdr.decode(reply) if ret is not None else reply


async def _netrpc_round(path: str, size: int, name: str) -> dict[str, float]:
    block = os.urandom(CHUNK_SIZE) * 4
    async with Client.unix(path) as client:
        await _call(client, 66, None)
        await _call(client, 1, rt.ConnectOpenArgs("test:///default", 0))
        xml = f"<volume><name>{name}</name><capacity>{size}</capacity></volume>"
        vol = (
            await _call(client, 93, st.StorageVolCreateXmlArgs(POOL, xml, 0), st.StorageVolRet)
        ).vol
        args = st.StorageVolTransferArgs(vol, 0, 0, 0)
        start = time.perf_counter()
        _, stream = await client.open_stream(rt.REMOTE_PROGRAM, 1, 208, args.xdr.encode(args))
        view = memoryview(block)
        for pos in range(0, size, len(block)):
            piece = view[: min(len(block), size - pos)]
            await stream.send(piece)
        await stream.finish()
        upload = time.perf_counter() - start
        start = time.perf_counter()
        _, stream = await client.open_stream(rt.REMOTE_PROGRAM, 1, 209, args.xdr.encode(args))
        total = 0
        while True:
            chunk = await stream.receive()
            if isinstance(chunk, Hole):
                total += chunk.length
                continue
            if not chunk:
                break
            total += len(chunk)
        await stream.finish()
        download = time.perf_counter() - start
        if total != size:
            raise RuntimeError(f"downloaded {total} bytes, expected {size}")
        await _call(client, 94, st.StorageVolFlagsArgs(vol, 0))
    return {"upload": size / MiB / upload, "download": size / MiB / download}


@contextlib.contextmanager
def stream_server(backend: str) -> Iterator[str]:
    """bench/stream_server.py (source and sink, no storage) as a subprocess."""
    workdir = tempfile.mkdtemp(prefix="streamsrv-")
    path = os.path.join(workdir, "sock")
    argv = [sys.executable, str(ROOT / "bench" / "stream_server.py"), "--unix", path,
            "--backend", backend]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("stream_server.py did not start")
        yield path
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


async def _framework_round(path: str, size: int) -> dict[str, float]:
    """netrpc streams alone: the server's source and sink touch no storage."""
    from bench.stream_server import PROGRAM, SINK, SOURCE
    from netrpc.core import xdr

    block = memoryview(os.urandom(CHUNK_SIZE))
    async with Client.unix(path) as client:
        start = time.perf_counter()
        _, stream = await client.open_stream(PROGRAM, 1, SINK, xdr.UHYPER.encode(size))
        for pos in range(0, size, CHUNK_SIZE):
            await stream.send(block[: min(CHUNK_SIZE, size - pos)])
        await stream.finish()
        upload = time.perf_counter() - start
        start = time.perf_counter()
        _, stream = await client.open_stream(PROGRAM, 1, SOURCE, xdr.UHYPER.encode(size))
        total = 0
        while chunk := await stream.receive():
            total += len(chunk)
        await stream.finish()
        download = time.perf_counter() - start
    if total != size:
        raise RuntimeError(f"downloaded {total} bytes, expected {size}")
    return {"upload": size / MiB / upload, "download": size / MiB / download}


# ------------------------------------------------------------------------------ raw side


def raw_copy(size: int, chunk: int = CHUNK_SIZE) -> float:
    """MiB/s of a plain copy through a unix socketpair, *chunk* bytes per send."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    data = memoryview(os.urandom(chunk))

    def writer() -> None:
        left = size
        while left:
            n = min(chunk, left)
            a.sendall(data[:n])
            left -= n
        a.shutdown(socket.SHUT_WR)

    received = 0
    buf = bytearray(chunk)
    thread = threading.Thread(target=writer)
    start = time.perf_counter()
    thread.start()
    while True:
        n = b.recv_into(buf)
        if not n:
            break
        received += n
    thread.join()
    elapsed = time.perf_counter() - start
    a.close()
    b.close()
    if received != size:
        raise RuntimeError(f"raw copy moved {received} bytes, expected {size}")
    return size / MiB / elapsed


# ------------------------------------------------------------------------------ driver


def run(size_mib: int, rounds: int, backend: str, profile: str | None = None) -> dict[str, Any]:
    size = size_mib * MiB
    results: dict[str, list[float]] = {
        "upload": [], "download": [], "stream_upload": [], "stream_download": [], "raw": []
    }
    with testvirtd(profile) as path, stream_server(backend) as bench_path:
        for i in range(rounds):
            results["raw"].append(raw_copy(size))
            r = anyio.run(_framework_round, bench_path, size, backend=backend)
            results["stream_upload"].append(r["upload"])
            results["stream_download"].append(r["download"])
            r = anyio.run(_netrpc_round, path, size, f"bench{i}", backend=backend)
            results["upload"].append(r["upload"])
            results["download"].append(r["download"])
    best = {k: max(v) for k, v in results.items()}
    return {
        "size_mib": size_mib,
        "rounds": rounds,
        "backend": backend,
        "chunk": CHUNK_SIZE,
        "runs": results,
        "best": best,
        "ratio": {k: best[k] / best["raw"] for k in results if k != "raw"},
        "target": TARGET,
    }


def table(doc: dict[str, Any]) -> str:
    best, ratio = doc["best"], doc["ratio"]
    lines = [
        f"stream throughput, {doc['size_mib']} MiB, best of {doc['rounds']} "
        f"({doc['backend']}, {doc['chunk']} B chunks, unix socket)",
        f"{'path':<28}{'MiB/s':>10}{'vs raw':>10}{'target':>10}",
        f"{'raw socketpair copy':<28}{best['raw']:>10.0f}{'1.00':>10}{'':>10}",
    ]
    labels = {
        "stream_upload": "netrpc stream upload",
        "stream_download": "netrpc stream download",
        "upload": "testvirtd vol-upload",
        "download": "testvirtd vol-download",
    }
    for kind, label in labels.items():
        ok = "ok" if ratio[kind] >= doc["target"] else "BELOW"
        lines.append(f"{label:<28}{best[kind]:>10.0f}{ratio[kind]:>10.2f}{ok:>10}")
    lines.append(
        "(netrpc stream: a source/sink server, no storage; testvirtd: also reads or writes "
        "the volume's backing file)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256, help="MiB per transfer (default 256)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    ap.add_argument("--smoke", action="store_true", help="16 MiB, 1 round")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument(
        "--profile", metavar="FILE", help="run the server under cProfile, write the stats to FILE"
    )
    args = ap.parse_args(argv)
    size, rounds = (16, 1) if args.smoke else (args.size, args.rounds)
    doc = run(size, rounds, args.backend, args.profile)
    if args.json:
        print(json.dumps(doc, indent=1))
    else:
        print(table(doc))
    if args.profile:
        import pstats

        print()
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    sys.exit(main())
