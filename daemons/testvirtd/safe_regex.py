r"""Regular expressions from clients, matched in linear time.

libvirt 9.0 filters QEMU monitor events with a client's pattern compiled by GLib's
``g_regex_new`` (PCRE2) and tried with ``g_regex_match`` on each event name.  Python's ``re``
backtracks without limit (``'^' + '(.*)' * 60 + 'X$'`` froze the daemon for 18 s on one
event), so testvirtd compiles the pattern itself into a Thompson NFA and runs it as a set of
states, one step per character: a match costs at most (name length + 1) x (states), and the
states are bounded (:data:`MAX_STATES`), whatever the pattern.

The syntax is PCRE's regular part: literals, ``.``, classes ``[...]`` (ranges, escapes,
``[:alpha:]``), ``^ $ \A \z \Z \b \B``, ``| ( )``, ``(?: )``, named groups, ``(?i) (?s) (?m)``
(also scoped, ``(?i: )``), ``* + ? {n} {n,} {n,m}`` and their lazy forms (the same for a
yes/no search), ``\d \D \w \W \s \S \h \H``, ``\t \n \r \f \e \a \xhh \x{h..}``, ``\Q..\E``
and any other escaped non-alphanumeric character.  What is not regular -- back-references,
lookarounds, atomic groups, possessive quantifiers, recursion, conditionals -- is refused,
and so are patterns too big to bound: longer than :data:`MAX_PATTERN`, nested deeper than
:data:`MAX_NESTING` or with more than :data:`MAX_STATES` states once repetitions are
expanded.  Errors read as GLib's: "Error while compiling regular expression \u2018P\u2019 at char N:
REASON".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

__all__ = ("MAX_NESTING", "MAX_PATTERN", "MAX_STATES", "Pattern", "RegexError", "compile")

#: Longest pattern accepted (characters).
MAX_PATTERN: Final = 4096
#: Deepest nesting of groups.
MAX_NESTING: Final = 64
#: Most NFA states a pattern may expand to.
MAX_STATES: Final = 2000
_MAX_TREE_DEPTH: Final = 300
#: PCRE2's largest count in ``{n,m}``
_MAX_COUNT: Final = 65535

_CLASSES: Final[dict[str, Callable[[str], bool]]] = {
    "alpha": str.isalpha,
    "digit": lambda c: "0" <= c <= "9",
    "alnum": str.isalnum,
    "upper": lambda c: "A" <= c <= "Z",
    "lower": lambda c: "a" <= c <= "z",
    "space": lambda c: c in " \t\n\r\f\v",
    "blank": lambda c: c in " \t",
    "punct": lambda c: c.isascii() and c.isprintable() and not c.isalnum() and c != " ",
    "print": lambda c: c.isascii() and c.isprintable(),
    "graph": lambda c: c.isascii() and c.isprintable() and c != " ",
    "cntrl": lambda c: c.isascii() and not c.isprintable(),
    "xdigit": lambda c: c in "0123456789abcdefABCDEF",
    "word": lambda c: c == "_" or c.isalnum(),
    "ascii": str.isascii,
}
_WORD: Final = _CLASSES["word"]
_SPACE: Final = _CLASSES["space"]
#: single-character escapes and the class escapes (a class and whether it is negated)
_CHAR_ESCAPES: Final = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "e": "\x1b", "a": "\x07"}
_CLASS_ESCAPES: Final[dict[str, tuple[Callable[[str], bool], bool]]] = {
    "d": (_CLASSES["digit"], False), "D": (_CLASSES["digit"], True),
    "w": (_WORD, False), "W": (_WORD, True),
    "s": (_SPACE, False), "S": (_SPACE, True),
    "h": (_CLASSES["blank"], False), "H": (_CLASSES["blank"], True),
}
_ASSERT_ESCAPES: Final = {"b": "\\b", "B": "\\B", "A": "\\A", "z": "\\z", "Z": "\\Z"}


class RegexError(ValueError):
    """A pattern that does not compile (or that testvirtd will not run); the message reads
    as GLib's."""


class _Fail(Exception):
    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(reason)
        self.offset = offset
        self.reason = reason


# ------------------------------------------------------------------------------ syntax tree
# Nodes are tuples: ("char", predicate) | ("assert", kind) | ("cat", [nodes]) |
# ("alt", [nodes]) | ("rep", node, min, max or None)

_Node = tuple[object, ...]


@dataclass
class _Flags:
    icase: bool
    dotall: bool = False
    multiline: bool = False


class _Parser:
    def __init__(self, pattern: str, icase: bool) -> None:
        self.p = pattern
        self.i = 0
        self.depth = 0
        self.flags = _Flags(icase)

    def fail(self, reason: str, offset: int | None = None) -> _Fail:
        return _Fail(self.i if offset is None else offset, reason)

    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.p[j] if j < len(self.p) else ""

    def parse(self) -> _Node:
        node = self.alternation()
        if self.i < len(self.p):  # a ")" with no group open
            raise self.fail("missing terminating )")
        return node

    def alternation(self) -> _Node:
        saved = _Flags(self.flags.icase, self.flags.dotall, self.flags.multiline)
        branches = [self.branch()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.branch())
        self.flags = saved  # (?i) set inside a group ends with it
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def branch(self) -> _Node:
        items: list[_Node] = []
        while self.i < len(self.p) and self.peek() not in ("|", ")"):
            item = self.piece()
            if item is not None:
                items.append(item)
        return items[0] if len(items) == 1 else ("cat", items)

    def piece(self) -> _Node | None:
        start = self.i
        if self.quantifier() is not None:
            raise self.fail("nothing to repeat", start)
        atom = self.atom()
        if atom is None:
            return None
        while True:
            bounds = self.quantifier()
            if bounds is None:
                return atom
            if self.peek() == "+":
                raise self.fail("possessive quantifiers are not supported", self.i)
            if self.peek() == "?":
                self.i += 1  # lazy: the same answer for a yes/no search
            again = self.quantifier(probe=True)
            if again is not None:
                end = self.p.find("}", self.i) if self.peek() == "{" else self.i
                raise self.fail("nothing to repeat", end)
            atom = ("rep", atom, bounds[0], bounds[1])

    def quantifier(self, *, probe: bool = False) -> tuple[int, int | None] | None:
        """Read a quantifier at the current position (just look with *probe*)."""
        c = self.peek()
        if c in ("*", "+", "?"):
            if not probe:
                self.i += 1
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        if c != "{":
            return None
        end = self.p.find("}", self.i)
        if end < 0:
            return None
        lo_text, comma, hi_text = self.p[self.i + 1:end].partition(",")
        if not (lo_text.isascii() and lo_text.isdigit()) or not (
            hi_text == "" or (hi_text.isascii() and hi_text.isdigit())
        ):
            return None  # not a quantifier: "{" stands for itself
        lo = int(lo_text)
        hi = lo if not comma else (int(hi_text) if hi_text else None)
        if probe:
            return lo, hi
        if lo > _MAX_COUNT or (hi is not None and hi > _MAX_COUNT):
            raise self.fail("number too big in {} quantifier", end)
        if hi is not None and hi < lo:
            raise self.fail("numbers out of order in {} quantifier", end)
        self.i = end + 1
        return lo, hi

    def atom(self) -> _Node | None:
        c = self.p[self.i]
        self.i += 1
        if c == "(":
            return self.group()
        if c == ".":
            if self.flags.dotall:
                return ("char", lambda ch: True)
            return ("char", lambda ch: ch != "\n")
        if c == "^":
            return ("assert", "^m" if self.flags.multiline else "^")
        if c == "$":
            return ("assert", "$m" if self.flags.multiline else "$")
        if c == "[":
            return ("char", self.bracket())
        if c == "\\":
            return self.escape()
        return ("char", self.literal(c))

    def group(self) -> _Node | None:
        start = self.i - 1
        if self.peek() == "?":
            self.i += 1
            c = self.peek()
            if c == "#":  # a comment
                end = self.p.find(")", self.i)
                if end < 0:
                    raise self.fail("missing ) after (?# comment", len(self.p))
                self.i = end + 1
                return None
            if c == ":":
                self.i += 1
            elif (c == "P" and self.peek(1) == "<") or (c in ("<", "'") and self.peek(1) not in (
                "=", "!"
            )):
                close = ">" if c != "'" else "'"
                end = self.p.find(close, self.i + 1)
                if end < 0:
                    raise self.fail("syntax error in subpattern name (missing terminator?)")
                self.i = end + 1
            else:
                flags = self.inline_flags(start)
                if flags is None:  # "(?i)": the rest of the enclosing group
                    return None
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail("regular expression is too large")
        inner = self.alternation()
        if self.peek() != ")":
            raise self.fail("missing terminating )")
        self.i += 1
        self.depth -= 1
        return inner

    def inline_flags(self, start: int) -> bool | None:
        """``(?imsx-imsx)`` or ``(?imsx-imsx:``: True when a group follows, None if not."""
        on = True
        flags = self.flags
        while True:
            c = self.peek()
            if c == "-":
                on = False
            elif c == "i":
                flags.icase = on
            elif c == "s":
                flags.dotall = on
            elif c == "m":
                flags.multiline = on
            elif c == ")":
                self.i += 1
                return None
            elif c == ":":
                self.i += 1
                return True
            elif c == "":
                raise self.fail("missing terminating )")
            elif c == "x":
                raise self.fail("the x (extended) option is not supported", self.i)
            elif c in ("=", "!", "<", ">", "(", "R", "&", "|") or c.isdigit() or c in "+-":
                raise self.fail(
                    "lookarounds, atomic groups, recursion and conditionals are not supported",
                    start,
                )
            else:
                raise self.fail("unrecognized character after (? or (?-", self.i)
            self.i += 1

    def literal(self, c: str) -> Callable[[str], bool]:
        if self.flags.icase and c.lower() != c.upper():
            folded = c.lower()
            return lambda ch: ch.lower() == folded
        return c.__eq__

    def escape(self) -> _Node | None:
        if self.i >= len(self.p):
            raise self.fail("\\ at end of pattern")
        c = self.p[self.i]
        self.i += 1
        if c in _CLASS_ESCAPES:
            test, negated = _CLASS_ESCAPES[c]
            return ("char", (lambda ch: not test(ch)) if negated else test)
        if c in _ASSERT_ESCAPES:
            return ("assert", _ASSERT_ESCAPES[c])
        if c == "Q":
            end = self.p.find("\\E", self.i)
            end = len(self.p) if end < 0 else end
            text = self.p[self.i:end]
            self.i = min(len(self.p), end + 2)
            return ("cat", [("char", self.literal(ch)) for ch in text]) if text else None
        if c == "E":
            return None
        value = self.char_escape(c)
        return ("char", self.literal(value))

    def char_escape(self, c: str) -> str:
        """The character a one-character escape (or ``\\x``...) stands for."""
        if c in _CHAR_ESCAPES:
            return _CHAR_ESCAPES[c]
        if c == "x":
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                digits = self.p[self.i + 1:end] if end > 0 else ""
                if not digits or any(d not in "0123456789abcdefABCDEF" for d in digits):
                    raise self.fail("missing terminating } or invalid hexadecimal")
                self.i = end + 1
            else:
                digits = ""
                while len(digits) < 2 and self.peek() and self.peek() in "0123456789abcdefABCDEF":
                    digits += self.peek()
                    self.i += 1
            value = int(digits or "0", 16)
            if value > 0x10FFFF:
                raise self.fail("character code point value in \\x{} or \\o{} is too large")
            return chr(value)
        if c == "0":
            return "\0"
        if c.isdigit() or c in "gkKRXCNpPuUlLcoG":
            raise self.fail(
                "back references and other escapes that are not regular are not supported",
                self.i - 1,
            )
        if c.isascii() and c.isalnum():
            raise self.fail("unrecognized character following \\", self.i - 1)
        return c

    def bracket(self) -> Callable[[str], bool]:
        p = self.p
        negate = self.peek() == "^"
        if negate:
            self.i += 1
        tests: list[Callable[[str], bool]] = []
        chars: set[str] = set()
        ranges: list[tuple[str, str]] = []
        first = True
        while True:
            if self.i >= len(p):
                raise self.fail("missing terminating ] for character class")
            if p[self.i] == "]" and not first:
                self.i += 1
                break
            first = False
            start = self.member()
            if isinstance(start, str) and self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                end = self.member()
                if not isinstance(end, str):
                    raise self.fail("invalid range in character class")
                if end < start:
                    raise self.fail("range out of order in character class", self.i - 1)
                ranges.append((start, end))
            elif isinstance(start, str):
                chars.add(start)
            else:
                tests.append(start)

        def listed(ch: str) -> bool:
            return ch in chars or any(lo <= ch <= hi for lo, hi in ranges)

        def test(ch: str) -> bool:
            # case folding applies to the characters and ranges, not to the classes
            if listed(ch) or any(t(ch) for t in tests):
                return True
            return icase and (listed(ch.lower()) or listed(ch.upper()))

        icase = self.flags.icase
        return (lambda ch: not test(ch)) if negate else test

    def member(self) -> str | Callable[[str], bool]:
        """One member of a character class: a character, or a test for a class of them."""
        p = self.p
        if p.startswith("[:", self.i):
            end = p.find(":]", self.i + 2)
            if end >= 0:
                name = p[self.i + 2:end]
                negated = name.startswith("^")
                found = _CLASSES.get(name.lstrip("^"))
                if found is None:
                    raise self.fail("unknown POSIX class name", self.i + 2)
                self.i = end + 2
                posix: Callable[[str], bool] = found
                return (lambda ch: not posix(ch)) if negated else posix
        c = p[self.i]
        self.i += 1
        if c != "\\":
            return c
        if self.i >= len(p):
            raise self.fail("\\ at end of pattern")
        e = p[self.i]
        self.i += 1
        if e in _CLASS_ESCAPES:
            test, negated = _CLASS_ESCAPES[e]
            return (lambda ch: not test(ch)) if negated else test
        if e == "b":
            return "\b"
        return self.char_escape(e)


# ------------------------------------------------------------------------------ the NFA

_CHAR, _SPLIT, _ASSERT, _MATCH = 0, 1, 2, 3


class _Builder:
    """Thompson construction: each state is (kind, arg, out1, out2)."""

    def __init__(self) -> None:
        self.kind: list[int] = []
        self.arg: list[object] = []
        self.out1: list[int] = []
        self.out2: list[int] = []

    def new(self, kind: int, arg: object = None, out1: int = -1, out2: int = -1) -> int:
        if len(self.kind) >= MAX_STATES:
            raise _Fail(0, "regular expression is too large")
        self.kind.append(kind)
        self.arg.append(arg)
        self.out1.append(out1)
        self.out2.append(out2)
        return len(self.kind) - 1

    def emit(self, node: _Node, nxt: int) -> int:
        """States for *node* continuing to state *nxt*; returns its entry state."""
        tag = node[0]
        if tag == "char":
            return self.new(_CHAR, node[1], nxt)
        if tag == "assert":
            return self.new(_ASSERT, node[1], nxt)
        if tag == "cat":
            items = node[1]
            assert isinstance(items, list)
            for item in reversed(items):
                nxt = self.emit(item, nxt)
            return nxt
        if tag == "alt":
            branches = node[1]
            assert isinstance(branches, list)
            entries = [self.emit(b, nxt) for b in branches]
            entry = entries[-1]
            for other in reversed(entries[:-1]):
                entry = self.new(_SPLIT, None, other, entry)
            return entry
        _, sub, lo, hi = node
        assert isinstance(sub, tuple)
        assert isinstance(lo, int)
        if hi is None:  # sub{lo,}: lo copies, then a loop
            loop = self.new(_SPLIT, None, -1, nxt)
            self.out1[loop] = self.emit(sub, loop)
            entry = loop
            count = lo
        else:
            assert isinstance(hi, int)
            entry = nxt
            for _ in range(hi - lo):  # optional copies
                entry = self.new(_SPLIT, None, self.emit(sub, entry), nxt)
            count = lo
        for _ in range(count):
            entry = self.emit(sub, entry)
        return entry


def _assert_holds(kind: object, text: str, i: int) -> bool:
    n = len(text)
    if kind in ("^", "\\A"):
        return i == 0
    if kind == "\\z":
        return i == n
    if kind in ("$", "\\Z"):  # the end, or just before a final newline
        return i == n or (i == n - 1 and text[i] == "\n")
    if kind == "^m":
        return i == 0 or text[i - 1] == "\n"
    if kind == "$m":
        return i == n or text[i] == "\n"
    word_before = i > 0 and _WORD(text[i - 1])
    word_after = i < n and _WORD(text[i])
    if kind == "\\b":
        return word_before != word_after
    return word_before == word_after  # "\\B"


@dataclass(frozen=True, eq=False)
class Pattern:
    """A compiled pattern; :meth:`search` answers as ``g_regex_match``."""

    source: str
    _kind: list[int]
    _arg: list[object]
    _out1: list[int]
    _out2: list[int]
    _start: int

    def _close(self, states: set[int], state: int, text: str, i: int) -> None:
        """Add *state* and what it reaches without reading a character."""
        kind, arg, out1, out2 = self._kind, self._arg, self._out1, self._out2
        stack = [state]
        while stack:
            s = stack.pop()
            if s in states:
                continue
            states.add(s)
            k = kind[s]
            if k == _SPLIT:
                stack.append(out2[s])
                stack.append(out1[s])
            elif k == _ASSERT and _assert_holds(arg[s], text, i):
                stack.append(out1[s])

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in *text*."""
        kind, arg, out1 = self._kind, self._arg, self._out1
        current: set[int] = set()
        for i in range(len(text) + 1):
            self._close(current, self._start, text, i)  # a match may start here too
            if any(kind[s] == _MATCH for s in current):
                return True
            if i == len(text):
                return False
            c = text[i]
            following: set[int] = set()
            for s in current:
                if kind[s] == _CHAR and arg[s](c):  # type: ignore[operator]
                    self._close(following, out1[s], text, i + 1)
            current = following
        return False


def _depth(tree: _Node) -> int:
    """How deep *tree* nests (without recursing)."""
    deepest = 0
    stack: list[tuple[_Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if node[0] in ("cat", "alt"):
            children = node[1]
            assert isinstance(children, list)
            stack.extend((child, depth + 1) for child in children)
        elif node[0] == "rep":
            child = node[1]
            assert isinstance(child, tuple)
            stack.append((child, depth + 1))
    return deepest


def compile(pattern: str, *, icase: bool = False) -> Pattern:
    """Compile *pattern* (with ``G_REGEX_CASELESS`` when *icase*).

    :raises RegexError: when it does not compile, or is not regular or too big to match in
        bounded time; the message reads as GLib's.
    """
    try:
        if len(pattern) > MAX_PATTERN:
            raise _Fail(MAX_PATTERN, "regular expression is too large")
        tree = _Parser(pattern, icase).parse()
        if _depth(tree) > _MAX_TREE_DEPTH:  # the NFA is built recursively
            raise _Fail(len(pattern), "regular expression is too large")
        builder = _Builder()
        final = builder.new(_MATCH)
        start = builder.emit(tree, final)
    except _Fail as exc:
        raise RegexError(
            f"Error while compiling regular expression \u2018{pattern}\u2019 at char "
            f"{exc.offset}: {exc.reason}"
        ) from None
    return Pattern(pattern, builder.kind, builder.arg, builder.out1, builder.out2, start)
