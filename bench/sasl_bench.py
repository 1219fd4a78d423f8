"""Throughput over a GSSAPI-wrapped TCP connection, next to the same over plain TCP.

    python3 bench/sasl_bench.py                 # 128 MiB each way, best of 3 rounds
    python3 bench/sasl_bench.py --size 256 --rounds 5
    python3 bench/sasl_bench.py --smoke         # 8 MiB, 1 round, a few seconds
    python3 bench/sasl_bench.py --json          # one JSON document

A private Kerberos realm is created in a temporary directory (a KDC on 127.0.0.1, the keytab
for ``libvirt/localhost``, a ticket for ``fred``; needs MIT Kerberos' krb5kdc, kdb5_util,
kadmin.local, kinit).  A netrpc server runs as a subprocess (``--serve``) with the stream
source and sink of ``bench/stream_server.py`` on two TCP endpoints: one with ``auth="none"``
and one with ``auth="sasl"`` and GSSAPI, where every byte both ways travels in wrapped
(AES-256, RFC 4121) 64 KiB frames.  The client runs in this process.

Measured, each round:

* ``download`` / ``upload``: a stream of N MiB from the server's source / into its sink;
* ``calls``: sequential small calls (one in flight), calls per second;
* ``wrap``: python-gssapi's wrap + unwrap of 64 KiB blocks in one process, no I/O: the
  crypto floor of one direction (one core does both ends).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import anyio  # noqa: E402

from netrpc import Call, Client, Program, Server, Service, procedure, xdr  # noqa: E402
from netrpc.core.stream import CHUNK_SIZE  # noqa: E402
from netrpc.security.sasl import SASLAuthProcedures, SASLConfig, SASLCredentials  # noqa: E402
from netrpc.security.sasl.layer import SecurityLayerStream  # noqa: E402

MiB = 1024 * 1024
PROGRAM = 0x30000002
SOURCE, SINK, PING = 1, 2, 3


def _program() -> Program:
    from bench.stream_server import StreamBench

    class SaslBench(SASLAuthProcedures, StreamBench):
        """The stream source and sink, a no-op call, and the authentication procedures."""

        number, version = PROGRAM, 1

        @procedure(PING, inline=True)
        def ping(self, call: Call, args: None) -> None:
            return None

    return SaslBench()


# ------------------------------------------------------------------------------ server


async def _serve(keytab: str) -> None:
    server = Server("saslbench", programs=[_program()])
    plain = server.add_service(Service.tcp("127.0.0.1", 0))
    sasl = SASLConfig(["gssapi"], keytab=keytab, hostname="localhost")
    wrapped = server.add_service(Service.tcp("127.0.0.1", 0, auth="sasl", sasl=sasl))
    async with anyio.create_task_group() as tg:
        await tg.start(server.serve)
        print(f"ready {plain.port_bound} {wrapped.port_bound}", flush=True)


@contextlib.contextmanager
def _server(env: dict[str, str], keytab: str) -> Iterator[tuple[int, int]]:
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--serve", keytab],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if len(line) != 3 or line[0] != "ready":
            raise RuntimeError("the benchmark server did not start")
        yield int(line[1]), int(line[2])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# ------------------------------------------------------------------------------ client


async def _round(port: int, size: int, calls: int, gssapi: bool) -> dict[str, float]:
    sasl = SASLCredentials(hostname="localhost", program=PROGRAM) if gssapi else None
    block = memoryview(os.urandom(CHUNK_SIZE))
    async with Client.tcp("127.0.0.1", port, sasl=sasl) as client:
        if isinstance(client.stream, SecurityLayerStream) != gssapi:
            raise RuntimeError("the connection is not wrapped as expected")
        start = time.perf_counter()
        _, stream = await client.open_stream(PROGRAM, 1, SOURCE, xdr.UHYPER.encode(size))
        total = 0
        while chunk := await stream.receive():
            total += len(chunk)  # type: ignore[arg-type]
        await stream.finish()
        download = time.perf_counter() - start
        if total != size:
            raise RuntimeError(f"downloaded {total} bytes, expected {size}")
        start = time.perf_counter()
        _, stream = await client.open_stream(PROGRAM, 1, SINK, xdr.UHYPER.encode(size))
        for pos in range(0, size, CHUNK_SIZE):
            await stream.send(block[: min(CHUNK_SIZE, size - pos)])
        await stream.finish()
        upload = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(calls):
            await client.call(PROGRAM, 1, PING)
        rate = calls / (time.perf_counter() - start)
    return {"download": size / MiB / download, "upload": size / MiB / upload, "calls": rate}


def _wrap_floor(size: int) -> float:
    """MiB/s of wrap + unwrap of 64 KiB blocks with one context pair, no I/O."""
    import gssapi

    name = gssapi.Name("libvirt@localhost", gssapi.NameType.hostbased_service)
    flags = gssapi.RequirementFlag
    client = gssapi.SecurityContext(
        name=name, usage="initiate",
        flags=[flags.mutual_authentication, flags.integrity, flags.confidentiality],
    )
    server = gssapi.SecurityContext(
        creds=gssapi.Credentials(name=name, usage="accept"), usage="accept"
    )
    client.step(server.step(client.step()))
    block = os.urandom(server.get_wrap_size_limit(65536, True))
    moved = 0
    start = time.perf_counter()
    while moved < size:
        server.unwrap(client.wrap(block, True).message)
        moved += len(block)
    return moved / MiB / (time.perf_counter() - start)


# ------------------------------------------------------------------------------ driver


def run(size_mib: int, rounds: int, calls: int) -> dict[str, Any]:
    from tests.security.krb5realm import KerberosRealm

    size = size_mib * MiB
    workdir = Path(tempfile.mkdtemp(prefix="saslbench-"))
    runs: dict[str, list[float]] = {
        f"{kind}_{what}": [] for kind in ("plain", "gssapi")
        for what in ("download", "upload", "calls")
    }
    runs["wrap"] = []
    try:
        with KerberosRealm.create(workdir / "krb5", hosts=["localhost"]) as realm:
            realm.add_user("fred", "secret123")
            realm.kinit("fred")
            env = {k: v for k, v in realm.env().items() if k != "KRB5_KTNAME"}
            os.environ.update(env)
            os.environ["KRB5_KTNAME"] = f"FILE:{realm.keytab}"
            with _server(env, str(realm.keytab)) as (plain_port, sasl_port):
                for _ in range(rounds):
                    for kind, port in (("plain", plain_port), ("gssapi", sasl_port)):
                        r = anyio.run(_round, port, size, calls, kind == "gssapi")
                        for what, value in r.items():
                            runs[f"{kind}_{what}"].append(value)
                    runs["wrap"].append(_wrap_floor(size))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    best = {k: max(v) for k, v in runs.items()}
    return {
        "size_mib": size_mib,
        "rounds": rounds,
        "calls": calls,
        "runs": runs,
        "best": best,
        "ratio": {
            what: best[f"gssapi_{what}"] / best[f"plain_{what}"]
            for what in ("download", "upload", "calls")
        },
    }


def table(doc: dict[str, Any]) -> str:
    best, ratio = doc["best"], doc["ratio"]
    lines = [
        f"GSSAPI security layer over TCP (127.0.0.1), {doc['size_mib']} MiB streams, "
        f"{doc['calls']} sequential calls, best of {doc['rounds']}",
        f"{'':<24}{'plain TCP':>12}{'GSSAPI':>12}{'ratio':>8}",
    ]
    for what, unit in (("download", "MiB/s"), ("upload", "MiB/s"), ("calls", "calls/s")):
        lines.append(
            f"{what + ' (' + unit + ')':<24}{best['plain_' + what]:>12.0f}"
            f"{best['gssapi_' + what]:>12.0f}{ratio[what]:>8.2f}"
        )
    lines.append(f"{'wrap+unwrap floor (MiB/s)':<24}{'':>12}{best['wrap']:>12.0f}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=128, metavar="MiB")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--smoke", action="store_true", help="8 MiB, 1 round, 500 calls")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--serve", metavar="KEYTAB", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        anyio.run(_serve, args.serve)
        return 0
    if args.smoke:
        args.size, args.rounds, args.calls = 8, 1, 500
    doc = run(args.size, args.rounds, args.calls)
    print(json.dumps(doc, indent=2) if args.json else table(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
