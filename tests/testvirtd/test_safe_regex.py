"""QEMU monitor event patterns matched in bounded time (PCRE's regular part on an NFA,
back-references, lookarounds, atomic groups and possessive quantifiers on a backtracking
matcher with a step budget), answering as GLib's g_regex (what libvirtd 9.0 compiles them
with) answers, compared with GLib itself; and a pattern that makes an unbounded backtracking
matcher run for minutes does not stall the daemon."""

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
         "a{b", "ab", "aab", "a\nb", "DOWN\n", "x]y", "a-b", "tab\there", "é", "Ab", "$", "^",
         "abab", "aa", "abcabc", "ABab", "a\r\nb", "a\rb", "STOPSTOP", "aaaa", "abba", "\x01",
         "a\x0bb", "a\u2028"]

PATTERNS = [
    "(", ")", "*a", "a**", "[a", "\\q", "(?", "a{", "a{2", "}", "{", "a{1}*", "a*{2}", "a{2,1}",
    "a{99999}", "^", "$", "^^", "$$", "DOWN$", "^STOP$", "ST|RE", "^(RE|ST)", "(?:ST|RE)SET",
    "(?<n>ST)", "(?P<n>ST)", "(?#note)STOP", "(?i)stop", "(?i:st)OP", "st(?i)op", "(?s).",
    "(?m)a$", "(?m)^b", "b$", "^b", "[A-Z]{2,}", "[^A-Z]", "[[:upper:]]{4}", "[[:^alpha:]]",
    "[[:foo:]]", "[z-a]", "[]a]", "[^]a]", "[a-]", "[-a]", "[\\d\\s]", "[\\]]", "[\\w-]",
    "[\\b]", "\\w+", "\\W", "\\d", "\\D", "\\s", "\\S{8}", "\\h", "\\bS", "P\\b", "\\BT",
    "\\AS", "N\\z", "N\\Z", "\\x53", "\\x{53}TOP", "\\QA*B\\E", "\\Qa*b", "\\E", "\\t", "\\e",
    "\\.", "\\-", "\\_", ".", ".*", "^.*$", "(.*)*", "((a))", "(a|)", "(|a)*", "a??", "a+?b",
    "a{1,}?", "x{0}", "é", "[é]", "BLOCK_JOB_.*", "^" + "(.*)" * 60 + "X$", "(?m)\\n^",
    "a$", "(?m)a$", "\\r$", "^..$", "\\N", "(?x) S T # a comment\n O", "(?x)a\\ b", "(?C1)S",
    # what needs backtracking
    "a*+", "a++b", "a?+a", "a{1,2}+a", "(?:a|b)*+", "[a-z]++$", "(\\d+)++$", "\\1", "(a)\\1",
    "(a)\\2", "\\2(a)", "(.)\\1", "^(.)(.).?\\2\\1$", "(?i)(a)\\1", "(a)(?i)\\1", "(?i:(a))\\1",
    "(\\w)\\1", "(.+)\\1", "^(.+)\\1$", "(a+?)\\1", "^(a+?)\\1$", "(?<n>.)\\k<n>",
    "(?P<n>.)(?P=n)", "(?'n'.)\\k'n'", "(?<n>.)\\k{n}", "(?<n>.)\\g{n}", "(.)\\g1", "(.)\\g{-1}",
    "(.)\\g-1", "(a)(b)\\g{-2}", "\\g{-2}(a)", "(?:(a)|b)*\\1", "(a|)*\\1b", "^(?:(a)|\\1b)*$",
    "(a)|\\1b", "(a*)*\\1", "((a)|b)+\\2", "((a)\\2)+", "(a\\1?){3}", "(a)\\10", "\\12", "[\\1]",
    "(?=S)T", "S(?!T)", "(?<=S)T", "(?<!S)T", "(?<=ST|R)O", "(?<=a|bc)d", "(?<=(a)\\1)a",
    "(?<=(.))\\1", "(?=(.))\\1", "(?!(.))\\1", "(?=(.)(.))\\2", "(?=.*O)(?=.*P)S", "(?!.*X)^S",
    "(?i)(?<=s)t", "(?<=\\bS)T", "(?<!^)T", "(?<=.{3})", "x(?<=a|b(c|d))", "(a)(?<=\\1)", "(?!)",
    "(?=)", "(?<=)", "(?<!)", "(?>)", "(?>a)", "(?>a|ab)b", "(?>a+)b", "(?>.*?)a", "(?>.*)S",
    "(?>(a))\\1", "(?=(a))?\\1", "((?=a))*a", "(?:a|(?=b))*b", "\\R", "a\\Rb", "\\R\\n", "S\\KT",
    "\\GS", "\\GT", "(?:(?=(\\w))\\1)+$",
    # compile errors of those
    "\\k<x>", "(?P=x)", "\\g{9}", "\\g", "\\k", "\\k<x", "(?P=x", "(?<n>a)(?<n>b)", "(?<1a>x)",
    "(?<", "(?P=", "\\c", "\\c\u20ac", "\\o", "\\o{", "\\o{8}", "\\u", "[\\R]", "[\\N]", "[\\k]",
    "(?<=a+)b", "(?<=a(b|cd))e", "(?<=a{2,3})", "(a)(?<=\\1+)", "(a+)(?<=\\1)",
    "ab(?<=a|bc(?<=d+))", "(?>a", "(?=a", "a(?!", "(?<=", "(?<=\\K)",
]

#: accepted by GLib, refused by testvirtd
REFUSED = ["(?R)", "(a)(?1)", "(a)(?(1)a|b)", "(?|a)", "(*ACCEPT)", "\\p{L}", "\\X", "\\C",
           "(?<n>a)(?P>n)", "(a)\\g<1>", "\\g+1(a)"]


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
def test_what_is_not_run_is_refused(pattern: str) -> None:
    glib = require_peer(_find_glib)
    assert not str(glib_answer(glib, pattern, False)).startswith("error")
    with pytest.raises(safe_regex.RegexError, match="not supported"):
        safe_regex.compile(pattern)


#: the slowest patterns found for each matcher (CPU time per search on this kind of machine,
#: budgets as they are: about 3 ms for the NFA, 2 ms for backtracking)
SLOW = [
    "^" + "(.*)" * 60 + "X$", "(a|aa)*c", "((a*)*)*b", "(.?){200}X", "(x+x+)+y", "(.*){600}X",
    "(?:.?){999}X", "[a-z]{1000}X", "(?:(?:a?){20}){30}X", "(a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p){60}X",
    "^" + "(.*)" * 60 + "\\1X$", "((a*)*)*\\2b", "(a|aa)*\\1c", "(?:(.*)*)*\\1X", "(?>(.*)*)*X",
    "(.*)(.*)(.*)(.*)(.*)\\5\\4\\3\\2\\1X", "(?=(.*)(.*)(.*)(.*)X)", "(?<=(.)\\1)" * 30 + "X",
    "(" * 60 + ".*" + ")\\1" * 60 + "X", "^(.?){200}\\1X", "(?!a)" * 200 + "X",
    "(?=" * 60 + "a" + ")" * 60 + "\\Rb",
]


@pytest.mark.parametrize("pattern", SLOW)
def test_bounded_time(pattern: str) -> None:
    compiled = safe_regex.compile(pattern)
    worst = 0.0
    for name in ("SHUTDOWN" * 4, "a" * 64, "x" * 64, "ab" * 32, "BLOCK_JOB_COMPLETED"):
        start = time.thread_time()
        compiled.search(name)
        worst = max(worst, time.thread_time() - start)
    assert worst < 0.05  # a margin of 15x for slower machines


def test_a_search_that_runs_out_of_steps_finds_nothing() -> None:
    # PCRE2 answers "no match" at its match limit, and so does g_regex_match: the same here,
    # even though this one would match given (much) more time
    compiled = safe_regex.compile("(x+x+)+\\1y|z")
    assert compiled.search("z")
    assert compiled.search("xxxxy")
    assert not compiled.search("x" * 30 + "z")


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
        got: list[tuple[int, str]] = []

        def on_event(_header: object, payload: bytes) -> None:
            msg = xdr.codec_for(MonitorEventMsg).decode(payload)
            got.append((msg.callback_id, msg.event))

        q.client.on_event(QEMU, 6, on_event)
        patterns = [
            "^" + "(.*)" * 60 + "X$",  # regular: the NFA
            "^" + "(.*)" * 60 + "\\1X$",  # a back-reference: backtracking, out of steps
            "(a|aa)*\\1c",
            "^(ST|RE)",
            "^(?>S|R)(?=[TE])(?!ESET)(\\w)\\w+(?<=[PE])$(?<!\\1\\1)",  # STOP and RESUME
        ]
        ids = []
        for pattern in patterns:
            ret = await q.call(4, MonitorEventRegisterArgs(None, pattern, 1),
                               MonitorEventRegisterRet, program=QEMU)
            ids.append(ret.callback_id)
        dom = await bystander.lookup()
        worst = 0.0
        for _ in range(3):
            await bystander.call(34, rt.DomainArgs(dom))  # suspend: STOP
            await bystander.call(28, rt.DomainArgs(dom))  # resume: RESUME
            start = time.perf_counter()
            await bystander.call(157, None, rt.UHyperRet)  # GET_LIB_VERSION
            worst = max(worst, time.perf_counter() - start)
        with anyio.fail_after(5):
            while len(got) < 12:
                await anyio.sleep(0.01)
        await bystander.call(157, None, rt.UHyperRet)
        # only the last two match them, each event reaching both in registration order
        assert got == [(cb, name) for name in ("STOP", "RESUME") for cb in ids[3:]] * 3
        assert worst < 0.5
        with pytest.raises(RPCError) as info:
            await q.call(4, MonitorEventRegisterArgs(None, "(a)(?1)", 1), program=QEMU)
        assert (info.value.code, info.value.domain) == (8, 0)
        assert str(info.value.message).startswith(
            "invalid argument: failed to compile regex '(a)(?1)': Error while compiling regular "
            "expression \u2018(a)(?1)\u2019 at char 3: recursion")
        with pytest.raises(RPCError) as info:
            await q.call(4, MonitorEventRegisterArgs(None, "(a)\\2", 1), program=QEMU)
        assert str(info.value.message) == (
            "invalid argument: failed to compile regex '(a)\\2': Error while compiling regular "
            "expression \u2018(a)\\2\u2019 at char 4: reference to non-existent subpattern")
