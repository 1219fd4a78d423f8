#!/usr/bin/env python3
"""Structure-aware fuzzer for libvirt RPC daemons (testvirtd by default).

Messages are built from libvirt's wire format and then broken on purpose:

* ``call``: a valid header with a random program (REMOTE, QEMU, keepalive or random),
  procedure, message type, status and serial, and a random or XDR-shaped payload;
* ``mutate``: valid arguments of common procedures, truncated, extended or bit-flipped;
* ``xml``: hostile XML to the *_DEFINE_XML / *_CREATE_XML procedures (deep nesting, invalid
  UTF-8, EBCDIC/UTF-7 declarations, entity expansion, DOCTYPEs, huge attributes);
* ``json``: hostile QEMU monitor and guest agent commands (deep nesting, 5,000-digit
  integers, invalid UTF-8, truncated JSON, HMP text);
* ``fds``: CALL_WITH_FDS whose descriptor count lies (none sent, too many, some sent);
* ``framing``: length words too small or too large, records cut short; these end their
  connection, so they are sent last on it;
* split delivery: some connections dribble their bytes a few at a time.

The fuzzer keeps ``--connections`` connections busy (most after AUTH_LIST + CONNECT_OPEN,
some raw), reads and discards whatever the daemon sends, and reopens connections the
daemon closes.  After every batch it checks that the daemon still answers a fresh client,
that a bystander client (one GET_LIB_VERSION every 20 ms on its own connection) never
waited longer than ``--stall`` seconds, that no traceback appeared in the daemon's log,
and records RSS and descriptors.  At the end all connections close and the descriptors
must return to the baseline.

    python3 bench/fuzz.py --smoke                 # ~10 s, used by the test suite
    python3 bench/fuzz.py --messages 1000000      # the long run
    python3 bench/fuzz.py --seconds 300 --seed 7 --server libvirtd

The last line is the summary (messages/s, crashes, hangs, stalls, tracebacks, RSS and
descriptors); the exit status is 1 when anything was found, 2 when the daemon could not
start.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import json
import os
import random
import selectors
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import servers
from bench.resources import (
    HEADER,
    PROC_AUTH_LIST,
    PROC_LIB_VERSION,
    PROC_OPEN,
    REMOTE,
    U32,
    Client,
    RPCFailure,
    proc_fds,
    proc_rss_kib,
    xdr_string,
)

QEMU = 0x20008087
KEEPALIVE = 0x6B656570
TRACEBACK = "Traceback (most recent call last)"
MAX_RECORD = 32 * 1024 * 1024 + 4

# REMOTE procedures that take one XML document (+ flags for some).
XML_PROCS = {
    10: True,    # DOMAIN_CREATE_XML (xml, flags)
    11: False,   # DOMAIN_DEFINE_XML (xml)
    36: False,   # NETWORK_CREATE_XML
    38: False,   # NETWORK_DEFINE_XML
    76: True,    # STORAGE_POOL_CREATE_XML
    77: True,    # STORAGE_POOL_DEFINE_XML
    114: True,   # NODE_DEVICE_CREATE_XML
    350: True,   # DOMAIN_DEFINE_XML_FLAGS
    142: True,   # INTERFACE_DEFINE_XML (xml, flags)
}
DOMAIN_PROCS = [3, 4, 5, 9, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 35, 168, 201, 230, 277]


def xdr_domain(name: str = "test") -> bytes:
    return xdr_string(name) + bytes(16) + struct.pack(">i", -1)


def rand_xdr(rng: random.Random, budget: int = 8) -> bytes:
    """A random sequence of XDR-looking items (ints, strings, optional strings, arrays)."""
    out = bytearray()
    for _ in range(rng.randint(0, budget)):
        kind = rng.random()
        if kind < 0.35:
            out += struct.pack(">I", rng.choice([0, 1, 2, 0xFFFFFFFF, 0x7FFFFFFF, rng.getrandbits(32)]))
        elif kind < 0.7:
            out += xdr_string(rng.choice(["test", "", "x" * rng.randint(0, 300), "\u00e9\u4e2d",
                                          "test:///default", "../../etc/passwd"]))
        elif kind < 0.85:
            out += U32.pack(rng.choice([0, 1])) + (xdr_string("test") if rng.random() < 0.5 else b"")
        else:
            n = rng.choice([0, 1, 3, 1000, 0x10000000])
            out += U32.pack(n) + bytes(4 * min(n, rng.randint(0, 8)))
    return bytes(out)


def hostile_xml(rng: random.Random) -> bytes:
    name = f"fuzz{rng.randint(0, 7)}"
    depth = rng.choice([10, 300, 2000, 20000])
    choices: list[bytes] = [
        ("<domain type='test'><name>" + name + "</name>" + "<a>" * depth + "</a>" * depth
         + "<memory>1024</memory><os><type>hvm</type></os></domain>").encode(),
        b"<domain type='test'><name>" + name.encode() + b"\xff\xfe\x80</name></domain>",
        b"<?xml version='1.0' encoding='EBCDIC'?><domain/>",
        b"<?xml version='1.0' encoding='UTF-7'?><domain/>",
        b"<?xml version='1.0' encoding='latin-1'?><domain type='test'><name>\xe9</name></domain>",
        (b"<!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
         b"<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;'>]>"
         b"<domain type='test'><name>&d;</name></domain>"),
        b"<!DOCTYPE d SYSTEM 'file:///etc/passwd'><domain>&xxe;</domain>",
        ("<domain type='test' " + "a='" + "x" * 100_000 + "'><name>" + name + "</name></domain>").encode(),
        b"<domain type='test'><name>" + name.encode() + b"</name><memory unit='YiB'>99999999999999999999999</memory></domain>",
        b"<domain type='test'><name>" + name.encode() + b"</name><uuid>not-a-uuid</uuid></domain>",
        b"<domain",
        b"",
        b"\x00" * rng.randint(1, 64),
        b"<network><name>" + name.encode() + b"</name><ip address='999.1.1.1'/></network>",
        b"<pool type='dir'><name>" + name.encode() + b"</name><target><path>\x00</path></target></pool>",
        bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 200))),
    ]
    return rng.choice(choices)


def hostile_json(rng: random.Random) -> bytes:
    depth = rng.choice([10, 1000, 100_000])
    choices = [
        b'{"execute":"query-status","arguments":' + b"[" * depth + b"]" * depth + b"}",
        b'{"execute":"query-status","id":' + b"9" * 5000 + b"}",
        b'{"execute":"qom-get","arguments":{"path":"/","property":"' + b"\xff\xfe" + b'"}}',
        b'{"execute":',
        b'{"execute":"getfd","arguments":{"fdname":"x"}}',
        b'{"execute":"human-monitor-command","arguments":{"command-line":"info ' + b"x" * 1000 + b'"}}',
        b"info status",
        b'{"execute":"guest-exec","arguments":{"path":"/bin/true","arg":' + b"[" * depth + b"]" * depth + b"}}",
        b'{"execute":"guest-ping","arguments":{"n":1e99999}}',
        b'[1,2,3]',
        b"\x00\x01\x02",
        b'{"execute":"query-version","arguments":{"a":"' + b"\\ud800" * 100 + b'"}}',
    ]
    return rng.choice(choices)


@dataclass
class Generator:
    rng: random.Random
    counts: dict[str, int] = field(default_factory=dict)
    serial: int = 100

    def _frame(self, program: int, procedure: int, mtype: int, status: int, payload: bytes,
               *, version: int = 1, serial: int | None = None) -> bytes:
        if serial is None:
            self.serial = (self.serial + 1) & 0xFFFFFFFF
            serial = self.serial
        return HEADER.pack(HEADER.size + len(payload), program, version, procedure, mtype,
                           serial, status) + payload

    def message(self, raw_conn: bool) -> tuple[str, list[bytes | int], bool]:
        """(kind, segments, ends the connection).  Segments are bytes, or an int: a
        descriptor to pass with SCM_RIGHTS."""
        r = self.rng.random()
        if r < 0.45:
            kind, segs, fatal = "call", [self._random_call()], False
        elif r < 0.70:
            kind, segs, fatal = "mutate", [self._mutated()], False
        elif r < 0.80:
            kind, segs, fatal = "xml", [self._xml()], False
        elif r < 0.90:
            kind, segs, fatal = "json", [self._json()], False
        elif r < 0.96:
            kind, segs, fatal = "fds", *self._fds()
        else:
            kind, segs, fatal = "framing", [self._framing()], True
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return kind, segs, fatal

    def _random_call(self) -> bytes:
        rng = self.rng
        program = rng.choices([REMOTE, QEMU, KEEPALIVE, rng.getrandbits(32)], [70, 15, 10, 5])[0]
        procedure = rng.choice([rng.randint(0, 460), rng.randint(-5, 5), rng.getrandbits(31)])
        mtype = rng.choices([0, 1, 2, 3, 4, 5, rng.randint(6, 2**31 - 1)], [70, 5, 5, 8, 4, 4, 4])[0]
        status = rng.choices([0, 1, 2, rng.getrandbits(31)], [80, 8, 8, 4])[0]
        version = rng.choices([1, 0, 2, rng.getrandbits(32)], [90, 4, 4, 2])[0]
        serial = rng.choice([None, 0, 0xFFFFFFFF, rng.getrandbits(32)])
        payload = rand_xdr(rng) if rng.random() < 0.7 else rng.randbytes(rng.randint(0, 512))
        if mtype == 4:
            payload = U32.pack(0) + payload
        return self._frame(program, procedure, mtype, status, payload, version=version,
                           serial=serial)

    def _mutated(self) -> bytes:
        rng = self.rng
        procedure, args = rng.choice([
            (23, xdr_string("test")),                                   # LOOKUP_BY_NAME
            (14, xdr_domain() + U32.pack(0)),                           # GET_XML_DESC
            (PROC_OPEN, U32.pack(1) + xdr_string("test:///default") + U32.pack(0)),
            (273, struct.pack(">iI", 100, 0)),                          # LIST_ALL_DOMAINS
            (rng.choice(DOMAIN_PROCS), xdr_domain(rng.choice(["test", "fuzz0", "nope"]))),
            (PROC_LIB_VERSION, b""),
            (1, rand_xdr(rng, 3)),
        ])
        data = bytearray(args)
        op = rng.random()
        if op < 0.3 and data:
            del data[rng.randint(0, len(data) - 1):]
        elif op < 0.6 and data:
            for _ in range(rng.randint(1, 4)):
                i = rng.randint(0, len(data) - 1)
                data[i] ^= 1 << rng.randint(0, 7)
        elif op < 0.8:
            data += rng.randbytes(rng.randint(1, 64))
        else:
            data = bytearray(struct.pack(">I", rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 4194305]))) + data
        return self._frame(REMOTE, procedure, 0, 0, bytes(data))

    def _xml(self) -> bytes:
        procedure = self.rng.choice(list(XML_PROCS))
        doc = hostile_xml(self.rng)
        # an XDR string, sometimes not padded or with a lying length
        if self.rng.random() < 0.9:
            payload = xdr_string(doc)
        else:
            payload = U32.pack(max(0, len(doc) + self.rng.choice([-1, 1, 1000]))) + doc
        if XML_PROCS[procedure]:
            payload += U32.pack(0)
        return self._frame(REMOTE, procedure, 0, 0, payload)

    def _json(self) -> bytes:
        cmd = hostile_json(self.rng)
        dom = xdr_domain("test")
        if self.rng.random() < 0.6:  # QEMU_DOMAIN_MONITOR_COMMAND (dom, cmd, flags)
            return self._frame(QEMU, 1, 0, 0, dom + xdr_string(cmd) + U32.pack(self.rng.choice([0, 1])))
        # QEMU_DOMAIN_AGENT_COMMAND (dom, cmd, timeout, flags)
        return self._frame(QEMU, 3, 0, 0, dom + xdr_string(cmd) + struct.pack(">iI", -1, 0))

    def _fds(self) -> tuple[list[bytes | int], bool]:
        """A CALL_WITH_FDS; most send the descriptors they announce, some lie about the
        count (the daemon then drops the connection: the message is its last)."""
        rng = self.rng
        honest = rng.random() < 0.7
        claimed = rng.choice([0, 1, 2, 3]) if honest else rng.choice([1, 2, 32, 33, 1000, 0xFFFFFFFF])
        sent = claimed if honest else min(rng.choice([0, 1, 2]), 3)
        procedure = rng.choice([309, 310, PROC_LIB_VERSION, 23])
        if procedure == 309:
            body = xdr_string(f"<domain type='test'><name>fuzzfd{rng.randint(0, 3)}</name>"
                              "<memory>1024</memory><os><type>hvm</type></os></domain>") + U32.pack(0)
        elif procedure == 310:
            body = xdr_domain(rng.choice(["test", "fuzz0"])) + U32.pack(0)
        else:
            body = rand_xdr(rng, 2)
        if not honest and rng.random() < 0.2:
            body = U32.pack(claimed)  # the count and nothing else
            frame = HEADER.pack(HEADER.size + len(body), REMOTE, 1, procedure, 4, 7, 0) + body
        else:
            frame = self._frame(REMOTE, procedure, 4, 0, U32.pack(claimed) + body)
        if honest and rng.random() < 0.3:  # a QEMU monitor getfd with its descriptor
            cmd = b'{"execute":"getfd","arguments":{"fdname":"f' + str(rng.randint(0, 9)).encode() + b'"}}'
            frame = self._frame(QEMU, 1, 4, 0, U32.pack(1) + xdr_domain() + xdr_string(cmd) + U32.pack(0))
            sent = 1
        return [frame, *([-1] * sent)], not honest  # -1: pass a fresh descriptor here

    def _framing(self) -> bytes:
        rng = self.rng
        choice = rng.randint(0, 5)
        if choice == 0:
            return struct.pack(">I", rng.randint(0, 27)) + rng.randbytes(24)
        if choice == 1:
            return struct.pack(">I", rng.choice([MAX_RECORD + 1, 0x7FFFFFFF, 0xFFFFFFFF]))
        if choice == 2:  # announced longer than what follows: the next record is eaten
            msg = self._random_call()
            return struct.pack(">I", len(msg) + rng.randint(1, 100)) + msg[4:]
        if choice == 3:
            return self._random_call()[: rng.randint(1, 27)]
        if choice == 4:
            return rng.randbytes(rng.randint(1, 100))
        return b"\0\0"


class Conn:
    """One fuzzing connection with its queue of segments to send."""

    def __init__(self, address: str, raw: bool, dribble: bool) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5.0)
        self.sock.connect(address)
        self.sock.setblocking(False)
        self.raw = raw
        self.dribble = dribble
        #: [segment, 1 when it is the last segment of a fuzz message else 0]
        self.out: deque[list[Any]] = deque()
        self.messages = 0  # fuzz messages queued and not yet fully written
        self.dying = False
        if not raw:
            open_args = U32.pack(1) + xdr_string("test:///default") + U32.pack(0)
            self.out.append([HEADER.pack(28, REMOTE, 1, PROC_AUTH_LIST, 0, 1, 0), 0])
            self.out.append(
                [HEADER.pack(28 + len(open_args), REMOTE, 1, PROC_OPEN, 0, 2, 0) + open_args, 0]
            )

    def queue(self, segments: list[bytes | int]) -> None:
        for i, segment in enumerate(segments):
            self.out.append([segment, 1 if i == len(segments) - 1 else 0])
        self.messages += 1

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Bystander(threading.Thread):
    """One connection, one GET_LIB_VERSION every 20 ms: the worst wait is the stall."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.address = address
        self.calls = 0
        self.errors: list[str] = []
        self.worst = 0.0
        self.window_worst = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        client: Client | None = None
        while not self._stop_event.is_set():
            start = time.monotonic()
            try:
                if client is None:
                    client = Client(self.address, timeout=30.0)
                    client.handshake()
                client.call(PROC_LIB_VERSION)
                self.calls += 1
            except (OSError, RPCFailure) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                if client is not None:
                    client.close()
                client = None
            took = time.monotonic() - start
            self.worst = max(self.worst, took)
            self.window_worst = max(self.window_worst, took)
            self._stop_event.wait(0.02)
        if client is not None:
            client.close()

    def take_window(self) -> float:
        worst, self.window_worst = self.window_worst, 0.0
        return worst

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=60)


@dataclass
class Findings:
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    stalls: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)

    def any(self) -> bool:
        return any((self.crashes, self.hangs, self.stalls, self.tracebacks, self.leaks))


def traceback_summaries(text: str) -> list[str]:
    """The last line of every traceback in *text* (the exception and its message)."""
    out = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if TRACEBACK in line:
            j = i + 1
            while j < len(lines) and (lines[j].startswith((" ", "\t")) or not lines[j].strip()):
                j += 1
            out.append(lines[j].strip()[:200] if j < len(lines) else "(truncated)")
    return out


def cleanup(address: str) -> None:
    """Destroy and undefine the domains fuzz messages may have created, and close the
    descriptors getfd registered on the test domain."""
    names = [f"fuzz{i}" for i in range(8)] + [f"fuzzfd{i}" for i in range(4)]
    with contextlib.suppress(OSError, RPCFailure), Client(address, timeout=10.0) as client:
        client.handshake()
        for name in names:
            status, body = client.call(23, xdr_string(name), check=False)
            if status == 0:
                client.call(12, body, check=False)
                client.call(35, body, check=False)
        for i in range(10):
            cmd = b'{"execute":"closefd","arguments":{"fdname":"f%d"}}' % i
            client.call(1, xdr_domain() + xdr_string(cmd) + U32.pack(0), check=False,
                        program=QEMU)


def answers(address: str, timeout: float) -> str | None:
    """None when a fresh client gets AUTH_LIST, CONNECT_OPEN and GET_LIB_VERSION answered."""
    try:
        with Client(address, timeout=timeout) as client:
            client.handshake()
            client.call(PROC_LIB_VERSION)
    except (OSError, RPCFailure) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def fuzz(server: servers.ServerProcess, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    gen = Generator(rng)
    findings = Findings()
    address = server.unix_path
    null_fd = os.open(os.devnull, os.O_RDONLY)
    sel = selectors.DefaultSelector()
    conns: list[Conn] = []
    reopened = 0

    def open_conn() -> Conn | None:
        try:
            conn = Conn(address, raw=rng.random() < 0.2, dribble=rng.random() < 0.1)
        except OSError:
            return None
        sel.register(conn.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, conn)
        return conn

    def drop(conn: Conn) -> None:
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(conn.sock)
        conn.close()

    time.sleep(0.5)
    base_rss, base_fds = proc_rss_kib(server.pid), proc_fds(server.pid)
    log_offset = os.path.getsize(server.log_path) if os.path.exists(server.log_path) else 0
    bystander = Bystander(address)
    bystander.start()
    cpu_start = server.cpu_seconds()
    start = time.monotonic()
    sent = 0
    batches = 0
    next_check = args.batch
    samples: list[tuple[int, int, int]] = []
    deadline = start + args.seconds if args.seconds else None
    try:
        while len(conns) < args.connections:
            conn = open_conn()
            if conn is None:
                break
            conns.append(conn)
        while sent < args.messages and (deadline is None or time.monotonic() < deadline):
            # keep every connection fed
            for conn in conns:
                while not conn.dying and conn.messages < 16:
                    _kind, segments, fatal = gen.message(conn.raw)
                    conn.queue(segments)
                    conn.dying = fatal
            for key, events in sel.select(timeout=1.0):
                conn = key.data
                dead = False
                if events & selectors.EVENT_READ:
                    try:
                        if not conn.sock.recv(1 << 20):
                            dead = True
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        dead = True
                if not dead and events & selectors.EVENT_WRITE and conn.out:
                    try:
                        entry = conn.out[0]
                        seg = entry[0]
                        if isinstance(seg, int):
                            fd = os.dup(null_fd)
                            try:
                                conn.sock.sendmsg([b"\0"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                             array.array("i", [fd]))])
                            finally:
                                os.close(fd)
                            finished = True
                        else:
                            limit = rng.randint(1, 7) if conn.dribble else len(seg)
                            n = conn.sock.send(seg[:limit])
                            entry[0] = seg[n:]
                            finished = n == len(seg)
                        if finished:
                            conn.out.popleft()
                            if entry[1]:
                                conn.messages -= 1
                                sent += 1
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        dead = True
                if not dead and conn.dying and not conn.out:
                    dead = True  # the fatal message is out: the daemon will drop us
                if dead:
                    drop(conn)
                    conns.remove(conn)
                    reopened += 1
                    replacement = open_conn()
                    if replacement is not None:
                        conns.append(replacement)
            if not conns:
                replacement = open_conn()
                if replacement is None:
                    findings.hangs.append(f"cannot connect after {sent} messages")
                    break
                conns.append(replacement)
            if sent >= next_check:
                batches += 1
                next_check += args.batch
                if not _check(server, address, bystander, findings, samples, sent, args,
                              log_offset):
                    break
    finally:
        for conn in conns:
            drop(conn)
        conns.clear()
        os.close(null_fd)
        elapsed = time.monotonic() - start
        cpu = server.cpu_seconds() - cpu_start if server.alive() else 0.0
        bystander.stop()
    # After everything closed and what the fuzzer legitimately left (domains it created,
    # descriptors it registered with getfd) removed: descriptors back to the baseline?
    final_rss = final_fds = -1
    if server.alive():
        cleanup(address)
        fds_deadline = time.monotonic() + 10
        while True:
            final_rss, final_fds = proc_rss_kib(server.pid), proc_fds(server.pid)
            if final_fds <= base_fds + 2 or time.monotonic() > fds_deadline:
                break
            time.sleep(0.2)
        if final_fds > base_fds + 2:
            findings.leaks.append(f"descriptors {base_fds} -> {final_fds} after all clients left")
        problem = answers(address, 10.0)
        if problem:
            findings.hangs.append(f"no answer at the end: {problem}")
    elif not findings.crashes:
        findings.crashes.append(f"daemon exited ({server.proc.returncode if server.proc else '?'}): {server.log_tail(5)}")
    _scan_log(server, findings, log_offset)
    if bystander.errors:
        findings.stalls.append(f"bystander errors: {bystander.errors[:3]}")
    rss_after_warmup = samples[0][1] if samples else base_rss
    if final_rss > 0 and final_rss - rss_after_warmup > args.rss_growth_mb * 1024:
        findings.leaks.append(
            f"RSS grew {(final_rss - rss_after_warmup) / 1024:.0f} MB after the first batch"
        )
    return {
        "server": server.name,
        "seed": args.seed,
        "messages": sent,
        "elapsed_s": round(elapsed, 2),
        "messages_per_s": round(sent / elapsed, 1) if elapsed > 0 else 0.0,
        "server_cpu_s": round(cpu, 2),
        "server_cpu_us_per_message": round(cpu / sent * 1e6, 1) if sent else None,
        "batches": batches,
        "kinds": gen.counts,
        "connections_reopened": reopened,
        "bystander_calls": bystander.calls,
        "bystander_worst_s": round(bystander.worst, 3),
        "rss_kib": {"idle": base_rss, "first_batch": rss_after_warmup, "end": final_rss,
                    "max": max([s[1] for s in samples], default=base_rss)},
        "fds": {"idle": base_fds, "end": final_fds,
                "max": max([s[2] for s in samples], default=base_fds)},
        "findings": {k: v for k, v in findings.__dict__.items()},
    }


def _scan_log(server: servers.ServerProcess, findings: Findings, offset: int) -> None:
    try:
        with open(server.log_path, errors="replace") as f:
            f.seek(offset)
            text = f.read()
    except OSError:
        return
    summaries = traceback_summaries(text)
    seen = set(findings.tracebacks)
    for summary in summaries:
        if summary not in seen:
            findings.tracebacks.append(summary)
            seen.add(summary)
    findings.__dict__["traceback_count"] = len(summaries)


def _check(server: servers.ServerProcess, address: str, bystander: Bystander,
           findings: Findings, samples: list[tuple[int, int, int]], sent: int,
           args: argparse.Namespace, log_offset: int) -> bool:
    """After a batch: still alive and answering, bystander not stalled, no traceback."""
    if not server.alive():
        findings.crashes.append(f"daemon exited after {sent} messages: {server.log_tail(8)}")
        return False
    problem = answers(address, args.stall * 5)
    if problem:
        findings.hangs.append(f"no answer after {sent} messages: {problem}")
        return False
    worst = bystander.take_window()
    if worst > args.stall:
        findings.stalls.append(f"bystander waited {worst:.2f} s (batch ending at {sent})")
    samples.append((sent, proc_rss_kib(server.pid), proc_fds(server.pid)))
    _scan_log(server, findings, log_offset)
    if args.verbose:
        print(f"  {sent} messages, rss {samples[-1][1] / 1024:.0f} MB, fds {samples[-1][2]}, "
              f"bystander worst {worst * 1000:.0f} ms, tracebacks "
              f"{findings.__dict__.get('traceback_count', 0)}", file=sys.stderr, flush=True)
    return True


def summary_line(r: dict[str, Any]) -> str:
    f = r["findings"]
    return (
        f"fuzz {r['server']}: {r['messages']} messages in {r['elapsed_s']:.1f} s "
        f"({r['messages_per_s']:.0f} msg/s, server CPU {r['server_cpu_us_per_message']} us/msg), "
        f"{r['batches']} batches, "
        f"crashes {len(f['crashes'])}, hangs {len(f['hangs'])}, stalls {len(f['stalls'])}, "
        f"tracebacks {f.get('traceback_count', 0)}, leaks {len(f['leaks'])}, "
        f"rss {r['rss_kib']['idle'] / 1024:.0f}/{r['rss_kib']['max'] / 1024:.0f}/"
        f"{r['rss_kib']['end'] / 1024:.0f} MB (idle/max/end), "
        f"fds {r['fds']['idle']}/{r['fds']['max']}/{r['fds']['end']}, "
        f"bystander worst {r['bystander_worst_s'] * 1000:.0f} ms, seed {r['seed']}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--messages", type=int, default=100_000, help="stop after this many")
    ap.add_argument("--seconds", type=float, default=None, help="stop after this long")
    ap.add_argument("--smoke", action="store_true", help="short run for the test suite")
    ap.add_argument("--batch", type=int, default=5000, help="messages between checks")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--stall", type=float, default=2.0,
                    help="longest acceptable bystander wait, seconds")
    ap.add_argument("--rss-growth-mb", type=float, default=50.0,
                    help="largest acceptable RSS growth after the first batch")
    ap.add_argument("--server", choices=("testvirtd", "libvirtd"), default="testvirtd")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--keep-log", action="store_true", help="print the daemon log's path")
    ap.add_argument("-v", "--verbose", action="store_true", help="a line per batch")
    args = ap.parse_args(argv)
    if args.smoke:
        args.messages = min(args.messages, 6000)
        args.batch = min(args.batch, 1500)
        args.seconds = args.seconds or 60.0
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    reason = servers.availability(args.server)
    if reason:
        print(f"fuzz: {reason}", file=sys.stderr)
        return 2
    try:
        with servers.running([args.server], keep_dirs=args.keep_log) as running:
            server = running[args.server]
            result = fuzz(server, args)
            if args.keep_log:
                print(f"daemon log: {server.log_path}", file=sys.stderr)
    except RuntimeError as exc:
        print(f"fuzz: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for kind, items in result["findings"].items():
            if isinstance(items, list):
                for item in items[:10]:
                    print(f"  {kind}: {item}")
        print(summary_line(result))
    found = any(v for k, v in result["findings"].items() if k != "traceback_count")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
