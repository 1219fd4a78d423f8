"""QEMU monitor event patterns: PCRE's regular part matched in bounded time, answering as
GLib's g_regex (what libvirtd 9.0 compiles them with) answers, compared with GLib itself; and
a pattern that makes a backtracking matcher run for minutes does not stall the daemon."""

from __future__ import annotations

import ctypes
import ctypes.util
import time

import anyio
import pytest

from daemons.testvirtd import remote_types as rt
from daemons.testvirtd import safe_regex
from daemons.testvirtd.qemu import (
    MonitorEventMsg,
    MonitorEventRegisterArgs,
    MonitorEventRegisterRet,
)
from netrpc import RPCError
from netrpc.core import xdr

from ..interop.peers import PeerMissing, require_peer
from ._support import QEMU, connect, running_daemon

#: what the monitor emits, and a few more names to tell patterns apart
NAMES = ["STOP", "RESUME", "RESET", "POWERDOWN", "SHUTDOWN", "BLOCK_JOB_COMPLETED", "", "a*b",
         "a{b", "ab", "aab", "a\nb", "DOWN\n", "x]y", "a-b", "tab\there", "é", "Ab", "$", "^"]

PATTERNS = [
    "(", ")", "*a", "a**", "[a", "\\q", "(?", "a{", "a{2", "}", "{", "a{1}*", "a*{2}", "a{2,1}",
    "a{99999}", "^", "$", "^^", "$$", "DOWN$", "^STOP$", "ST|RE", "^(RE|ST)", "(?:ST|RE)SET",
    "(?<n>ST)", "(?P<n>ST)", "(?#note)STOP", "(?i)stop", "(?i:st)OP", "st(?i)op", "(?s).",
    "(?m)a$", "(?m)^b", "b$", "^b", "[A-Z]{2,}", "[^A-Z]", "[[:upper:]]{4}", "[[:^alpha:]]",
    "[[:foo:]]", "[z-a]", "[]a]", "[^]a]", "[a-]", "[-a]", "[\\d\\s]", "[\\]]", "[\\w-]",
    "[\\b]", "\\w+", "\\W", "\\d", "\\D", "\\s", "\\S{8}", "\\h", "\\bS", "P\\b", "\\BT",
    "\\AS", "N\\z", "N\\Z", "\\x53", "\\x{53}TOP", "\\QA*B\\E", "\\Qa*b", "\\E", "\\t", "\\e",
    "\\.", "\\-", "\\_", ".", ".*", "^.*$", "(.*)*", "((a))", "(a|)", "(|a)*", "a??", "a+?b",
    "a{1,}?", "x{0}", "é", "[é]", "BLOCK_JOB_.*", "^" + "(.*)" * 60 + "X$",
]

#: not regular: refused by testvirtd, accepted by GLib
REFUSED = ["a*+", "\\1", "(a)\\1", "(?=S)T", "S(?!T)", "(?<=S)T", "(?>a)", "(?x)a b", "(?R)"]


class _GError(ctypes.Structure):
    _fields_ = [("domain", ctypes.c_uint32), ("code", ctypes.c_int), ("message", ctypes.c_char_p)]


def _find_glib() -> ctypes.CDLL:
    name = ctypes.util.find_library("glib-2.0")
    if name is None:
        raise PeerMissing("GLib (libglib-2.0) is not installed")
    glib = ctypes.CDLL(name)
    glib.g_regex_new.restype = ctypes.c_void_p
    glib.g_regex_new.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_void_p)]
    glib.g_regex_match.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                   ctypes.c_void_p]
    glib.g_regex_unref.argtypes = [ctypes.c_void_p]
    return glib


def glib_answer(glib: ctypes.CDLL, pattern: str, icase: bool) -> list[str] | str:
    """libvirtd's: g_regex_new(G_REGEX_OPTIMIZE [| G_REGEX_CASELESS]) then g_regex_match."""
    error = ctypes.c_void_p()
    flags = (1 << 13) | (1 if icase else 0)
    regex = glib.g_regex_new(pattern.encode(), flags, 0, ctypes.byref(error))
    if not regex:
        message = ctypes.cast(error, ctypes.POINTER(_GError)).contents.message
        return "error: " + message.decode()
    try:
        return [n for n in NAMES if glib.g_regex_match(regex, n.encode(), 0, None)]
    finally:
        glib.g_regex_unref(regex)


def our_answer(pattern: str, icase: bool) -> list[str] | str:
    try:
        compiled = safe_regex.compile(pattern, icase=icase)
    except safe_regex.RegexError as exc:
        return f"error: {exc}"
    return [n for n in NAMES if compiled.search(n)]


@pytest.mark.parametrize("icase", [False, True])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_answers_as_glib(pattern: str, icase: bool) -> None:
    glib = require_peer(_find_glib)
    assert our_answer(pattern, icase) == glib_answer(glib, pattern, icase)


@pytest.mark.parametrize("pattern", REFUSED)
def test_what_is_not_regular_is_refused(pattern: str) -> None:
    with pytest.raises(safe_regex.RegexError, match="not supported"):
        safe_regex.compile(pattern)


@pytest.mark.parametrize("pattern", [
    "^" + "(.*)" * 60 + "X$", "(a|aa)*c", "((a*)*)*b", "(.?){200}X", "(x+x+)+y",
])
def test_bounded_time(pattern: str) -> None:
    compiled = safe_regex.compile(pattern)
    start = time.perf_counter()
    for name in ("SHUTDOWN" * 4, "a" * 64, "x" * 64):
        compiled.search(name)
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("pattern", ["a" * (safe_regex.MAX_PATTERN + 1), "(" * 100 + ")" * 100,
                                     "(a{1000}){1000}", "[a-z]{65536}"])
def test_too_big(pattern: str) -> None:
    with pytest.raises(safe_regex.RegexError):
        safe_regex.compile(pattern)


@pytest.mark.anyio
async def test_a_hostile_pattern_does_not_stall_the_daemon() -> None:
    async with running_daemon() as daemon, connect(daemon, open=False) as q, \
            connect(daemon) as bystander:
        await q.call(66)
        await q.open("qemu:///system")
        got: list[str] = []
        q.client.on_event(QEMU, 6, lambda h, p: got.append(
            xdr.codec_for(MonitorEventMsg).decode(p).event))
        patterns = ["^" + "(.*)" * 60 + "X$", "(a|aa)*c", "^(ST|RE)"]
        for pattern in patterns:
            await q.call(4, MonitorEventRegisterArgs(None, pattern, 1), MonitorEventRegisterRet,
                         program=QEMU)
        dom = await bystander.lookup()
        worst = 0.0
        for _ in range(3):
            await bystander.call(34, rt.DomainArgs(dom))  # suspend: STOP
            await bystander.call(28, rt.DomainArgs(dom))  # resume: RESUME
            start = time.perf_counter()
            await bystander.call(157, None, rt.UHyperRet)  # GET_LIB_VERSION
            worst = max(worst, time.perf_counter() - start)
        with anyio.fail_after(5):
            while len(got) < 6:
                await anyio.sleep(0.01)
        assert got == ["STOP", "RESUME"] * 3  # only "^(ST|RE)" matches them
        assert worst < 0.5
        with pytest.raises(RPCError) as info:
            await q.call(4, MonitorEventRegisterArgs(None, "(a)\\1", 1), program=QEMU)
        assert (info.value.code, info.value.domain) == (8, 0)
        assert str(info.value.message).startswith(
            "invalid argument: failed to compile regex '(a)\\1': Error while compiling regular "
            "expression \u2018(a)\\1\u2019 at char 4: back references")
