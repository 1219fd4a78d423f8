#!/usr/bin/env python3
"""Load generator for libvirt-RPC servers, speaking the wire protocol directly.

Only the standard library (asyncio + struct): it shares no code with netrpc, so it measures
netrpc and libvirtd through the same, independent client.

Each of C connections does AUTH_LIST (66) and CONNECT_OPEN (1) like a libvirt client, then
keeps D calls outstanding (pipelined on the socket) until N calls completed in total, or
until --duration seconds passed.  The calls a batch of replies frees are sent back with one
write.  Every reply is checked: type REPLY, status OK, a serial we sent, the program,
version and procedure of the call, and (for the known procedures) the payload.  Keepalive
PINGs are answered with PONGs.

    python3 bench/loadgen.py --unix /tmp/x/libvirt-sock -C 8 -D 5 --calls 60000 --json
    python3 bench/loadgen.py --tcp 127.0.0.1:16509 --proc lookup --name test --duration 5
    python3 bench/loadgen.py --unix S --prog 0x20240001 --proc 1 --payload-hex 0000002a \\
        --no-auth-list --no-open

Exit status: 0 when every call succeeded, 1 when any error was seen, 2 on usage errors.
Each run is bounded by --timeout and aborted when nothing completes for --stall-timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import struct
import sys
import time

REMOTE_PROGRAM = 0x20008086
REMOTE_VERSION = 1
KEEPALIVE_PROGRAM = 0x6B656570
KEEPALIVE_PING = 1
KEEPALIVE_PONG = 2

CALL, REPLY, MESSAGE = 0, 1, 2
OK = 0

PROC_CONNECT_OPEN = 1
PROC_AUTH_LIST = 66
PROC_GET_LIB_VERSION = 157
PROC_LOOKUP_BY_NAME = 23

FRAME = struct.Struct(">IIIiiIi")
HEAD = FRAME.size
U32 = struct.Struct(">I")
I32 = struct.Struct(">i")
FRAME_MAX = 32 * 1024 * 1024 + 4

PONG = FRAME.pack(HEAD, KEEPALIVE_PROGRAM, 1, KEEPALIVE_PONG, MESSAGE, 0, OK)


def xdr_string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return U32.pack(len(raw)) + raw + b"\0" * (-len(raw) % 4)


def xdr_opt_string(value: str | None) -> bytes:
    return U32.pack(0) if value is None else U32.pack(1) + xdr_string(value)


class CheckError(Exception):
    pass


def _read_string(buf: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 4 > len(buf):
        raise CheckError("truncated string length")
    (n,) = U32.unpack_from(buf, pos)
    end = pos + 4 + n
    if end + (-n % 4) > len(buf):
        raise CheckError("truncated string")
    return bytes(buf[pos + 4 : end]), end + (-n % 4)


def check_u64(payload: bytes, _args: argparse.Namespace) -> None:
    if len(payload) != 8:
        raise CheckError(f"unsigned hyper reply is {len(payload)} bytes, want 8")


def check_domain(payload: bytes, args: argparse.Namespace) -> None:
    name, pos = _read_string(payload, 0)
    if name.decode("utf-8", "replace") != args.name:
        raise CheckError(f"looked up {args.name!r}, got domain {name!r}")
    if pos + 16 + 4 != len(payload):
        raise CheckError(f"remote_nonnull_domain has {len(payload) - pos - 20} stray bytes")


def decode_error(payload: bytes) -> str:
    try:
        code, domain = struct.unpack_from(">ii", payload, 0)
        (present,) = U32.unpack_from(payload, 8)
        message = _read_string(payload, 12)[0].decode("utf-8", "replace") if present else None
        return f"{message} (code={code} domain={domain})"
    except (struct.error, CheckError):
        return f"undecodable error reply ({len(payload)} bytes)"


# name -> (procedure, args builder, first-reply checker)
PROCS = {
    "getlibversion": (PROC_GET_LIB_VERSION, lambda a: b"", check_u64),
    "lookup": (PROC_LOOKUP_BY_NAME, lambda a: xdr_string(a.name), check_domain),
}


class Stats:
    __slots__ = ("error_samples", "errors", "events", "pings")

    def __init__(self) -> None:
        self.errors = 0
        self.error_samples: dict[str, int] = {}
        self.pings = 0
        self.events = 0

    def error(self, message: str, count: int = 1) -> None:
        self.errors += count
        if message in self.error_samples or len(self.error_samples) < 20:
            self.error_samples[message] = self.error_samples.get(message, 0) + count


class Conn(asyncio.Protocol):
    """One connection: handshake calls through futures, then the measured pump.

    The pump lives in :meth:`data_received`: every good reply of the current phase frees a
    slot that is refilled at once, and all frames produced by one read go out in one write.
    """

    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.stats = gen.stats
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.serial = 0
        self.waiters: dict[int, tuple[int, asyncio.Future[bytes]]] = {}
        self.pending: dict[int, float] = {}
        self.reason = ""
        # pump state
        self.quota = 0
        self.sent = 0
        self.done = 0
        self.deadline = float("inf")
        self.record = False
        self.lat: list[float] = []
        self.finished: asyncio.Future[None] | None = None
        self.finished_at = 0.0
        self.bytes_in = 0

    # ---------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.reason = self.reason or (f"connection lost: {exc}" if exc else "server closed")
        for _, fut in self.waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionError(self.reason))
        self.waiters.clear()
        self._abandon()

    def _abandon(self) -> None:
        """Count every outstanding and unsent call of the phase as failed."""
        if self.finished is None or self.finished.done():
            return
        missing = len(self.pending)
        if self.quota != float("inf"):
            missing += int(self.quota) - self.sent
        if missing:
            self.stats.error(self.reason, missing)
        self.pending.clear()
        self.finished_at = time.perf_counter()
        self.finished.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        buf = self.buf + data if self.buf else data
        n = len(buf)
        pos = 0
        out: list[bytes] = []
        now = time.perf_counter()
        pending = self.pending
        gen = self.gen
        while n - pos >= HEAD:
            length, prog, vers, proc, mtype, serial, status = FRAME.unpack_from(buf, pos)
            if length < HEAD or length > FRAME_MAX:
                self.fatal(f"bad frame length {length}")
                return
            end = pos + length
            if end > n:
                break
            if mtype == REPLY:
                t0 = pending.pop(serial, None)
                if t0 is not None:
                    if prog != gen.prog or vers != gen.vers or proc != gen.proc:
                        self.stats.error(
                            f"reply header mismatch: prog={prog:#x} vers={vers} proc={proc}"
                        )
                    elif status != OK:
                        self.stats.error(decode_error(buf[pos + HEAD : end]))
                    elif gen.expect is not None and buf[pos + HEAD : end] != gen.expect:
                        self.stats.error("reply payload differs from the first reply")
                    elif self.record:
                        self.lat.append(now - t0)
                    self.done += 1
                    if self.sent < self.quota and now < self.deadline:
                        self.sent += 1
                        self.serial = serial = (self.serial + 1) & 0xFFFFFFFF
                        out.append(gen.head + U32.pack(serial) + gen.tail)
                        pending[serial] = now
                else:
                    self._handshake_reply(prog, vers, proc, serial, status, buf[pos + HEAD : end])
            elif prog == KEEPALIVE_PROGRAM and mtype == MESSAGE:
                if proc == KEEPALIVE_PING:
                    self.stats.pings += 1
                    out.append(PONG)
            elif mtype == MESSAGE:
                self.stats.events += 1
            else:
                self.stats.error(f"unexpected message type {mtype} (proc {proc})")
            pos = end
        self.buf = buf[pos:] if pos < n else b""
        if out and self.transport is not None:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))
        if (
            self.finished is not None
            and not pending
            and not self.finished.done()
            and (self.sent >= self.quota or now >= self.deadline)
        ):
            self.finished_at = now
            self.finished.set_result(None)

    def _handshake_reply(
        self, prog: int, vers: int, proc: int, serial: int, status: int, payload: bytes
    ) -> None:
        entry = self.waiters.pop(serial, None)
        if entry is None:
            self.stats.error(f"reply with unknown serial {serial} (proc {proc})")
            return
        want, fut = entry
        if fut.done():
            return
        if (prog, vers, proc) != (REMOTE_PROGRAM, REMOTE_VERSION, want):
            fut.set_exception(CheckError(f"reply header mismatch: {prog:#x}/{vers}/{proc}"))
        elif status != OK:
            fut.set_exception(CheckError(decode_error(payload)))
        else:
            fut.set_result(payload)

    def fatal(self, reason: str) -> None:
        self.reason = reason
        self.stats.error(reason)
        if self.transport is not None:
            self.transport.abort()

    # ---------------------------------------------------------------- calls

    def call(
        self, proc: int, payload: bytes = b"", prog: int = REMOTE_PROGRAM
    ) -> asyncio.Future[bytes]:
        fut: asyncio.Future[bytes] = self.loop.create_future()
        if self.transport is None:
            fut.set_exception(ConnectionError(self.reason or "not connected"))
            return fut
        self.serial = serial = (self.serial + 1) & 0xFFFFFFFF
        self.waiters[serial] = (proc, fut)
        self.transport.write(
            FRAME.pack(HEAD + len(payload), prog, 1, proc, CALL, serial, OK) + payload
        )
        return fut

    def start_phase(self, quota: float, depth: int, record: bool, deadline: float) -> None:
        self.quota, self.sent, self.done = quota, 0, 0
        self.record, self.deadline = record, deadline
        self.finished = self.loop.create_future()
        if self.transport is None:
            self._abandon()
            return
        if quota <= 0:
            self.finished.set_result(None)
            return
        gen = self.gen
        now = time.perf_counter()
        out = []
        while self.sent < min(depth, quota):
            self.sent += 1
            self.serial = serial = (self.serial + 1) & 0xFFFFFFFF
            out.append(gen.head + U32.pack(serial) + gen.tail)
            self.pending[serial] = now
        self.transport.write(b"".join(out))


class Generator:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stats = Stats()
        self.conns: list[Conn] = []
        if args.proc in PROCS:
            self.proc, build, self.checker = PROCS[args.proc]
            self.payload = build(args)
            self.proc_name = args.proc
        else:
            try:
                self.proc = int(args.proc, 0)
            except ValueError:
                known = ", ".join(PROCS)
                raise SystemExit(f"unknown --proc {args.proc!r}: {known} or a number") from None
            self.payload = bytes.fromhex(args.payload_hex or "")
            self.checker = None
            self.proc_name = f"proc {self.proc}"
        self.prog = args.prog
        self.vers = args.vers
        self.expect: bytes | None = bytes.fromhex(args.expect_hex) if args.expect_hex else None
        # frame = head + serial + tail
        self.head = struct.pack(
            ">IIIii", HEAD + len(self.payload), self.prog, self.vers, self.proc, CALL
        )
        self.tail = I32.pack(OK) + self.payload

    async def connect(self) -> Conn:
        loop = asyncio.get_running_loop()
        a = self.args
        if a.unix:
            _, conn = await loop.create_unix_connection(lambda: Conn(self), a.unix)
        else:
            host, _, port = a.tcp.rpartition(":")
            _, conn = await loop.create_connection(lambda: Conn(self), host.strip("[]"), int(port))
        if not a.no_auth_list:
            payload = await conn.call(PROC_AUTH_LIST)
            (count,) = U32.unpack_from(payload, 0)
            types = struct.unpack_from(f">{count}i", payload, 4)
            if types and 0 not in types:
                raise CheckError(f"server wants auth types {list(types)}; only 'none' is supported")
        if not a.no_open:
            await conn.call(PROC_CONNECT_OPEN, xdr_opt_string(a.uri) + U32.pack(0))
        return conn

    async def open_all(self) -> None:
        sem = asyncio.Semaphore(32)

        async def one() -> Conn:
            async with sem:
                return await asyncio.wait_for(self.connect(), self.args.connect_timeout)

        self.conns = list(await asyncio.gather(*(one() for _ in range(self.args.connections))))

    async def first_reply(self) -> None:
        """One call on the first connection: check its payload and expect it from then on."""
        if self.checker is None:
            return
        payload = await asyncio.wait_for(
            self.conns[0].call(self.proc, self.payload, self.prog), self.args.connect_timeout
        )
        if self.checker is not None:
            self.checker(payload, self.args)
            if self.expect is None:
                self.expect = bytes(payload)

    async def phase(self, total: float, record: bool, duration: float | None) -> dict | None:
        conns = self.conns
        c = len(conns)
        deadline = time.perf_counter() + duration if duration else float("inf")
        if total == float("inf"):
            quotas = [float("inf")] * c
        else:
            base, extra = divmod(int(total), c)
            quotas = [base + (i < extra) for i in range(c)]
        for conn, quota in zip(conns, quotas, strict=True):
            conn.start_phase(quota, self.args.depth, record, deadline)
        done = asyncio.gather(*(conn.finished for conn in conns))
        last, since = -1, time.perf_counter()
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(done), 0.2)
                return None
            except TimeoutError:
                pass
            progress = sum(conn.done for conn in conns)
            now = time.perf_counter()
            if progress != last:
                last, since = progress, now
            elif now - since >= self.args.stall_timeout:
                stuck = [
                    {
                        "index": i,
                        "sent": cn.sent,
                        "done": cn.done,
                        "outstanding": sorted(cn.pending)[:8],
                    }
                    for i, cn in enumerate(conns)
                    if not cn.finished.done()
                ]
                for cn in conns:
                    if not cn.finished.done():
                        cn.reason = f"stalled: no reply for {now - since:.1f} s"
                        cn._abandon()
                        if cn.transport is not None:
                            cn.transport.abort()
                await done
                return {
                    "after_s": round(now - since, 1),
                    "completed": progress,
                    "connections": stuck,
                }

    async def run(self) -> dict:
        a = self.args
        sampler = ProcSampler(a.server_pid) if a.server_pid else None
        t0 = time.perf_counter()
        await self.open_all()
        connect_s = time.perf_counter() - t0
        await self.first_reply()
        stalls = []
        if a.warmup:
            stall = await self.phase(a.warmup, False, None)
            if stall:
                stalls.append(stall)
        for conn in self.conns:
            conn.lat = []
        errors_before = self.stats.errors
        total = a.calls if a.calls else float("inf")
        ru0 = _cpu_self()
        cs0 = _switches_self()
        s0 = sampler.sample() if sampler else None
        t0 = time.perf_counter()
        stall = await self.phase(total, True, a.duration)
        wall = time.perf_counter() - t0
        ru1 = _cpu_self()
        cs1 = _switches_self()
        s1 = sampler.sample() if sampler else None
        if stall:
            stalls.append(stall)
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.close()
        lat = sorted(x for conn in self.conns for x in conn.lat)
        # when each connection got its last reply, as a fraction of the run: all near 1.0 when
        # the server serves connections fairly, some much earlier when it favours a few
        finish = sorted((conn.finished_at - t0) / wall for conn in self.conns if wall > 0)
        completed = sum(conn.done for conn in self.conns)
        ok = len(lat)
        result = {
            "target": a.unix or a.tcp,
            "transport": "unix" if a.unix else "tcp",
            "proc": self.proc_name,
            "procedure": self.proc,
            "connections": a.connections,
            "depth": a.depth,
            "calls": completed,
            "ok": ok,
            "errors": self.stats.errors,
            "errors_measured": self.stats.errors - errors_before,
            "error_samples": self.stats.error_samples,
            "wall_s": round(wall, 4),
            "connect_s": round(connect_s, 4),
            "calls_per_s": round(ok / wall, 1) if wall > 0 else 0.0,
            "lat_ms": {
                "p50": _ms(_pct(lat, 0.50)),
                "p90": _ms(_pct(lat, 0.90)),
                "p99": _ms(_pct(lat, 0.99)),
                "max": _ms(lat[-1] if lat else None),
                "mean": _ms(sum(lat) / len(lat) if lat else None),
            },
            "conn_finish_frac": {
                "min": round(finish[0], 3) if finish else None,
                "median": round(finish[len(finish) // 2], 3) if finish else None,
            },
            "client_cpu_us_per_call": round((ru1 - ru0) / completed * 1e6, 2)
            if completed
            else None,
            "client_cpu_pct": round((ru1 - ru0) / wall * 100, 1) if wall > 0 else None,
            # context switches per call: voluntary (waits for I/O: 1 / calls per wakeup) and
            # involuntary (preempted, e.g. by the peer it just woke on the same CPU)
            "client_switches_per_call": _per_call(cs0, cs1, completed),
            "pings": self.stats.pings,
            "events": self.stats.events,
        }
        if sampler and s0 and s1:
            cpu = s1[0] - s0[0]
            result.update(
                server_pid=a.server_pid,
                server_cpu_us_per_call=round(cpu / completed * 1e6, 2) if completed else None,
                server_cpu_pct=round(cpu / wall * 100, 1) if wall > 0 else None,
                server_rss_kib=s1[1],
                server_threads=s1[2],
                server_switches_per_call=_per_call(s0[3], s1[3], completed),
            )
        if stalls:
            result["stalled"] = stalls
        return result


def _switches_self() -> tuple[int, int]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_nvcsw, ru.ru_nivcsw


def _per_call(before: tuple[int, int], after: tuple[int, int], calls: int) -> dict | None:
    if not calls:
        return None
    return {
        "voluntary": round((after[0] - before[0]) / calls, 4),
        "involuntary": round((after[1] - before[1]) / calls, 4),
    }


def _cpu_self() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 4)


class ProcSampler:
    """CPU seconds (all threads), RSS, thread count and context switches (voluntary,
    involuntary; all threads) of a process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def sample(self) -> tuple[float, int | None, int | None, tuple[int, int]] | None:
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            rss = threads = None
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
                    elif line.startswith("Threads:"):
                        threads = int(line.split()[1])
        except OSError:
            return None
        voluntary = involuntary = 0
        try:
            tasks = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            tasks = []
        for task in tasks:
            try:
                with open(f"/proc/{self.pid}/task/{task}/status") as f:
                    for line in f:
                        if line.startswith("voluntary_ctxt_switches:"):
                            voluntary += int(line.split()[1])
                        elif line.startswith("nonvoluntary_ctxt_switches:"):
                            involuntary += int(line.split()[1])
            except OSError:
                continue  # a thread that just ended
        return (
            (int(fields[11]) + int(fields[12])) / self.tick,
            rss,
            threads,
            (voluntary, involuntary),
        )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--unix", metavar="PATH", help="unix socket path")
    where.add_argument("--tcp", metavar="HOST:PORT", help="TCP address")
    p.add_argument("-C", "--connections", type=int, default=1)
    p.add_argument("-D", "--depth", type=int, default=1, help="calls in flight per connection")
    p.add_argument(
        "-N", "--calls", type=int, default=20000, help="measured calls in total (0: use --duration)"
    )
    p.add_argument("--duration", type=float, help="stop sending after this many seconds")
    p.add_argument("--warmup", type=int, default=1000, help="unmeasured calls first")
    p.add_argument(
        "--proc",
        default="getlibversion",
        help=f"{', '.join(PROCS)}, or a procedure number (with --payload-hex)",
    )
    p.add_argument(
        "--prog", type=lambda s: int(s, 0), default=REMOTE_PROGRAM, help="program number"
    )
    p.add_argument("--vers", type=int, default=REMOTE_VERSION, help="program version")
    p.add_argument("--payload-hex", help="XDR arguments of a numbered --proc")
    p.add_argument("--expect-hex", help="every reply payload must equal this")
    p.add_argument("--name", default="test", help="domain name for --proc lookup")
    p.add_argument("--uri", default="test:///default", help="CONNECT_OPEN name")
    p.add_argument("--no-auth-list", action="store_true", help="skip AUTH_LIST")
    p.add_argument("--no-open", action="store_true", help="skip CONNECT_OPEN")
    p.add_argument("--server-pid", type=int, help="report this process's CPU and RSS")
    p.add_argument("--timeout", type=float, default=120.0, help="bound on the whole run (s)")
    p.add_argument("--connect-timeout", type=float, default=10.0)
    p.add_argument("--stall-timeout", type=float, default=5.0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    if a.connections < 1 or a.depth < 1:
        p.error("-C and -D must be >= 1")
    if not a.calls and not a.duration:
        p.error("give --calls or --duration")
    if a.duration and a.calls == p.get_default("calls"):
        a.calls = 0
    return a


async def _main(args: argparse.Namespace) -> dict:
    gen = Generator(args)
    try:
        return await asyncio.wait_for(gen.run(), args.timeout)
    except (TimeoutError, OSError, CheckError, ConnectionError) as exc:
        for conn in gen.conns:
            if conn.transport is not None:
                conn.transport.abort()
        what = (
            "timed out" if isinstance(exc, asyncio.TimeoutError) else f"{type(exc).__name__}: {exc}"
        )
        return {
            "target": args.unix or args.tcp,
            "transport": "unix" if args.unix else "tcp",
            "proc": gen.proc_name,
            "connections": args.connections,
            "depth": args.depth,
            "errors": gen.stats.errors + 1,
            "error_samples": gen.stats.error_samples,
            "fatal": what,
        }


def format_text(r: dict) -> str:
    if "fatal" in r:
        return f"FATAL: {r['fatal']}  errors={r['errors']} {r['error_samples']}"
    lat = r["lat_ms"]
    lines = [
        f"{r['transport']} {r['target']}  {r['proc']}  C={r['connections']} D={r['depth']}",
        f"  {r['ok']} calls in {r['wall_s']:.3f} s: {r['calls_per_s']:.0f} calls/s, "
        f"errors {r['errors']}",
        f"  latency ms: p50 {lat['p50']:.3f}  p90 {lat['p90']:.3f}  p99 {lat['p99']:.3f}  "
        f"max {lat['max']:.3f}",
        f"  client CPU {r['client_cpu_us_per_call']} us/call ({r['client_cpu_pct']} %)",
        f"  connections finished at {r['conn_finish_frac']['min']} (first) / "
        f"{r['conn_finish_frac']['median']} (median) of the run",
    ]
    if "server_cpu_us_per_call" in r:
        lines.append(
            f"  server CPU {r['server_cpu_us_per_call']} us/call ({r['server_cpu_pct']} %), "
            f"RSS {r['server_rss_kib']} KiB, {r['server_threads']} threads"
        )
        sw = r.get("server_switches_per_call")
        if sw:
            lines.append(
                f"  server context switches per call: {sw['voluntary']} voluntary, "
                f"{sw['involuntary']} involuntary"
            )
    sw = r.get("client_switches_per_call")
    if sw:
        lines.append(
            f"  client context switches per call: {sw['voluntary']} voluntary, "
            f"{sw['involuntary']} involuntary"
        )
    if r["error_samples"]:
        lines.append(f"  errors: {r['error_samples']}")
    if "stalled" in r:
        lines.append(f"  STALLED: {r['stalled']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = asyncio.run(_main(args))
    print(json.dumps(result) if args.json else format_text(result))
    return 1 if result.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
