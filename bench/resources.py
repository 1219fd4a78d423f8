#!/usr/bin/env python3
"""Resource use under hostile clients: libvirtd and testvirtd side by side, in one run.

Each attack runs against both daemons, one after the other, while a *bystander* (a
legitimate client: connect, AUTH_LIST, CONNECT_OPEN, GET_LIB_VERSION, close, every 50 ms,
5 s timeout per step) keeps working.  For every (attack, server) the table shows the
server's RSS and open descriptors when idle, at their peak during the attack and after the
attackers left, how many bystander cycles succeeded and their latency, plus the attack's
own figures.

Attacks (``--attacks``, default all):

* ``big-records``: 40 connections each announce a 32 MiB record (length word + header) and
  send nothing more;
* ``half-headers``: 1,000 connections each send 2 bytes of a length word;
* ``idle``: 500 clients do AUTH_LIST + CONNECT_OPEN and stay idle (RSS per connection);
* ``pipeline``: one client pipelines 8,000 DOMAIN_GET_XML_DESC calls whose replies are
  ~100 KB each and never reads a byte;
* ``tls-idle``: 20 TCP connections to the TLS port that never start their handshake while
  unix clients work;
* ``max-clients``: max_clients lowered to 10 through the admin socket (virt-admin), filled
  on the unix socket, one more client waiting on each of unix and TCP; the 10 leave: do
  both listeners accept again?
* ``fd-passing``: fresh daemons under ``prlimit --nofile=256``; each round passes 28
  descriptors with DOMAIN_CREATE_XML_WITH_FILES (309) and destroys the domain; the
  server's descriptor count after every round, and whether a new client still gets in.
* ``regex``: a client opens qemu:///system and registers for QEMU monitor events with the
  REGEX flag and the pattern ``'^' + '(.*)' * 60 + 'X$'`` (minutes of backtracking in a
  naive matcher); another client suspends and resumes a domain for 3 s, so every event
  is matched against it (libvirtd's test driver has no QEMU monitor: its registration is
  refused, and the suspends and resumes run on test:///default);
* ``state-writes``: testvirtd keeps its state on disk (``--state``); one client defines
  1,000 domains one after the other, so every answer waits for a save of a growing state
  (libvirtd, which keeps no such state for the test driver, defines the same domains).

Targets (printed ok/MISSED for testvirtd): RSS per idle client at most 1.5x libvirtd's;
peak RSS under each attack within 50 MB of the idle daemon; no bystander failures; every
listener accepts again after max_clients; descriptors back to the baseline after the
FD-passing rounds; no bystander cycle over 1 s while hostile patterns are matched or the
state is saved.

    python3 bench/resources.py                  # full run (a few minutes)
    python3 bench/resources.py --smoke          # scaled down (< 60 s), used by the suite
    python3 bench/resources.py --attacks idle,pipeline --servers testvirtd --json

Only the standard library speaks to the daemons (no netrpc code on the client side).
The exit status is 0 when the run completed (targets missed included; ``--strict`` makes a
missed target exit 1), 2 when a server could not be started.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import json
import os
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import servers
from bench.servers import ServerProcess

REMOTE = 0x20008086
CALL, REPLY, MESSAGE, STREAM, CALL_WITH_FDS, REPLY_WITH_FDS = 0, 1, 2, 3, 4, 5
HEADER = struct.Struct(">IIIiiIi")  # length, program, version, procedure, type, serial, status
U32 = struct.Struct(">I")

PROC_OPEN, PROC_AUTH_LIST, PROC_LIB_VERSION = 1, 66, 157
PROC_CREATE_XML, PROC_DEFINE_XML, PROC_DESTROY = 10, 11, 12
PROC_GET_XML_DESC, PROC_UNDEFINE, PROC_CREATE_XML_WITH_FILES = 14, 35, 309
PROC_LOOKUP_BY_NAME, PROC_SUSPEND, PROC_RESUME = 23, 34, 28
QEMU, QEMU_PROC_MONITOR_EVENT_REGISTER = 0x20008087, 4
#: matched naively, this pattern backtracks for minutes on any event name
HOSTILE_PATTERN = "^" + "(.*)" * 60 + "X$"

MB = 1024 * 1024
ALL_ATTACKS = (
    "big-records", "half-headers", "idle", "pipeline", "tls-idle", "max-clients", "fd-passing",
    "regex", "state-writes",
)
#: the attacks whose bystander must never wait more than a second
NO_STALL_ATTACKS = ("regex", "state-writes")
SERVERS = ("libvirtd", "testvirtd")


# ---------------------------------------------------------------------------- wire


def xdr_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return U32.pack(len(raw)) + raw + b"\0" * (-len(raw) % 4)


def frame(procedure: int, serial: int, payload: bytes = b"", mtype: int = CALL,
          program: int = REMOTE) -> bytes:
    return HEADER.pack(HEADER.size + len(payload), program, 1, procedure, mtype, serial, 0) + payload


def domain_xml(name: str, description_bytes: int = 0) -> str:
    description = f"<description>{'x' * description_bytes}</description>" if description_bytes else ""
    return (
        f"<domain type='test'><name>{name}</name>{description}<memory>8192</memory>"
        "<os><type>hvm</type></os></domain>"
    )


class RPCFailure(Exception):
    pass


class Client:
    """A blocking libvirt RPC client on one socket (stdlib only)."""

    def __init__(self, address: str | tuple[str, int], timeout: float = 5.0) -> None:
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(address)
        except BaseException:
            self.sock.close()
            raise
        self.serial = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _recv_exact(self, n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise RPCFailure("connection closed")
            data += chunk
        return bytes(data)

    def read_reply(self, serial: int) -> tuple[int, bytes]:
        while True:
            head = self._recv_exact(HEADER.size)
            length, prog, _, proc, mtype, rserial, status = HEADER.unpack(head)
            body = self._recv_exact(length - HEADER.size)
            if prog == 0x6B656570 and proc == 1:  # keepalive PING: answer it
                self.sock.sendall(HEADER.pack(28, prog, 1, 2, MESSAGE, 0, 0))
                continue
            if mtype in (REPLY, REPLY_WITH_FDS) and rserial == serial:
                if mtype == REPLY_WITH_FDS:
                    body = body[4:]
                return status, body

    def call(self, procedure: int, payload: bytes = b"", *, check: bool = True,
             program: int = REMOTE) -> tuple[int, bytes]:
        self.serial += 1
        self.sock.sendall(frame(procedure, self.serial, payload, program=program))
        status, body = self.read_reply(self.serial)
        if check and status != 0:
            raise RPCFailure(f"procedure {procedure}: {error_message(body)}")
        return status, body

    def call_with_fds(self, procedure: int, payload: bytes, fds: list[int]) -> tuple[int, bytes]:
        self.serial += 1
        body = U32.pack(len(fds)) + payload
        self.sock.sendall(
            HEADER.pack(HEADER.size + len(body), REMOTE, 1, procedure, CALL_WITH_FDS,
                        self.serial, 0) + body
        )
        for fd in fds:
            self.sock.sendmsg(
                [b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
            )
        return self.read_reply(self.serial)

    def handshake(self, open_uri: bool = True, uri: str = "test:///default") -> None:
        self.call(PROC_AUTH_LIST)
        if open_uri:
            self.call(PROC_OPEN, U32.pack(1) + xdr_string(uri) + U32.pack(0))


def error_message(body: bytes) -> str:
    try:
        code, domain = struct.unpack_from(">ii", body)
        present = U32.unpack_from(body, 8)[0]
        if present:
            n = U32.unpack_from(body, 12)[0]
            return f"{body[16:16 + n].decode(errors='replace')} (code {code}, domain {domain})"
        return f"code {code}, domain {domain}"
    except struct.error:
        return "undecodable error"


def nonnull_domain(body: bytes) -> bytes:
    """The remote_nonnull_domain at the start of *body*, re-encoded as call arguments."""
    n = U32.unpack_from(body, 0)[0]
    end = 4 + n + (-n % 4) + 16 + 4
    return body[:end]


# ---------------------------------------------------------------------------- measuring


def proc_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


class Sampler(threading.Thread):
    """Peak RSS and descriptor count of a process, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_rss = 0
        self.peak_fds = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(0.05)

    def sample(self) -> None:
        with contextlib.suppress(OSError):
            self.peak_rss = max(self.peak_rss, proc_rss_kib(self.pid))
            self.peak_fds = max(self.peak_fds, proc_fds(self.pid))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self.sample()


class Bystander(threading.Thread):
    """A legitimate client cycling connect/AUTH_LIST/CONNECT_OPEN/GET_LIB_VERSION/close."""

    def __init__(self, address: str | tuple[str, int], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.interval = interval
        self.ok = 0
        self.failed = 0
        self.latencies: list[float] = []
        self.errors: dict[str, int] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            start = time.monotonic()
            try:
                with Client(self.address, timeout=5.0) as client:
                    client.handshake()
                    client.call(PROC_LIB_VERSION)
                self.ok += 1
                self.latencies.append(time.monotonic() - start)
            except (OSError, RPCFailure) as exc:
                self.failed += 1
                key = type(exc).__name__ + ": " + str(exc)[:60]
                self.errors[key] = self.errors.get(key, 0) + 1
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        return {
            "ok": self.ok,
            "failed": self.failed,
            "p50_ms": round(statistics.median(lat) * 1000, 2) if lat else None,
            "max_ms": round(lat[-1] * 1000, 1) if lat else None,
            "errors": self.errors,
        }


@dataclass
class Scale:
    big_records: int = 40
    half_headers: int = 1000
    idle: int = 500
    pipeline_calls: int = 8000
    pipeline_reply_bytes: int = 100_000
    tls_idle: int = 20
    max_clients: int = 10
    fd_rounds: int = 8
    fds_per_round: int = 28
    nofile: int = 256
    state_domains: int = 1000
    hold: float = 3.0
    tls_hold: float = 8.0
    settle: float = 1.5

    @classmethod
    def smoke(cls) -> Scale:
        return cls(
            big_records=8, half_headers=100, idle=50, pipeline_calls=400,
            pipeline_reply_bytes=50_000, tls_idle=20, max_clients=10, fd_rounds=3,
            fds_per_round=28, state_domains=200, hold=1.0, tls_hold=2.0,
            settle=0.5,
        )


@dataclass
class Result:
    attack: str
    server: str
    rss_idle_kib: int = 0
    rss_peak_kib: int = 0
    rss_after_kib: int = 0
    fds_idle: int = 0
    fds_peak: int = 0
    fds_after: int = 0
    bystander: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def delta_mb(self) -> float:
        return (self.rss_peak_kib - self.rss_idle_kib) / 1024


def open_many(address: str | tuple[str, int], count: int, first_bytes: bytes = b"",
              ) -> tuple[list[socket.socket], int]:
    """*count* connections that each sent *first_bytes*; returns them and the failures."""
    socks: list[socket.socket] = []
    failures = 0
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(5.0)
        try:
            sock.connect(address)
            if first_bytes:
                sock.sendall(first_bytes)
        except OSError:
            sock.close()
            failures += 1
            continue
        socks.append(sock)
    return socks, failures


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


# ---------------------------------------------------------------------------- attacks


def attack_big_records(server: ServerProcess, scale: Scale) -> dict[str, Any]:
    announce = 32 * MB
    head = HEADER.pack(announce, REMOTE, 1, PROC_LIB_VERSION, CALL, 1, 0)
    socks, failures = open_many(server.unix_path, scale.big_records, head)
    time.sleep(scale.hold)
    closed = sum(1 for s in socks if _peer_closed(s))
    close_all(socks)
    return {"connections": len(socks), "connect_failures": failures,
            "dropped_by_server": closed}


def attack_half_headers(server: ServerProcess, scale: Scale) -> dict[str, Any]:
    socks, failures = open_many(server.unix_path, scale.half_headers, b"\0\0")
    time.sleep(scale.hold)
    close_all(socks)
    return {"connections": len(socks), "connect_failures": failures}


def attack_idle(server: ServerProcess, scale: Scale) -> dict[str, Any]:
    time.sleep(0.3)
    before = proc_rss_kib(server.pid)
    clients: list[Client] = []
    failures = 0
    try:
        for _ in range(scale.idle):
            try:
                client = Client(server.unix_path)
                client.handshake()
                clients.append(client)
            except (OSError, RPCFailure):
                failures += 1
        time.sleep(scale.hold)
        during = proc_rss_kib(server.pid)
    finally:
        for client in clients:
            client.close()
    per_client = (during - before) / max(len(clients), 1)
    return {"clients": len(clients), "failures": failures,
            "per_client_kib": round(per_client, 1)}


def attack_pipeline(server: ServerProcess, scale: Scale) -> dict[str, Any]:
    name = "rsbench-pipeline"
    with Client(server.unix_path) as setup:
        setup.handshake()
        _, body = setup.call(
            PROC_DEFINE_XML, xdr_string(domain_xml(name, scale.pipeline_reply_bytes))
        )
        dom = nonnull_domain(body)
        attacker = Client(server.unix_path)
        sent = 0
        try:
            attacker.handshake()
            attacker.sock.setblocking(False)
            call_args = dom + U32.pack(0)
            pending = b""
            deadline = time.monotonic() + scale.hold
            serial = 1000
            while time.monotonic() < deadline and (sent < scale.pipeline_calls or pending):
                if not pending and sent < scale.pipeline_calls:
                    serial += 1
                    pending = frame(PROC_GET_XML_DESC, serial, call_args)
                    sent += 1
                try:
                    n = attacker.sock.send(pending)
                    pending = pending[n:]
                except BlockingIOError:
                    time.sleep(0.01)
            if time.monotonic() < deadline:
                time.sleep(deadline - time.monotonic())
        finally:
            attacker.close()
        time.sleep(0.2)
        setup.call(PROC_UNDEFINE, dom, check=False)
    return {"calls_written": sent, "of": scale.pipeline_calls,
            "reply_bytes": scale.pipeline_reply_bytes}


def attack_tls_idle(server: ServerProcess, scale: Scale) -> dict[str, Any]:
    if server.tls_port is None:
        raise RuntimeError("no TLS listener")
    socks, failures = open_many(("127.0.0.1", server.tls_port), scale.tls_idle)
    time.sleep(scale.tls_hold)
    close_all(socks)
    return {"connections": len(socks), "connect_failures": failures}


def _virt_admin(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    virt_admin = shutil.which("virt-admin")
    if virt_admin is None:
        raise RuntimeError("virt-admin is not installed")
    return subprocess.run(
        [virt_admin, "-c", f"libvirtd:///system?socket={server.admin_path}", *args],
        capture_output=True, text=True, timeout=30,
    )


def _set_limits(server: ServerProcess, max_clients: int, max_unauth: int) -> None:
    srv = "libvirtd" if server.name == "libvirtd" else "testvirtd"
    # Lower the anonymous limit first and raise it last: it may never exceed max_clients.
    order = [("--max-unauth-clients", max_unauth), ("--max-clients", max_clients)]
    if max_clients > 20:
        order.reverse()
    for option, value in order:
        done = _virt_admin(server, "server-clients-set", srv, option, str(value))
        if done.returncode != 0:
            raise RuntimeError(f"virt-admin {option} {value}: {done.stderr.strip()}")


def attack_max_clients(server: ServerProcess, scale: Scale) -> dict[str, Any]:
    _set_limits(server, scale.max_clients, scale.max_clients)
    fillers: list[Client] = []
    waiting: dict[str, socket.socket] = {}
    try:
        for _ in range(scale.max_clients):
            client = Client(server.unix_path)
            client.call(PROC_AUTH_LIST)
            fillers.append(client)
        # One more on each listener: queued by the kernel, not served while full.
        for label, address in (("unix", server.unix_path), ("tcp", ("127.0.0.1", server.tcp_port))):
            family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.settimeout(5.0)
            sock.connect(address)
            sock.sendall(frame(PROC_AUTH_LIST, 1))
            waiting[label] = sock
        time.sleep(scale.hold)
        served_while_full = sorted(k for k, s in waiting.items() if _has_reply(s, 0.0))
        for client in fillers:
            client.close()
        fillers.clear()
        resumed: dict[str, float | None] = {}
        start = time.monotonic()
        for label, sock in waiting.items():
            resumed[label] = (
                round(time.monotonic() - start, 2)
                if _has_reply(sock, max(0.0, 10.0 - (time.monotonic() - start)))
                else None
            )
        fresh = {}
        for label, address in (("unix", server.unix_path), ("tcp", ("127.0.0.1", server.tcp_port))):
            try:
                with Client(address) as client:
                    client.call(PROC_AUTH_LIST)
                fresh[label] = True
            except (OSError, RPCFailure):
                fresh[label] = False
    finally:
        for client in fillers:
            client.close()
        close_all(list(waiting.values()))
        _set_limits(server, 5000, 20)
    return {
        "served_while_full": served_while_full,
        "resumed_after_s": resumed,
        "listeners_accepting": sum(1 for v in resumed.values() if v is not None),
        "of": len(resumed),
        "fresh_clients_ok": fresh,
    }


def _has_reply(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(max(timeout, 0.001))
    try:
        data = sock.recv(HEADER.size, socket.MSG_PEEK)
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return False
    return len(data) > 0


def _peer_closed(sock: socket.socket) -> bool:
    sock.settimeout(0.001)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True


def attack_fd_passing(server: ServerProcess, scale: Scale) -> dict[str, Any]:
    fds_per_round: list[int] = []
    outcomes: list[str] = []
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        for n in range(scale.fd_rounds):
            try:
                with Client(server.unix_path, timeout=10.0) as client:
                    client.handshake()
                    extra = [os.dup(null) for _ in range(scale.fds_per_round)]
                    try:
                        payload = xdr_string(domain_xml(f"rsbench-fd{n}")) + U32.pack(0)
                        status, body = client.call_with_fds(
                            PROC_CREATE_XML_WITH_FILES, payload, extra
                        )
                    finally:
                        for fd in extra:
                            os.close(fd)
                    if status == 0:
                        client.call(PROC_DESTROY, nonnull_domain(body), check=False)
                        outcomes.append("ok")
                    else:
                        outcomes.append(error_message(body)[:70])
            except (OSError, RPCFailure) as exc:
                outcomes.append(f"{type(exc).__name__}: {exc}"[:70])
            time.sleep(0.2)
            fds_per_round.append(proc_fds(server.pid))
    finally:
        os.close(null)
    fresh_ok = True
    try:
        with Client(server.unix_path) as client:
            client.handshake()
            client.call(PROC_LIB_VERSION)
    except (OSError, RPCFailure):
        fresh_ok = False
    distinct = sorted(set(outcomes))
    return {
        "rounds": scale.fd_rounds,
        "fds_per_round": scale.fds_per_round,
        "nofile": scale.nofile,
        "server_fds_after_each_round": fds_per_round,
        "outcomes": {o: outcomes.count(o) for o in distinct},
        "fresh_client_ok": fresh_ok,
    }


def attack_regex(server: ServerProcess, scale: Scale) -> dict[str, Any]:
    registration = "registered"
    with Client(server.unix_path) as watcher, Client(server.unix_path, timeout=30.0) as driver:
        uri = "qemu:///system"
        try:
            watcher.handshake(uri=uri)
            # no domain, event name = the pattern, flags = REGEX
            args = U32.pack(0) + U32.pack(1) + xdr_string(HOSTILE_PATTERN) + U32.pack(1)
            watcher.call(QEMU_PROC_MONITOR_EVENT_REGISTER, args, program=QEMU)
        except RPCFailure as exc:
            registration = f"refused: {exc}"[:90]
            uri = "test:///default"
        driver.handshake(uri=uri)
        _, body = driver.call(PROC_LOOKUP_BY_NAME, xdr_string("test"))
        dom = nonnull_domain(body)
        # for as long as the other attacks hold, so that the bystander runs meanwhile
        start = time.monotonic()
        cycles = 0
        while time.monotonic() - start < scale.hold:
            driver.call(PROC_SUSPEND, dom)
            driver.call(PROC_RESUME, dom)
            cycles += 1
            time.sleep(0.01)
        elapsed = time.monotonic() - start
    return {"registration": registration, "cycles": cycles,
            "ms_per_cycle": round(elapsed * 1000 / max(cycles, 1), 2)}


def attack_state_writes(server: ServerProcess, scale: Scale) -> dict[str, Any]:
    last: list[float] = []
    with Client(server.unix_path, timeout=30.0) as client:
        client.handshake()
        for n in range(scale.state_domains):
            start = time.monotonic()
            client.call(PROC_DEFINE_XML, xdr_string(domain_xml(f"rsbench-state{n}")))
            last = [*last[-99:], time.monotonic() - start]
    state = os.path.join(server.workdir, "state.json")
    return {"defines": scale.state_domains,
            "last_ms_per_define": round(statistics.mean(last) * 1000, 2),
            "state_kib": os.path.getsize(state) // 1024 if os.path.exists(state) else None}


ATTACKS: dict[str, Callable[[ServerProcess, Scale], dict[str, Any]]] = {
    "big-records": attack_big_records,
    "half-headers": attack_half_headers,
    "idle": attack_idle,
    "pipeline": attack_pipeline,
    "tls-idle": attack_tls_idle,
    "max-clients": attack_max_clients,
    "fd-passing": attack_fd_passing,
    "regex": attack_regex,
    "state-writes": attack_state_writes,
}


def measure(attack: str, server: ServerProcess, scale: Scale) -> Result:
    result = Result(attack, server.name)
    time.sleep(scale.settle)
    result.rss_idle_kib = proc_rss_kib(server.pid)
    result.fds_idle = proc_fds(server.pid)
    sampler = Sampler(server.pid)
    # max-clients counts every connection: the bystander would take a slot.
    bystander = None if attack == "max-clients" else Bystander(server.unix_path)
    sampler.start()
    if bystander is not None:
        bystander.start()
    try:
        result.extra = ATTACKS[attack](server, scale)
    except (OSError, RPCFailure, RuntimeError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        if bystander is not None:
            bystander.stop()
            result.bystander = bystander.summary()
        sampler.stop()
    result.rss_peak_kib = sampler.peak_rss
    result.fds_peak = sampler.peak_fds
    time.sleep(scale.settle)
    if server.alive():
        result.rss_after_kib = proc_rss_kib(server.pid)
        result.fds_after = proc_fds(server.pid)
    else:
        result.error = (result.error or "") + f" server died: {server.log_tail(5)}"
    return result


# ---------------------------------------------------------------------------- running


@contextlib.contextmanager
def pki_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="netrpc-bench-pki-") as directory:
        env = dict(os.environ)
        env["PYTHONPATH"] = servers.ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        subprocess.run(
            [sys.executable, "-m", "netrpc.cli.certs", "--out", directory, "--host", "127.0.0.1",
             "--no-ca-key"],
            check=True, capture_output=True, env=env, timeout=60,
        )
        yield directory


def run(names: list[str], attacks: list[str], scale: Scale, log: Callable[[str], None],
        ) -> list[Result]:
    """Every attack against freshly started daemons (started together, measured one after
    the other), so that no attack inherits another one's memory."""
    results: list[Result] = []
    with pki_dir() as pki:
        for attack in attacks:
            options: dict[str, Any] = {"nofile": scale.nofile} if attack == "fd-passing" else {}
            if attack == "tls-idle":
                options["pki"] = pki
            if attack == "state-writes":
                options["testvirtd_args"] = ["--state", "state.json"]
            with servers.running(names, **options) as running:
                for name in names:
                    log(f"{attack} against {name} ...")
                    results.append(measure(attack, running[name], scale))
    return results


def _mb(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def _extra_text(r: Result) -> str:
    e = r.extra
    if r.error:
        return f"ERROR {r.error}"
    if r.attack == "idle":
        return f"{e['per_client_kib']} KiB/client ({e['clients']} clients, {e['failures']} failed)"
    if r.attack == "big-records":
        return f"{e['connections']} conns, {e['dropped_by_server']} dropped by server"
    if r.attack == "half-headers":
        return f"{e['connections']} conns, {e['connect_failures']} connect failures"
    if r.attack == "pipeline":
        return f"{e['calls_written']}/{e['of']} calls written"
    if r.attack == "tls-idle":
        return f"{e['connections']} idle TLS conns"
    if r.attack == "max-clients":
        return (f"listeners accepting again {e['listeners_accepting']}/{e['of']} "
                f"{e['resumed_after_s']}, served while full {e['served_while_full']}")
    if r.attack == "fd-passing":
        return (f"fds after rounds {e['server_fds_after_each_round']}, "
                f"fresh client {'ok' if e['fresh_client_ok'] else 'FAILED'}, {e['outcomes']}")
    if r.attack == "regex":
        return (f"{e['cycles']} suspend+resume, {e['ms_per_cycle']} ms each; "
                f"pattern {e['registration']}")
    if r.attack == "state-writes":
        saved = f", state {e['state_kib']} KiB on disk" if e["state_kib"] is not None else ""
        return f"{e['defines']} defines, last 100 {e['last_ms_per_define']} ms each{saved}"
    return json.dumps(e)


def table(results: list[Result]) -> str:
    head = ("| attack | server | RSS idle MB | RSS peak MB | delta MB | RSS after MB "
            "| fds idle/peak/after | bystander ok/failed | p50 ms | max ms | attack |")
    lines = [head, "|" + "---|" * 11]
    for r in results:
        b = r.bystander
        lines.append(
            f"| {r.attack} | {r.server} | {_mb(r.rss_idle_kib)} | {_mb(r.rss_peak_kib)} "
            f"| {r.delta_mb:+.1f} | {_mb(r.rss_after_kib)} "
            f"| {r.fds_idle}/{r.fds_peak}/{r.fds_after} "
            f"| {b.get('ok', '-')}/{b.get('failed', '-')} | {b.get('p50_ms', '-')} "
            f"| {b.get('max_ms', '-')} | {_extra_text(r)} |"
        )
    return "\n".join(lines)


def targets(results: list[Result]) -> list[dict[str, Any]]:
    """The issue's targets for testvirtd, each with the measured value and a verdict."""
    by = {(r.attack, r.server): r for r in results}
    out: list[dict[str, Any]] = []

    def add(name: str, ok: bool, value: str) -> None:
        out.append({"target": name, "ok": ok, "value": value})

    tv_idle, lv_idle = by.get(("idle", "testvirtd")), by.get(("idle", "libvirtd"))
    if tv_idle and lv_idle and not tv_idle.error and not lv_idle.error:
        tv, lv = tv_idle.extra["per_client_kib"], lv_idle.extra["per_client_kib"]
        add("idle client RSS <= 1.5x libvirtd", tv <= 1.5 * max(lv, 1.0),
            f"{tv} KiB vs {lv} KiB")
    for r in results:
        if r.server != "testvirtd":
            continue
        if r.error:
            add(f"{r.attack}: runs", False, r.error)
            continue
        if r.attack not in ("idle", "fd-passing"):
            add(f"{r.attack}: RSS within 50 MB of idle", r.delta_mb <= 50, f"{r.delta_mb:+.1f} MB")
        if r.bystander:
            add(f"{r.attack}: bystander never fails", r.bystander["failed"] == 0,
                f"{r.bystander['ok']} ok, {r.bystander['failed']} failed")
            lv = by.get((r.attack, "libvirtd"))
            lv_p50 = lv.bystander.get("p50_ms") if lv is not None and lv.bystander else None
            limit = max(50.0, 3 * lv_p50) if lv_p50 else 50.0
            p50 = r.bystander.get("p50_ms")
            add(f"{r.attack}: bystander p50 <= max(50 ms, 3x libvirtd)",
                p50 is not None and p50 <= limit,
                f"{p50} ms (libvirtd {lv_p50} ms)")
            if r.attack in NO_STALL_ATTACKS:
                worst = r.bystander.get("max_ms")
                add(f"{r.attack}: no bystander cycle over 1 s",
                    worst is not None and worst <= 1000, f"worst {worst} ms")
        if r.attack == "max-clients":
            e = r.extra
            add("max-clients: every listener accepts again",
                e["listeners_accepting"] == e["of"] and all(e["fresh_clients_ok"].values()),
                f"{e['listeners_accepting']}/{e['of']}")
        if r.attack == "fd-passing":
            e = r.extra
            last = e["server_fds_after_each_round"][-1] if e["server_fds_after_each_round"] else -1
            add("fd-passing: descriptors back to baseline, new clients served",
                e["fresh_client_ok"] and 0 <= last <= r.fds_idle + 4,
                f"idle {r.fds_idle}, after rounds {last}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--smoke", action="store_true", help="scaled-down run for the test suite")
    ap.add_argument("--attacks", default=",".join(ALL_ATTACKS), help="comma-separated")
    ap.add_argument("--servers", default=",".join(SERVERS), help="libvirtd,testvirtd")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = ap.parse_args(argv)
    attacks = [a for a in args.attacks.split(",") if a]
    unknown = [a for a in attacks if a not in ATTACKS]
    if unknown:
        ap.error(f"unknown attack(s) {', '.join(unknown)} (known: {', '.join(ALL_ATTACKS)})")
    names = []
    notes = []
    for name in [n for n in args.servers.split(",") if n]:
        if name not in SERVERS:
            ap.error(f"unknown server {name!r} (known: {', '.join(SERVERS)})")
        reason = servers.availability(name)
        if reason:
            notes.append(f"skipping {name}: {reason}")
        else:
            names.append(name)
    scale = Scale.smoke() if args.smoke else Scale()

    def log(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    for note in notes:
        log(note)
    started = time.monotonic()
    try:
        results = run(names, attacks, scale, log)
    except RuntimeError as exc:
        log(f"resources: {exc}")
        return 2
    elapsed = time.monotonic() - started
    goals = targets(results)
    if args.json:
        print(json.dumps({
            "meta": {"smoke": args.smoke, "elapsed_s": round(elapsed, 1), "notes": notes,
                     "scale": scale.__dict__},
            "results": [dict(r.__dict__, delta_mb=round(r.delta_mb, 1)) for r in results],
            "targets": goals,
        }, indent=1))
    else:
        print(table(results))
        print()
        for goal in goals:
            print(f"  {'ok    ' if goal['ok'] else 'MISSED'}  testvirtd {goal['target']}: "
                  f"{goal['value']}")
        print(f"\n{len(results)} measurements in {elapsed:.0f} s")
    return 1 if args.strict and not all(g["ok"] for g in goals) else 0


if __name__ == "__main__":
    sys.exit(main())
