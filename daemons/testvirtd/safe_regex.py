r"""Regular expressions from clients, matched in bounded time.

libvirt 9.0 filters QEMU monitor events with a client's pattern compiled by GLib's
``g_regex_new`` (PCRE2) and tried with ``g_regex_match`` on each event name.  Python's ``re``
backtracks without limit (``'^' + '(.*)' * 60 + 'X$'`` froze the daemon for 18 s on one
event), so testvirtd compiles the pattern itself, into one of two matchers:

* a regular pattern (literals, ``.``, classes, anchors, alternation, groups, quantifiers) becomes
  a Thompson NFA run as a set of states, one step per character: a match costs at most
  (name length + 1) x (states), and the states are bounded (:data:`MAX_STATES`);
* a pattern that needs backtracking -- back-references (``\1 \g{-1} \k<name> (?P=name)``),
  lookarounds (``(?= ) (?! ) (?<= ) (?<! )``, fixed-length behind, as PCRE2 10.42), atomic
  groups ``(?> )`` and possessive quantifiers (``a*+``) -- runs on a backtracking machine that
  counts its steps and gives up after :data:`MAX_STEPS`.  PCRE2 does the same at its match
  limit, and ``g_regex_match`` then reports no match; testvirtd's limit is far smaller (a few
  milliseconds of work), which only matters for patterns that would keep PCRE2 busy too.

The syntax is PCRE's: also ``(?: )``, named groups, ``(?i) (?s) (?m) (?x)`` (also scoped,
``(?i: )``), callouts (ignored), lazy quantifiers, ``\d \D \w \W \s \S \h \H \N \R``, ``\t \n
\r \f \e \a \cX \xhh \x{h..} \o{o..}``, octal escapes, ``\Q..\E``, ``\A \z \Z \G \b \B \K``
and any other escaped non-alphanumeric character; newlines are PCRE2's "any" (what GLib
sets).  Recursion, subroutine calls, conditionals, branch reset groups, ``\C``, ``\X``,
``\p`` and ``(*VERB)``s are refused, and so are patterns too big to bound: longer than
:data:`MAX_PATTERN`, nested deeper than :data:`MAX_NESTING` or with more than
:data:`MAX_STATES` states once repetitions are expanded.  Errors read as GLib's:
"Error while compiling regular expression \u2018P\u2019 at char N: REASON".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

__all__ = (
    "MAX_NESTING", "MAX_NFA_STEPS", "MAX_PATTERN", "MAX_STATES", "MAX_STEPS", "Pattern",
    "RegexError", "compile",
)

#: Longest pattern accepted (characters).
MAX_PATTERN: Final = 4096
#: Deepest nesting of groups.
MAX_NESTING: Final = 64
#: Most NFA states (or backtracking instructions) a pattern may expand to.
MAX_STATES: Final = 2000
#: Steps the backtracking matcher takes on one subject before it answers "no match" (PCRE2's
#: match limit, scaled down so that one event name costs a few milliseconds at most).
MAX_STEPS: Final = 5000
#: The same for the NFA (states visited): only huge patterns on long names get near it.
MAX_NFA_STEPS: Final = 8000
_MAX_TREE_DEPTH: Final = 300
#: PCRE2's largest count in ``{n,m}``
_MAX_COUNT: Final = 65535
_NOT_SUPPORTED: Final = (
    "recursion, subroutine calls, conditionals and backtracking verbs are not supported"
)

_CLASSES: Final[dict[str, Callable[[str], bool]]] = {
    "alpha": str.isalpha,
    "digit": lambda c: "0" <= c <= "9",
    "alnum": str.isalnum,
    "upper": lambda c: "A" <= c <= "Z",
    "lower": lambda c: "a" <= c <= "z",
    # GLib compiles with PCRE2_UCP: Unicode white space too
    "space": lambda c: c in " \t\n\r\f\v" or (not c.isascii() and c.isspace()),
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
_OCTAL: Final = "01234567"
_HEX: Final = "0123456789abcdefABCDEF"
#: GLib compiles with PCRE2_NEWLINE_ANY: each of these ends a line ("\r\n" as one), for
#: ``. \N $ ^`` (multiline) and ``\R``
_NEWLINES: Final = "\n\x0b\f\r\x85\u2028\u2029"
#: single-character escapes and the class escapes (a class and whether it is negated)
_CHAR_ESCAPES: Final = {"t": "\t", "n": "\n", "r": "\r", "f": "\f", "e": "\x1b", "a": "\x07"}
_CLASS_ESCAPES: Final[dict[str, tuple[Callable[[str], bool], bool]]] = {
    "d": (_CLASSES["digit"], False), "D": (_CLASSES["digit"], True),
    "w": (_WORD, False), "W": (_WORD, True),
    "s": (_SPACE, False), "S": (_SPACE, True),
    "h": (_CLASSES["blank"], False), "H": (_CLASSES["blank"], True),
}
#: \G asserts the start offset, which is always 0 for g_regex_match
_ASSERT_ESCAPES: Final = {"b": "\\b", "B": "\\B", "A": "\\A", "G": "\\A", "z": "\\z", "Z": "\\Z"}


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
# ("alt", [nodes]) | ("rep", node, min, max or None, lazy) | ("group", number, node) |
# ("backref", number or name, icase) | ("look", behind, negated, node) | ("atomic", node)

_Node = tuple[object, ...]


@dataclass
class _Flags:
    icase: bool
    dotall: bool = False
    multiline: bool = False
    extended: bool = False


class _Parser:
    def __init__(self, pattern: str, icase: bool) -> None:
        self.p = pattern
        self.i = 0
        self.depth = 0
        self.flags = _Flags(icase)
        #: capture groups opened so far, their names, and what each one holds once closed
        self.groups = 0
        self.names: dict[str, int] = {}
        self.bodies: dict[int, _Node] = {}
        #: back-references (a number or a name, and where to blame a missing group)
        self.refs: list[tuple[int | str, int]] = []
        #: lookbehinds to check for a fixed length once every group is known
        self.behinds: list[tuple[_Node, int]] = []
        #: whether anything needs the backtracking matcher
        self.irregular = False
        self.looks = 0
        self.keep_in_look = False

    def fail(self, reason: str, offset: int | None = None) -> _Fail:
        return _Fail(self.i if offset is None else offset, reason)

    def peek(self, ahead: int = 0) -> str:
        j = self.i + ahead
        return self.p[j] if j < len(self.p) else ""

    def parse(self) -> _Node:
        node = self.alternation()
        if self.i < len(self.p):  # a ")" with no group open
            raise self.fail("missing terminating )")
        for key, offset in self.refs:
            if (self.names.get(key) if isinstance(key, str) else key) is None or (
                isinstance(key, int) and not 0 < key <= self.groups
            ):
                raise self.fail("reference to non-existent subpattern", offset)
        for behind, offset in self.behinds:
            branches = behind[1] if behind[0] == "alt" else [behind]
            assert isinstance(branches, list)
            if any(self.length(b, set()) is None for b in branches):
                raise self.fail("lookbehind assertion is not fixed length", offset)
        return node

    def length(self, node: _Node, open_refs: set[int]) -> int | None:
        """How many characters *node* always matches (None: it varies)."""
        tag = node[0]
        if tag == "char":
            return 1
        if tag in ("assert", "look"):
            return 0
        if tag in ("cat", "alt"):
            children = node[1]
            assert isinstance(children, list)
            sizes = [self.length(child, open_refs) for child in children]
            if any(size is None for size in sizes):
                return None
            if tag == "cat":
                return sum(s for s in sizes if s is not None)
            return sizes[0] if len(set(sizes)) == 1 else None
        if tag == "rep":
            _, sub, lo, hi, _lazy = node
            assert isinstance(sub, tuple)
            size = self.length(sub, open_refs)
            return None if size is None or lo != hi or not isinstance(lo, int) else size * lo
        if tag == "atomic":
            sub = node[1]
            assert isinstance(sub, tuple)
            return self.length(sub, open_refs)
        if tag == "group":
            sub = node[2]
            assert isinstance(sub, tuple)
            return self.length(sub, open_refs)
        # a back-reference: as long as its group, when that is fixed
        key = node[1]
        number = self.names.get(key) if isinstance(key, str) else key
        if not isinstance(number, int) or number in open_refs or number not in self.bodies:
            return None
        return self.length(self.bodies[number], open_refs | {number})

    def alternation(self) -> _Node:
        saved = _Flags(self.flags.icase, self.flags.dotall, self.flags.multiline,
                       self.flags.extended)
        branches = [self.branch()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.branch())
        self.flags = saved  # (?i) set inside a group ends with it
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def branch(self) -> _Node:
        items: list[_Node] = []
        while True:
            self.skip_space()
            if self.i >= len(self.p) or self.peek() in ("|", ")"):
                break
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
            self.skip_space()
            bounds = self.quantifier()
            if bounds is None:
                return atom
            lazy = possessive = False
            if self.peek() == "+":
                self.i += 1
                possessive = True
            elif self.peek() == "?":
                self.i += 1
                lazy = True
            again = self.quantifier(probe=True)
            if again is not None:
                end = self.p.find("}", self.i) if self.peek() == "{" else self.i
                raise self.fail("nothing to repeat", end)
            atom = ("rep", atom, bounds[0], bounds[1], lazy)
            if possessive:  # a*+ is (?>a*)
                self.irregular = True
                atom = ("atomic", atom)

    def skip_space(self) -> None:
        """With the x option, white space and ``#`` comments between items say nothing."""
        while self.flags.extended:
            c = self.peek()
            if c and c in " \t\n\x0b\f\r":
                self.i += 1
            elif c == "#":
                while self.peek() and self.peek() not in _NEWLINES:
                    self.i += 1
            else:
                return

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
            return ("char", lambda ch: ch not in _NEWLINES)
        if c == "^":
            return ("assert", "^m" if self.flags.multiline else "^")
        if c == "$":
            return ("assert", "$m" if self.flags.multiline else "$")
        if c == "[":
            return ("char", self.bracket())
        if c == "\\":
            return self.escape()
        return ("char", self.literal(c))

    def name(self, close: str) -> tuple[str, int]:
        """A group name ending with *close*, read from the current position: (name, start)."""
        start = self.i
        while self.peek() and (self.peek() == "_" or self.peek().isalnum()):
            self.i += 1
        name = self.p[start:self.i]
        if self.peek() != close:
            if not name:
                raise self.fail("missing subpattern name after (?&")
            raise self.fail("missing terminator in subpattern name")
        if not name:
            raise self.fail("missing subpattern name after (?&")
        self.i += 1
        return name, start

    def group(self) -> _Node | None:
        start = self.i - 1
        kind = "capture"
        name = None
        if self.peek() == "*":
            raise self.fail(_NOT_SUPPORTED, start)
        if self.peek() == "?":
            self.i += 1
            c, after = self.peek(), self.peek(1)
            if c == "#":  # a comment
                end = self.p.find(")", self.i)
                if end < 0:
                    raise self.fail("missing ) after (?# comment", len(self.p))
                self.i = end + 1
                return None
            if c == "C":  # a callout: nothing to call here
                end = self.p.find(")", self.i)
                if end < 0:
                    raise self.fail("missing terminating )", len(self.p))
                self.i = end + 1
                return None
            if c == ":":
                self.i += 1
                kind = "plain"
            elif c in ("=", "!") or (c == "<" and after in ("=", "!")):
                behind = c == "<"
                self.i += 2 if behind else 1
                negated = self.p[self.i - 1] == "!"
                kind = ("behind" if behind else "ahead") + ("!" if negated else "=")
            elif c == ">":
                self.i += 1
                kind = "atomic"
            elif c == "P" and after == "=":
                self.i += 2
                key, offset = self.name(")")
                self.refs.append((key, offset))
                self.irregular = True
                return ("backref", key, self.flags.icase)
            elif (c == "P" and after == "<") or c in ("<", "'"):
                self.i += 2 if c == "P" else 1
                if self.peek().isdigit():
                    raise self.fail("subpattern name must start with a non-digit")
                name, _ = self.name(">" if c != "'" else "'")
                if name in self.names:
                    raise self.fail("two named subpatterns have the same name")
            else:
                flags = self.inline_flags(start)
                if flags is None:  # "(?i)": the rest of the enclosing group
                    return None
                kind = "plain"
        number = 0
        if kind == "capture":
            self.groups += 1
            number = self.groups
            if name is not None:
                self.names[name] = number
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.fail("regular expression is too large")
        looking = kind.startswith(("ahead", "behind"))
        self.looks += looking
        inner = self.alternation()
        if self.peek() != ")":
            raise self.fail("missing terminating )")
        self.i += 1
        self.depth -= 1
        self.looks -= looking
        if looking and self.keep_in_look:
            raise self.fail(
                "\\K is not allowed in lookarounds (but see PCRE2_EXTRA_ALLOW_LOOKAROUND_BSK)"
            )
        if kind == "capture":
            self.bodies[number] = inner
            return ("group", number, inner)
        if kind == "atomic":
            self.irregular = True
            return ("atomic", inner)
        if looking:
            self.irregular = True
            if kind.startswith("behind"):
                self.behinds.append((inner, start))
            return ("look", kind.startswith("behind"), kind.endswith("!"), inner)
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
                flags.extended = on
            elif c in ("(", "R", "&", "|", "+") or c.isdigit() or c == "P":
                raise self.fail(_NOT_SUPPORTED, start)
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
        if c == "K":  # resets the reported start of the match: nothing for a yes/no answer
            self.keep_in_look = self.keep_in_look or self.looks > 0
            return None
        if c == "N" and self.peek() != "{":
            return ("char", lambda ch: ch not in _NEWLINES)
        if c == "R":  # (?>\r\n|[newlines])
            self.irregular = True
            return ("atomic", ("alt", [
                ("cat", [("char", "\r".__eq__), ("char", "\n".__eq__)]),
                ("char", lambda ch: ch in _NEWLINES),
            ]))
        if c in "123456789":
            return self.numbered_reference(c)
        if c == "g":
            return self.g_reference()
        if c == "k":
            close = {"<": ">", "'": "'", "{": "}"}.get(self.peek())
            if close is None:
                raise self.fail(
                    "\\k is not followed by a braced, angle-bracketed, or quoted name"
                )
            self.i += 1
            key, offset = self.name(close)
            return self.reference(key, offset)
        value = self.char_escape(c)
        return ("char", self.literal(value))

    def reference(self, key: int | str, offset: int) -> _Node:
        self.refs.append((key, offset))
        self.irregular = True
        return ("backref", key, self.flags.icase)

    def numbered_reference(self, first: str) -> _Node:
        """``\\N``: a back-reference, or an octal character (PCRE's rules)."""
        start = self.i - 1
        while self.peek().isascii() and self.peek().isdigit():
            self.i += 1
        number = int(self.p[start:self.i])
        if number < 10 or first in "89" or number <= self.groups:
            return self.reference(number, self.i - 1)
        self.i = start
        return ("char", self.literal(self.octal(3)))

    def g_reference(self) -> _Node:
        r"""``\g{N}``, ``\g{-N}``, ``\gN``, ``\g-N``, ``\g{name}`` (``\g<..>`` calls a group)."""
        braced = self.peek() == "{"
        brace = self.i
        if self.peek() in ("<", "'"):
            raise self.fail(_NOT_SUPPORTED, self.i - 2)
        if braced:
            end = self.p.find("}", self.i)
            text = self.p[self.i + 1:end] if end > 0 else ""
            if not text:
                raise self.fail("\\g is not followed by a braced, angle-bracketed, or quoted "
                                "name or number, or by a plain number")
            self.i = end + 1
        else:
            j = self.i + (self.peek() in ("-", "+"))
            while j < len(self.p) and self.p[j].isascii() and self.p[j].isdigit():
                j += 1
            text = self.p[self.i:j]
            if not text.lstrip("+-"):
                raise self.fail("\\g is not followed by a braced, angle-bracketed, or quoted "
                                "name or number, or by a plain number")
            self.i = j
        if text.startswith("+"):
            raise self.fail(_NOT_SUPPORTED, self.i)
        if text.startswith("-") and text[1:].isascii() and text[1:].isdigit():
            number = self.groups - int(text[1:]) + 1
            if number <= 0:
                raise self.fail("reference to non-existent subpattern", brace if braced else None)
            return self.reference(number, self.i - 1)
        if text.isascii() and text.isdigit():
            return self.reference(int(text), self.i - 1)
        return self.reference(text, brace + 1)

    def octal(self, most: int) -> str:
        """Up to *most* octal digits from the current position, as a character."""
        digits = ""
        while len(digits) < most and self.peek() and self.peek() in _OCTAL:
            digits += self.peek()
            self.i += 1
        return chr(int(digits or "0", 8))

    def char_escape(self, c: str) -> str:
        """The character a one-character escape (or ``\\x``...) stands for."""
        if c in _CHAR_ESCAPES:
            return _CHAR_ESCAPES[c]
        if c in ("x", "o"):
            base = 16 if c == "x" else 8
            valid = _HEX if c == "x" else _OCTAL
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                digits = self.p[self.i + 1:end] if end > 0 else ""
                if c == "o" and not digits:
                    raise self.fail("digits missing in \\x{} or \\o{} or \\N{U+}", self.i + 1)
                if not digits or any(d not in valid for d in digits):
                    if c == "o":
                        raise self.fail("non-octal character in \\o{} (closing brace missing?)",
                                        self.i + 1)
                    raise self.fail("missing terminating } or invalid hexadecimal")
                self.i = end + 1
            elif c == "o":
                raise self.fail("missing opening brace after \\o", self.i - 1)
            else:
                digits = ""
                while len(digits) < 2 and self.peek() and self.peek() in valid:
                    digits += self.peek()
                    self.i += 1
            value = int(digits or "0", base)
            if value > 0x10FFFF:
                raise self.fail("character code point value in \\x{} or \\o{} is too large")
            return chr(value)
        if c == "0":
            return self.octal(2)
        if c == "c":
            if self.i >= len(self.p):
                raise self.fail("\\c at end of pattern")
            control = self.p[self.i]
            if not control.isascii():
                raise self.fail("\\c must be followed by an ASCII character")
            self.i += 1
            return chr(ord(control.upper()) ^ 0x40)
        if c in "uUlL":
            raise self.fail("unrecognized character following \\")
        if c.isdigit() or c in "gkKRXCNpPG":
            raise self.fail(
                "escapes that match Unicode properties, graphemes or single bytes are not "
                "supported", self.i - 1,
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
        answers: dict[str, bool] = {}

        def remembered(ch: str) -> bool:
            # a class is tested once per character it meets, not once per state and position
            found = answers.get(ch)
            if found is None:
                found = test(ch) != negate
                if len(answers) < 256:
                    answers[ch] = found
            return found

        return remembered

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
        if e in _OCTAL:  # no back-references in a class: octal
            self.i -= 1
            return self.octal(3)
        if e == "N":
            raise self.fail("\\N is not supported in a class")
        if e in "RXkBK":
            raise self.fail("invalid escape sequence in character class", self.i - 1)
        if e == "g":
            return "g"
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
        if tag == "group":
            sub = node[2]
            assert isinstance(sub, tuple)
            return self.emit(sub, nxt)
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
        # ("rep", ...): lazy or greedy gives the same yes/no answer without backtracking
        _, sub, lo, hi, _lazy = node
        assert isinstance(sub, tuple)
        assert isinstance(lo, int)
        if hi is None:  # sub{lo,}: lo copies, then a loop
            loop = self.new(_SPLIT, None, -1, nxt)
            self.out1[loop] = self.emit(sub, loop)
            entry = loop
        else:
            assert isinstance(hi, int)
            entry = nxt
            for _ in range(hi - lo):  # optional copies
                entry = self.new(_SPLIT, None, self.emit(sub, entry), nxt)
        for _ in range(lo):
            entry = self.emit(sub, entry)
        return entry


def _assert_holds(kind: object, text: str, i: int) -> bool:
    n = len(text)
    if kind in ("^", "\\A"):
        return i == 0
    if kind == "\\z":
        return i == n
    if kind in ("$", "\\Z"):  # the end, or just before a final newline
        return i == n or (i == n - 1 and text[i] in _NEWLINES) or text[i:] == "\r\n"
    if kind == "^m":  # (not after a newline that ends the subject)
        return i == 0 or (i < n and text[i - 1] in _NEWLINES)
    if kind == "$m":
        return i == n or text[i] in _NEWLINES
    word_before = i > 0 and _WORD(text[i - 1])
    word_after = i < n and _WORD(text[i])
    if kind == "\\b":
        return word_before != word_after
    return word_before == word_after  # "\\B"


class Pattern:
    """A compiled pattern; :meth:`search` answers as ``g_regex_match``."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in *text*."""
        raise NotImplementedError


class _NFAPattern(Pattern):
    """A regular pattern, run as a set of NFA states (linear in the subject)."""

    __slots__ = ("_arg", "_kind", "_out1", "_out2", "_start")

    def __init__(self, source: str, builder: _Builder, start: int) -> None:
        super().__init__(source)
        self._kind = builder.kind
        self._arg = builder.arg
        self._out1 = builder.out1
        self._out2 = builder.out2
        self._start = start

    def _close(self, states: set[int], state: int, text: str, i: int, steps: int) -> int:
        """Add *state* and what it reaches without reading a character; the steps left."""
        kind, arg, out1, out2 = self._kind, self._arg, self._out1, self._out2
        stack = [state]
        while stack:
            s = stack.pop()
            if s in states:
                continue
            steps -= 1
            states.add(s)
            k = kind[s]
            if k == _SPLIT:
                stack.append(out2[s])
                stack.append(out1[s])
            elif k == _ASSERT and _assert_holds(arg[s], text, i):
                stack.append(out1[s])
        return steps

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in *text* (no match if that takes more than
        :data:`MAX_NFA_STEPS`)."""
        kind, arg, out1 = self._kind, self._arg, self._out1
        current: set[int] = set()
        steps = MAX_NFA_STEPS
        for i in range(len(text) + 1):
            steps = self._close(current, self._start, text, i, steps)  # a match may start here
            if any(kind[s] == _MATCH for s in current):
                return True
            if i == len(text) or steps < 0:
                return False
            c = text[i]
            following: set[int] = set()
            for s in current:
                steps -= 1
                if kind[s] == _CHAR and arg[s](c):  # type: ignore[operator]
                    steps = self._close(following, out1[s], text, i + 1, steps)
                    if steps < 0:
                        return False
            current = following
        return False


# ------------------------------------------------------------------------------ backtracking
# Instructions are lists [op, a, b, ...]:
#   CHAR pred | ASSERT kind | SPLIT first second | JMP target | SAVE slot |
#   REF group icase | LOOK [(entry, length)] behind negated next | ATOMIC entry next |
#   CHECK slot exit (leave a loop whose last turn matched nothing, as PCRE does) | END
# A lookaround or atomic group is a sub-program ending with END, run to its first success.

_B_CHAR, _B_ASSERT, _B_SPLIT, _B_JMP, _B_SAVE, _B_REF, _B_LOOK, _B_ATOMIC, _B_CHECK, _B_END = (
    range(10)
)


class _OutOfSteps(Exception):
    pass


#: what running a sub-program costs beyond its own steps
_SUB_RUN_COST: Final = 4


class _Program:
    """Emits the backtracking program for a tree, in order."""

    def __init__(self, parser: _Parser) -> None:
        self.ops: list[list[object]] = []
        self.parser = parser
        self.slots = 2 * (parser.groups + 1)

    def add(self, *op: object) -> int:
        if len(self.ops) >= MAX_STATES:
            raise _Fail(0, "regular expression is too large")
        self.ops.append(list(op))
        return len(self.ops) - 1

    def emit(self, node: _Node) -> None:
        tag = node[0]
        ops = self.ops
        if tag == "char":
            self.add(_B_CHAR, node[1])
        elif tag == "assert":
            self.add(_B_ASSERT, node[1])
        elif tag == "cat":
            items = node[1]
            assert isinstance(items, list)
            for item in items:
                self.emit(item)
        elif tag == "alt":
            branches = node[1]
            assert isinstance(branches, list)
            jumps = []
            for branch in branches[:-1]:
                split = self.add(_B_SPLIT, len(ops) + 1, -1)
                self.emit(branch)
                jumps.append(self.add(_B_JMP, -1))
                ops[split][2] = len(ops)
            self.emit(branches[-1])
            for jump in jumps:
                ops[jump][1] = len(ops)
        elif tag == "group":
            _, number, sub = node
            assert isinstance(number, int)
            assert isinstance(sub, tuple)
            self.add(_B_SAVE, 2 * number)
            self.emit(sub)
            self.add(_B_SAVE, 2 * number + 1)
        elif tag == "backref":
            key = node[1]
            number = self.parser.names[key] if isinstance(key, str) else key
            self.add(_B_REF, number, node[2])
        elif tag == "atomic":
            sub = node[1]
            assert isinstance(sub, tuple)
            op = self.add(_B_ATOMIC, len(ops) + 1, -1)
            self.emit(sub)
            self.add(_B_END)
            ops[op][2] = len(ops)
        elif tag == "look":
            _, behind, negated, sub = node
            assert isinstance(sub, tuple)
            branches = sub[1] if behind and sub[0] == "alt" else [sub]
            assert isinstance(branches, list)
            op = self.add(_B_LOOK, [], behind, negated, -1)
            entries = []
            for branch in branches:
                entry = len(ops)
                self.emit(branch)
                self.add(_B_END)
                entries.append((entry, self.parser.length(branch, set()) if behind else 0))
            ops[op][1] = entries
            ops[op][4] = len(ops)
        else:
            self.repeat(node)

    def repeat(self, node: _Node) -> None:
        _, sub, lo, hi, lazy = node
        assert isinstance(sub, tuple)
        assert isinstance(lo, int)
        ops = self.ops
        for _ in range(lo):
            self.emit(sub)
        if hi is None:
            slot = self.slots
            self.slots += 1
            loop = self.add(_B_SPLIT, -1, -1)
            body = self.add(_B_SAVE, slot)
            self.emit(sub)
            check = self.add(_B_CHECK, slot, -1)
            self.add(_B_JMP, loop)
            ops[loop][1:3] = [len(ops), body] if lazy else [body, len(ops)]
            ops[check][2] = len(ops)
            return
        assert isinstance(hi, int)
        splits = []
        for _ in range(hi - lo):
            splits.append(self.add(_B_SPLIT, -1, -1))
            self.emit(sub)
        for split in splits:
            ops[split][1:3] = [len(ops), split + 1] if lazy else [split + 1, len(ops)]


class _BacktrackPattern(Pattern):
    """A pattern that needs backtracking, run with a step budget (:data:`MAX_STEPS`)."""

    __slots__ = ("_ops", "_slots", "_start")

    def __init__(self, source: str, program: _Program, start: int) -> None:
        super().__init__(source)
        self._ops = [tuple(op) for op in program.ops]
        self._slots = program.slots
        self._start = start

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in *text* before the step budget runs out
        (no match when it does, as g_regex_match answers at PCRE2's match limit)."""
        run = _Run(self._ops, text, self._slots)
        try:
            return any(run.run(self._start, i) is not None for i in range(len(text) + 1))
        except _OutOfSteps:
            return False


class _Run:
    """One search: the subject, the capture slots, the undo trail and the steps left."""

    def __init__(self, ops: list[tuple[Any, ...]], text: str, slots: int) -> None:
        self.ops = ops
        self.text = text
        self.slots = [-1] * slots
        self.trail: list[tuple[int, int]] = []
        self.steps = MAX_STEPS

    def undo(self, mark: int) -> None:
        trail, slots = self.trail, self.slots
        self.steps -= len(trail) - mark
        while len(trail) > mark:
            slot, old = trail.pop()
            slots[slot] = old

    def run(self, pc: int, i: int) -> int | None:
        """Run from instruction *pc* at position *i* to the first END: where it ended, or
        None (with every capture it set undone)."""
        ops, text, slots, trail = self.ops, self.text, self.slots, self.trail
        n = len(text)
        base = len(trail)
        stack: list[tuple[int, int, int]] = []
        steps = self.steps
        while True:
            steps -= 1
            if steps < 0:
                raise _OutOfSteps
            op = ops[pc]
            code = op[0]
            ok = True
            if code == _B_CHAR:
                if i < n and op[1](text[i]):
                    i += 1
                    pc += 1
                else:
                    ok = False
            elif code == _B_SPLIT:
                stack.append((op[2], i, len(trail)))
                pc = op[1]
            elif code == _B_JMP:
                pc = op[1]
            elif code == _B_SAVE:
                slot = op[1]
                assert isinstance(slot, int)
                trail.append((slot, slots[slot]))
                slots[slot] = i
                pc += 1
            elif code == _B_CHECK:
                pc = op[2] if slots[op[1]] == i else pc + 1
            elif code == _B_ASSERT:
                ok = _assert_holds(op[1], text, i)
                pc += 1
            elif code == _B_END:
                self.steps = steps
                return i
            elif code == _B_REF:
                group = op[1]
                assert isinstance(group, int)
                start, end = slots[2 * group], slots[2 * group + 1]
                size = end - start
                steps -= max(size, 0)
                if start < 0 or end < 0 or i + size > n:
                    ok = False
                elif op[2]:
                    ok = text[start:end].lower() == text[i:i + size].lower()
                else:
                    ok = text[start:end] == text[i:i + size]
                i += size
                pc += 1
            else:  # a sub-program: LOOK or ATOMIC (charged for setting one up)
                self.steps = steps - _SUB_RUN_COST
                if code == _B_ATOMIC:
                    after = self.run(op[1], i)
                    ok = after is not None
                    if after is not None:
                        i = after
                    pc = op[2]
                else:
                    ok = self.look(op, i)
                    pc = op[4]
                steps = self.steps
            if ok:
                continue
            self.steps = steps
            if not stack:
                self.undo(base)
                return None
            pc, i, mark = stack.pop()
            self.undo(mark)
            steps = self.steps

    def look(self, op: tuple[Any, ...], i: int) -> bool:
        _, entries, behind, negated, _next = op
        assert isinstance(entries, list)
        mark = len(self.trail)
        found = False
        for entry, length in entries:
            if behind and length > i:
                continue
            if self.run(entry, i - length if behind else i) is not None:
                found = True
                break
        if negated:  # captures set inside a negative assertion do not survive it
            self.undo(mark)
        return found != bool(negated)


def _depth(tree: _Node) -> int:
    """How deep *tree* nests (without recursing)."""
    deepest = 0
    stack: list[tuple[_Node, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        children: list[object] = []
        if node[0] in ("cat", "alt"):
            found = node[1]
            assert isinstance(found, list)
            children = found
        elif node[0] in ("rep", "atomic"):
            children = [node[1]]
        elif node[0] == "group":
            children = [node[2]]
        elif node[0] == "look":
            children = [node[3]]
        for child in children:
            assert isinstance(child, tuple)
            stack.append((child, depth + 1))
    return deepest


def compile(pattern: str, *, icase: bool = False) -> Pattern:
    """Compile *pattern* (with ``G_REGEX_CASELESS`` when *icase*).

    :raises RegexError: when it does not compile, or uses what testvirtd does not run, or is
        too big to match in bounded time; the message reads as GLib's.
    """
    try:
        if len(pattern) > MAX_PATTERN:
            raise _Fail(MAX_PATTERN, "regular expression is too large")
        parser = _Parser(pattern, icase)
        tree = parser.parse()
        if _depth(tree) > _MAX_TREE_DEPTH:  # the matchers are built recursively
            raise _Fail(len(pattern), "regular expression is too large")
        if parser.irregular:
            program = _Program(parser)
            program.emit(tree)
            program.add(_B_END)
            return _BacktrackPattern(pattern, program, 0)
        builder = _Builder()
        final = builder.new(_MATCH)
        start = builder.emit(tree, final)
    except _Fail as exc:
        raise RegexError(
            f"Error while compiling regular expression \u2018{pattern}\u2019 at char "
            f"{exc.offset}: {exc.reason}"
        ) from None
    return _NFAPattern(pattern, builder, start)
