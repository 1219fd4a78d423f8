"""Error replies compared field by field with the real libvirtd 9.0, on raw REMOTE/QEMU calls:
procedures called before CONNECT_OPEN, and read-only refusals of the QEMU program."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd.qemu import (
    DomainAgentCommandArgs,
    MonitorEventDeregisterArgs,
    MonitorEventRegisterArgs,
    QemuProgram,
)
from daemons.testvirtd.remote import RemoteProgram
from netrpc import Client, RPCError

from ._testvirtd import Testvirtd, running
from .peers import Endpoints, RealLibvirtd

pytestmark = pytest.mark.interop

REMOTE = rt.REMOTE_PROGRAM
QEMU = rt.QEMU_PROGRAM

#: CONNECT_OPEN, CONNECT_CLOSE, SUPPORTS_FEATURE and AUTH_LIST work before the open; 125
#: (STORAGE_VOL_CREATE_XML_FROM) is served without argument decoding.
# 70 (AUTH_POLKIT) is left out: libvirtd answers it with whatever error its worker thread
# last set ("Library function returned error but did not set virError" on a fresh one).
_NOT_BEFORE_OPEN = {1, 2, 60, 66, 70, 125}


@pytest.fixture(scope="module")
def testvirtd() -> Iterator[Testvirtd]:
    with running() as daemon:
        yield daemon


def _error(exc: RPCError) -> tuple[Any, ...]:
    return (exc.code, exc.domain, exc.message, exc.level, exc.str1, exc.str2, exc.str3,
            exc.int1, exc.int2)


def _zero_payload(args: Any) -> bytes:
    """The shortest all-zero payload that decodes as *args* (empty strings, no optionals)."""
    if args is None:
        return b""
    for size in range(0, 4096, 4):
        try:
            args.decode(bytes(size))
        except Exception:
            continue
        return bytes(size)
    raise AssertionError(f"no zero payload for {args}")


async def _call(client: Client, program: int, proc: int, payload: bytes) -> Any:
    try:
        return ("ok", await client.call(program, 1, proc, payload))
    except RPCError as exc:
        return _error(exc)


async def _before_open(server: Endpoints) -> dict[tuple[int, int], Any]:
    out: dict[tuple[int, int], Any] = {}
    assert server.tcp_port is not None
    async with Client.tcp("127.0.0.1", server.tcp_port) as client:
        for program, procs in ((REMOTE, RemoteProgram.procedures),
                               (QEMU, QemuProgram.procedures)):
            for number, proc in sorted(procs.items()):
                if program == REMOTE and number in _NOT_BEFORE_OPEN:
                    continue
                out[program, number] = await _call(client, program, number,
                                                   _zero_payload(proc.args))
    return out


def test_procedures_before_open_match_libvirtd(testvirtd: Testvirtd,
                                               real_libvirtd: RealLibvirtd) -> None:
    theirs = anyio.run(_before_open, real_libvirtd)
    ours = anyio.run(_before_open, testvirtd)
    assert ours == theirs
    # both kinds of text are covered
    messages = {error[2] for error in theirs.values()}
    assert {"internal error: connection not open",
            "internal error: hypervisor connection not open"} <= messages


async def _qemu_refusals(server: Endpoints) -> list[Any]:
    assert server.ro_path is not None
    out = []
    async with Client.unix(server.ro_path) as client:
        await client.call(REMOTE, 1, 1, rt.ConnectOpenArgs.xdr.encode(
            rt.ConnectOpenArgs("test:///default", 0)))
        dom = rt.DomainRet.xdr.decode(await client.call(
            REMOTE, 1, 23, rt.NameArgs.xdr.encode(rt.NameArgs("test")))).dom
        command = rt.DomainMonitorCommandArgs.xdr.encode(
            rt.DomainMonitorCommandArgs(dom, '{"execute":"query-status"}', 0))
        calls = [
            (1, command),
            (7, command),
            (3, DomainAgentCommandArgs.xdr.encode(
                DomainAgentCommandArgs(dom, '{"execute":"guest-ping"}', 0, 0))),
            (4, MonitorEventRegisterArgs.xdr.encode(MonitorEventRegisterArgs(None, "STOP", 0))),
            (4, MonitorEventRegisterArgs.xdr.encode(MonitorEventRegisterArgs(None, ".*", 1))),
            (4, MonitorEventRegisterArgs.xdr.encode(MonitorEventRegisterArgs(dom, "(", 3))),
            (4, MonitorEventRegisterArgs.xdr.encode(MonitorEventRegisterArgs(None, None, 4))),
            (5, MonitorEventDeregisterArgs.xdr.encode(MonitorEventDeregisterArgs(0))),
        ]
        for proc, payload in calls:
            out.append((proc, await _call(client, QEMU, proc, payload)))
    return out


def test_qemu_read_only_refusals_match_libvirtd(testvirtd: Testvirtd,
                                                real_libvirtd: RealLibvirtd) -> None:
    theirs = anyio.run(_qemu_refusals, real_libvirtd)
    ours = anyio.run(_qemu_refusals, testvirtd)
    assert ours == theirs
    assert all(error[1][:2] in ((29, 0), (1, 7)) for error in theirs)


# ------------------------------------------------------------------------------ hostile XML

_HEAD = b"<domain type='test'><name>%s</name><memory>1024</memory><os><type>hvm</type></os>"


def _nested(levels: int, sep: bytes = b"") -> bytes:
    """A domain whose deepest element is *levels* deep (the root counts as 1)."""
    inner = levels - 1
    return _HEAD + (b"<b>" + sep) * inner + b"</b>" * inner + b"</domain>"


def _declared(encoding: bytes, body: bytes = b"</domain>") -> bytes:
    return b"<?xml version='1.0' encoding='" + encoding + b"'?>\n" + _HEAD + body


#: (label, document, refused by libvirtd): the document's %s is replaced by a unique name
HOSTILE_XML = [
    ("depth 257", _nested(257), False),
    ("depth 258", _nested(258), True),
    ("depth 2000", _nested(2000), True),
    ("depth 300, one per line", _nested(300, b"\n"), True),
    ("depth 260, second line", _HEAD + b"\n<c><d x='1'>" + b"<b>" * 260 + b"t" + b"</b>" * 260
     + b"</d></c></domain>", True),
    ("bad UTF-8 in text", _HEAD.replace(b"<name>", b"<name>\xff\xfe") + b"</domain>", True),
    ("bad UTF-8 in attribute", _HEAD.replace(b"'test'", b"'te\xc3st'") + b"</domain>", True),
    ("bad UTF-8 after a BOM", b"\xef\xbb\xbf" + _HEAD + b"<x>\xffabcdefg</x></domain>", True),
    ("surrogate", _HEAD + b"<x>\xed\xa0\x80abc</x></domain>", True),
    ("beyond U+10FFFF", _HEAD + b"<x>\xf4\x90\x80\x80abc</x></domain>", True),
    ("syntax error before bad UTF-8", _HEAD + b"<x></y>\xff</domain>", True),
    ("latin-1 declared, latin-1 bytes", _declared(b"ISO-8859-1", b"<x>\xe9</x></domain>"), True),
    ("EBCDIC", _declared(b"EBCDIC"), True),
    ("bogus encoding", _declared(b"bogus"), True),
    ("UTF-7", _declared(b"UTF-7"), False),
    ("UTF-16 declared", _declared(b"UTF-16"), False),
]


def _xstr(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data + bytes(-len(data) % 4)


async def _define_hostile(server: Endpoints) -> list[Any]:
    assert server.unix_path is not None
    out = []
    async with Client.unix(server.unix_path) as client:
        await client.call(REMOTE, 1, 1, rt.ConnectOpenArgs.xdr.encode(
            rt.ConnectOpenArgs("test:///default", 0)))
        for n, (label, doc, _refused) in enumerate(HOSTILE_XML):
            for proc, tail in ((11, b""), (10, bytes(4))):  # DEFINE_XML, CREATE_XML
                name = b"hostile%d_%d" % (n, proc)
                result = await _call(client, REMOTE, proc, _xstr(doc.replace(b"%s", name)) + tail)
                if result[0] == "ok":
                    dom = rt.DomainRet.xdr.decode(result[1]).dom
                    result = ("ok", dom.name)
                    undo = 35 if proc == 11 else 12  # UNDEFINE / DESTROY
                    await client.call(REMOTE, 1, undo, rt.DomainArgs.xdr.encode(
                        rt.DomainArgs(dom)))
                out.append((label, proc, result))
    return out


def test_hostile_xml_answered_as_libvirtd(testvirtd: Testvirtd,
                                          real_libvirtd: RealLibvirtd) -> None:
    theirs = anyio.run(_define_hostile, real_libvirtd)
    ours = anyio.run(_define_hostile, testvirtd)
    for mine, real in zip(ours, theirs, strict=True):
        assert mine == real  # a syntax error before bad bytes too: libxml2's words for it
    expected = {label: refused for label, _doc, refused in HOSTILE_XML}
    for label, _proc, result in theirs:
        assert (result[0] != "ok") == expected[label], label
        if expected[label]:
            assert result[:2] == (35, 20), label  # VIR_ERR_XML_DETAIL, from the domain driver
    # one log line per call refused for its bytes or depth (a plain syntax error is not
    # hostile), and never a traceback
    hostile = 2 * sum(refused for label, _doc, refused in HOSTILE_XML
                      if not label.startswith("syntax error"))
    deadline = time.monotonic() + 5
    while True:
        logged = [line for line in testvirtd.stderr if "refused domain_definition" in line]
        if len(logged) >= hostile or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(logged) == hostile
    assert not any("Traceback" in line for line in testvirtd.stderr)
