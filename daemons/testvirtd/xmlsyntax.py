"""libxml2's first complaint about a client document that is not well-formed.

testvirtd builds its trees with expat, but libvirtd answers a broken document with the first
error libxml2 (2.9) reports, in libxml2's words and at the place libxml2's reader stood.  The
two parsers stop at different places and word things differently, so the document is first
walked here the way libxml2 walks it -- XML declaration, prolog, start tags and their
attributes, content, references, comments, CDATA sections, processing instructions, end tags,
what follows the root -- and the first problem is returned with libxml2's text and offset.

What this walk does not follow (a DOCTYPE, bytes that are not UTF-8, nesting deeper than
libxml2 allows) ends it without a verdict: :mod:`~daemons.testvirtd.textguard` and the expat
pass answer those.  A document the walk accepts is well-formed for expat too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .textguard import XML_MAX_DEPTH

__all__ = ("Complaint", "blank_declaration", "check_declaration", "first_complaint")

_BLANKS: Final = frozenset(b" \t\n\r")  # (a set: peek() is -1 at the end)
_QUOTES: Final = (0x22, 0x27)
_PREDEFINED: Final = frozenset({"lt", "gt", "amp", "apos", "quot"})
_NOT_CLOSED: Final = "String not closed expecting \" or '"
_NOT_STARTED: Final = "String not started expecting ' or \""
# Runs of bytes that need no look one at a time (ASCII characters XML allows, without the
# markup that ends the run), so that a large document is walked at regex speed.
_CONTROL: Final = rb"\x00-\x08\x0b\x0c\x0e-\x1f"
#: one character beyond ASCII that XML allows, as UTF-8 (U+FFFE and U+FFFF left out)
_HIGH_CHAR: Final = (rb"(?:[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]"
                     rb"|[\xe1-\xec\xee][\x80-\xbf]{2}|\xed[\x80-\x9f][\x80-\xbf]"
                     rb"|\xef[\x80-\xbe][\x80-\xbf]|\xef\xbf[\x80-\xbd]"
                     rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
                     rb"|\xf4[\x80-\x8f][\x80-\xbf]{2})")
_TEXT_RUN: Final = re.compile(rb"(?:[^<&\]" + _CONTROL + rb"\x80-\xff]++|\](?!\]>)|"
                              + _HIGH_CHAR + rb")++")
_ATTR_RUN: Final = {
    quote: re.compile(rb"(?:[^<&" + bytes([quote]) + _CONTROL + rb"\x80-\xff]++|" + _HIGH_CHAR
                      + rb")++")
    for quote in _QUOTES
}
_COMMENT_RUN: Final = re.compile(rb"(?:[^\-" + _CONTROL + rb"\x80-\xff]++|-(?!-)|" + _HIGH_CHAR
                                 + rb")++")
_PI_RUN: Final = re.compile(rb"(?:[^?" + _CONTROL + rb"\x80-\xff]++|\?(?!>)|" + _HIGH_CHAR
                            + rb")++")
_HIGH_RUN: Final = re.compile(rb"[\x80-\xff]+")
_ENCODING_NAME: Final = re.compile(rb"[A-Za-z0-9._\-]*")
_NATIVE_ENCODINGS: Final = frozenset({b"UTF-8", b"UTF8", b"UTF-16", b"UTF16"})
#: what is fine in a CDATA section (the first byte after it needs a look)
_CDATA_FINE: Final = re.compile(rb"(?:[^" + _CONTROL + rb"\x80-\xff]++|" + _HIGH_CHAR + rb")*+")
_BLANK_RUN: Final = re.compile(rb"[ \t\n\r]+")

# ------------------------------------------------------------------ the fast path
# Most of a large document is plain markup the walk accepts.  These patterns take such
# stretches in one regular-expression match each, and only ever what the careful walk below
# would accept with the same effect (never more): whatever they do not take -- a mistake,
# but also an element with many attributes or nested deeper than they follow -- is left to
# the careful walk, one construct at a time.  Quantifiers are
# possessive, so that no pattern ever backtracks over what it has read.
_WS: Final = rb"[ \t\n\r]"


def _byte_class(low: int, high: int) -> bytes:
    return b"\\x%02x" % low if low == high else b"[\\x%02x-\\x%02x]" % (low, high)


def _utf8_span(low: bytes, high: bytes) -> bytes:
    """A pattern for the UTF-8 sequences *low* to *high* (of one length)."""
    if len(low) == 1:
        return _byte_class(low[0], high[0])
    if low[0] == high[0]:
        return _byte_class(low[0], low[0]) + _utf8_span(low[1:], high[1:])
    rest = len(low) - 1
    from_low = all(b == 0x80 for b in low[1:])
    to_high = all(b == 0xBF for b in high[1:])
    parts = []
    if not from_low:
        parts.append(_byte_class(low[0], low[0]) + _utf8_span(low[1:], b"\xbf" * rest))
    middle = (low[0] if from_low else low[0] + 1, high[0] if to_high else high[0] - 1)
    if middle[0] <= middle[1]:
        parts.append(_byte_class(*middle) + b"[\\x80-\\xbf]{%d}" % rest)
    if not to_high:
        parts.append(_byte_class(high[0], high[0]) + _utf8_span(b"\x80" * rest, high[1:]))
    return parts[0] if len(parts) == 1 else b"(?:" + b"|".join(parts) + b")"


def _utf8(ranges: tuple[tuple[int, int], ...]) -> bytes:
    """A pattern for one character beyond ASCII in *ranges* (code points), as UTF-8."""
    parts = []
    for low, high in ranges:
        for first, last in ((0x80, 0x7FF), (0x800, 0xFFFF), (0x10000, 0x10FFFF)):
            lo, hi = max(low, first), min(high, last)
            if lo <= hi:
                parts.append(_utf8_span(chr(lo).encode(), chr(hi).encode()))
    return b"(?:" + b"|".join(parts) + b")"


#: XML 1.0 (fifth edition) NameStartChar and NameChar beyond ASCII
_NAME_START_RANGES: Final = (
    (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x2FF), (0x370, 0x37D), (0x37F, 0x1FFF),
    (0x200C, 0x200D), (0x2070, 0x218F), (0x2C00, 0x2FEF), (0x3001, 0xD7FF), (0xF900, 0xFDCF),
    (0xFDF0, 0xFFFD), (0x10000, 0xEFFFF))
_NAME_CHAR_RANGES: Final = (
    (0xB7, 0xB7), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x37D), (0x37F, 0x1FFF), (0x200C, 0x200D),
    (0x203F, 0x2040), (0x2070, 0x218F), (0x2C00, 0x2FEF), (0x3001, 0xD7FF), (0xF900, 0xFDCF),
    (0xFDF0, 0xFFFD), (0x10000, 0xEFFFF))
_NAME_FAST: Final = (rb"(?:[A-Za-z_:]|" + _utf8(_NAME_START_RANGES) + rb")(?:[A-Za-z0-9_:.\-]++|"
                     + _utf8(_NAME_CHAR_RANGES) + rb")*+")
def _digit_class(low: int, high: int, base: int) -> bytes:
    """A character class for the digits *low* to *high* (both cases)."""
    def span(first: str, last: str) -> str:
        return first if first == last else f"{first}-{last}"

    digits = "0123456789abcdef"
    out = []
    if low <= 9:
        out.append(span(digits[low], digits[min(high, 9)]))
    if high >= 10:
        first, last = digits[max(low, 10)], digits[high]
        out += [span(first, last), span(first.upper(), last.upper())]
    text = "".join(out)
    return text.encode() if len(text) == 1 else f"[{text}]".encode()


def _same_length(low: str, high: str, base: int) -> bytes:
    """A pattern for the numbers *low* to *high* (digit strings of one length)."""
    if not low:
        return b""
    first, last = int(low[0], 16), int(high[0], 16)
    if first == last:
        return _digit_class(first, first, base) + _same_length(low[1:], high[1:], base)
    rest = len(low) - 1
    top = "0123456789abcdef"[base - 1]
    any_rest = _digit_class(0, base - 1, base) + b"{%d}" % rest if rest else b""
    from_low = all(d == "0" for d in low[1:])  # low's first digit takes any rest
    to_high = all(d == top for d in high[1:])
    parts = []
    if not from_low:
        parts.append(_digit_class(first, first, base) + _same_length(low[1:], top * rest, base))
    middle = (first if from_low else first + 1, last if to_high else last - 1)
    if middle[0] <= middle[1]:
        parts.append(_digit_class(*middle, base) + any_rest)
    if not to_high:
        parts.append(_digit_class(last, last, base) + _same_length("0" * rest, high[1:], base))
    return parts[0] if len(parts) == 1 else b"(?:" + b"|".join(parts) + b")"


def _numbers(ranges: tuple[tuple[int, int], ...], base: int) -> bytes:
    """A pattern for the numbers in *ranges*, written in *base* without leading zeros."""
    show = (lambda v: f"{v:x}") if base == 16 else str
    parts = []
    for low, high in ranges:
        for length in range(1, 8):
            lo = max(low, base ** (length - 1), 1)
            hi = min(high, base ** length - 1)
            if lo <= hi:
                parts.append(_same_length(show(lo), show(hi), base))
    return b"(?:" + b"|".join(parts) + b")"


#: the characters XML allows, as numbers
_CHAR_RANGES: Final = ((0x9, 0xA), (0xD, 0xD), (0x20, 0xD7FF), (0xE000, 0xFFFD),
                       (0x10000, 0x10FFFF))
#: character references to characters XML allows (any other goes the careful way)
_CHAR_REF_FAST: Final = (rb"&\#(?:0*+" + _numbers(_CHAR_RANGES, 10) + rb"|x0*+"
                         + _numbers(_CHAR_RANGES, 16) + rb");")
_REF_FAST: Final = rb"&(?:lt|gt|amp|apos|quot);|" + _CHAR_REF_FAST
_TEXT_FAST: Final = (rb"(?:[^<&\]" + _CONTROL + rb"\x80-\xff]++|\](?!\]>)|" + _HIGH_CHAR
                     + rb")++(?=[<&]|\Z)")
_COMMENT_FAST: Final = (rb"<!--(?:[^\-" + _CONTROL + rb"\x80-\xff]++|" + _HIGH_CHAR
                        + rb"|-(?!-))*+-->")
_PI_FAST: Final = (rb"<\?(?![Xx][Mm][Ll](?![A-Za-z0-9_:.\-]))" + _NAME_FAST + rb"(?:\?>|"
                   + _WS + rb"++(?:[^?" + _CONTROL + rb"\x80-\xff]++|\?(?!>)|" + _HIGH_CHAR
                   + rb")*+\?>)")
_CDATA_FAST: Final = (rb"<!\[CDATA\[(?:[^\]" + _CONTROL + rb"\x80-\xff]++|" + _HIGH_CHAR
                      + rb"|\](?!\]>))*+\]\]>")


def _value_fast(group: str) -> bytes:
    """A quoted attribute value (the quote is captured as *group*)."""
    return (f"(?P<{group}>['\"])".encode() + rb"(?:[^<&'\"" + _CONTROL + rb"\x80-\xff]++|"
            + f"(?!(?P={group}))['\"]|".encode() + _HIGH_CHAR + rb"|" + _REF_FAST + rb")*+"
            + f"(?P={group})".encode())


def _attr_fast(group: str) -> bytes:
    return (_WS + rb"++" + _NAME_FAST + _WS + rb"*+=" + _WS + rb"*+" + _value_fast(group))


#: attributes the fast patterns check for repeated names themselves (each name is looked for
#: among the later ones: the cost grows with their square)
_DISTINCT_ATTRS: Final = 16
#: nesting the fast patterns follow themselves
_FAST_LEVELS: Final = 3
#: what the fast patterns read inside one element they follow (an element with more goes
#: the careful way): a match that fails deep inside is tried again from the inner element,
#: and this bounds what is read twice
_FAST_CHILDREN: Final = 64
#: the rest of an attribute the main pattern reads, skipped in a look ahead
_SKIP_VALUE: Final = _WS + rb"*+=" + _WS + rb"*+(?:'[^']*+'|\"[^\"]*+\")"


def _distinct_attrs(prefix: str) -> bytes:
    """Up to _DISTINCT_ATTRS attributes, none of them named again later in the tag."""
    name, quote = f"{prefix}n", f"{prefix}q"
    again = (rb"(?!" + _SKIP_VALUE + rb"(?:" + _WS + rb"++[^ \t\n\r=]++" + _SKIP_VALUE
             + rb")*?" + _WS + f"++(?P={name})".encode() + _WS + rb"*+=)")
    return (rb"(?:" + _WS + f"++(?P<{name}>".encode() + _NAME_FAST + rb")" + again + _WS
            + rb"*+=" + _WS + rb"*+" + _value_fast(quote) + rb"){0,%d}+" % _DISTINCT_ATTRS)


def _content_fast(levels: int) -> re.Pattern[bytes]:
    """A run of content that opens no element beyond *levels* nested ones (all closed)."""
    base = rb"|".join((_TEXT_FAST, _REF_FAST, _COMMENT_FAST, _PI_FAST, _CDATA_FAST))
    element = rb"<" + _NAME_FAST + _distinct_attrs("a0_") + _WS + rb"*+/>"
    for level in range(1, levels + 1):
        name = f"e{level}"
        element = (f"<(?P<{name}>".encode() + _NAME_FAST + rb")"
                   + _distinct_attrs(f"a{level}_") + _WS + rb"*+(?:/>|>(?:" + base + rb"|"
                   + element + rb"){0,%d}+</" % _FAST_CHILDREN + f"(?P={name})".encode() + _WS
                   + rb"*+>)")
    return re.compile(rb"(?:" + base + rb"|" + element + rb")*+")


_CONTENT_FAST: Final = tuple(_content_fast(levels) for levels in range(_FAST_LEVELS + 1))
_START_TAG_FAST: Final = re.compile(rb"<(?P<name>" + _NAME_FAST + rb")(?P<attrs>(?:"
                                    + _attr_fast("q") + rb")*+)"
                                    + _WS + rb"*+(?P<slash>/?)>")
_END_TAG_FAST: Final = re.compile(rb"</(" + _NAME_FAST + rb")" + _WS + rb"*+>")
_ATTRS_FAST: Final = re.compile(rb"(?:" + _attr_fast("q") + rb")*+")
#: the name of each attribute in a stretch the patterns above took
_ATTR_NAMES: Final = re.compile(_WS + rb"++([^ \t\n\r=]++)" + _SKIP_VALUE)
_MISC_FAST: Final = re.compile(rb"(?:" + _WS + rb"++|" + _COMMENT_FAST + rb"|" + _PI_FAST
                               + rb")*+")
_NAME: Final = re.compile(_NAME_FAST)
_DIGITS: Final = re.compile(rb"[0-9]*")
_HEX_DIGITS: Final = re.compile(rb"[0-9a-fA-F]*")


@dataclass(frozen=True)
class Complaint:
    """libxml2's message and the byte offset it points at."""

    message: str
    offset: int
    #: the document ended there (libvirt then shows no line after a final newline)
    at_end: bool = False


class _Found(Exception):
    def __init__(self, complaint: Complaint) -> None:
        super().__init__(complaint.message)
        self.complaint = complaint


class _GiveUp(Exception):
    """Something this walk leaves to expat and textguard."""


def first_complaint(raw: bytes) -> Complaint | None:
    """libxml2's first complaint about *raw* (None: none found, or left to the others)."""
    try:
        _Walk(raw).document()
    except _Found as found:
        return found.complaint
    except _GiveUp:
        return None
    return None


def check_declaration(raw: bytes) -> tuple[Complaint | None, slice | None]:
    """libxml2's complaint about *raw*'s XML declaration, and where a declaration libxml2
    takes lies (None: no declaration, or one whose verdict is not known)."""
    walk = _Walk(raw)
    if walk.starts(b"\xef\xbb\xbf"):
        walk.pos = 3
    start = walk.pos
    try:
        if walk.starts(b"<?xml") and walk.peek(5) in _BLANKS:
            walk.declaration()
            return None, slice(start, walk.pos)
    except _Found as found:
        return found.complaint, None
    except _GiveUp:
        return None, None
    return None, None


def blank_declaration(raw: bytes, where: slice) -> bytes:
    """*raw* with the XML declaration at *where* turned into blanks, line breaks kept, for a
    parser that is stricter about declarations than libxml2 (expat wants a blank between
    pseudo-attributes even where libxml2 does not); every offset, line and column stays."""
    decl = raw[where]
    blanked = bytes(0x0A if b == 0x0A else 0x20 for b in decl)
    return raw[:where.start] + blanked + raw[where.stop:]


def _is_char(value: int) -> bool:
    return value in (0x9, 0xA, 0xD) or 0x20 <= value <= 0xD7FF or 0xE000 <= value <= 0xFFFD \
        or 0x10000 <= value <= 0x10FFFF


def _name_start(c: str) -> bool:
    """XML 1.0 (fifth edition) NameStartChar."""
    o = ord(c)
    if o < 0x80:
        return c.isalpha() or c in "_:"
    return (0xC0 <= o <= 0xD6 or 0xD8 <= o <= 0xF6 or 0xF8 <= o <= 0x2FF
            or 0x370 <= o <= 0x37D or 0x37F <= o <= 0x1FFF or 0x200C <= o <= 0x200D
            or 0x2070 <= o <= 0x218F or 0x2C00 <= o <= 0x2FEF or 0x3001 <= o <= 0xD7FF
            or 0xF900 <= o <= 0xFDCF or 0xFDF0 <= o <= 0xFFFD or 0x10000 <= o <= 0xEFFFF)


def _name_char(c: str) -> bool:
    """XML 1.0 (fifth edition) NameChar."""
    o = ord(c)
    if o < 0x80:
        return c.isalnum() or c in "_:-."
    return _name_start(c) or o == 0xB7 or 0x300 <= o <= 0x36F or 0x203F <= o <= 0x2040


class _Walk:
    def __init__(self, raw: bytes, *, fast: bool = True) -> None:
        self.raw = raw
        #: whether plain stretches are taken by the fast patterns (False: all the careful way,
        #: which must come to the same answer)
        self.fast = fast
        self.n = len(raw)
        self.pos = 0
        # line numbers are counted forward from the last one asked for (tags come in order)
        self._line_at = 0
        self._line = 1

    # ---------------------------------------------------------------- helpers

    def fail(self, message: str, at: int | None = None, *, at_end: bool = False) -> _Found:
        return _Found(Complaint(message, self.pos if at is None else at, at_end))

    def peek(self, ahead: int = 0) -> int:
        j = self.pos + ahead
        return self.raw[j] if j < self.n else -1

    def starts(self, text: bytes) -> bool:
        return self.raw.startswith(text, self.pos)

    def skip_blanks(self) -> int:
        found = _BLANK_RUN.match(self.raw, self.pos)
        if found is None:
            return 0
        self.pos = found.end()
        return found.end() - found.start()

    def char(self, at: int) -> tuple[str, int]:
        """The character at *at* and its size in bytes; libxml2's complaint about a decoded
        character XML cannot hold (bytes that are not UTF-8 are left to textguard)."""
        lead = self.raw[at]
        if lead < 0x80:
            return chr(lead), 1
        size = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else \
            4 if 0xF0 <= lead <= 0xF4 else 0
        try:
            c = self.raw[at:at + size].decode("utf-8") if size else ""
        except UnicodeDecodeError:
            c = ""
        if len(c) != 1:
            raise _GiveUp
        if not _is_char(ord(c)):
            raise self.fail(f"Char 0x{ord(c):X} out of allowed range", at)
        return c, size

    def skip(self, run: re.Pattern[bytes]) -> None:
        found = run.match(self.raw, self.pos)
        if found is not None:
            self.pos = found.end()

    def high(self) -> None:
        """Characters beyond ASCII at the current position: read at once, each checked."""
        found = _HIGH_RUN.match(self.raw, self.pos)
        assert found is not None
        try:
            text = found.group().decode("utf-8")
        except UnicodeDecodeError:
            raise _GiveUp from None  # textguard's
        for bad in ("\ufffe", "\uffff"):
            index = text.find(bad)
            if index >= 0:
                at = self.pos + len(text[:index].encode("utf-8"))
                raise self.fail(f"Char 0x{ord(bad):X} out of allowed range", at)
        self.pos = found.end()

    def name(self) -> str | None:
        """An XML name at the current position (None, and nothing read, if there is none)."""
        if self.pos >= self.n:
            return None
        found = _NAME.match(self.raw, self.pos)
        end = self.pos if found is None else found.end()
        if end < self.n and self.raw[end] >= 0x80:
            self.char(end)  # (bytes that are not UTF-8, or a character XML refuses, raise)
        if found is None:
            return None
        self.pos = end
        return found.group().decode("utf-8")

    def line_of(self, at: int) -> int:
        if at < self._line_at:
            self._line_at, self._line = 0, 1
        self._line += self.raw.count(b"\n", self._line_at, at)
        self._line_at = at
        return self._line

    # ---------------------------------------------------------------- the document

    def document(self) -> None:
        if self.starts(b"\xef\xbb\xbf"):
            self.pos = 3
        if self.starts(b"<?xml") and self.peek(5) in _BLANKS:
            self.declaration()
        self.misc()
        if self.starts(b"<!DOCTYPE"):
            self.doctype()
            self.misc()
        if self.pos >= self.n or self.raw[self.pos] != 0x3C:
            raise self.fail("Start tag expected, '<' not found", at_end=self.pos >= self.n)
        self.element()
        self.misc()
        if self.pos < self.n:
            raise self.fail("Extra content at the end of the document")

    def doctype(self) -> None:
        """A bare ``<!DOCTYPE name>`` (libxml2 takes it; anything more is left to expat)."""
        self.pos += 9
        if self.skip_blanks() == 0 or self.name() is None:
            raise _GiveUp
        self.skip_blanks()
        if self.peek() != 0x3E:
            raise _GiveUp
        self.pos += 1

    def misc(self) -> None:
        """Blanks, comments and processing instructions (before and after the root)."""
        while True:
            if self.fast:
                self.skip(_MISC_FAST)
            else:
                self.skip_blanks()
            if self.starts(b"<?"):
                self.instruction()
            elif self.starts(b"<!--"):
                self.comment()
            else:
                return

    def quoted_start(self) -> int:
        quote = self.peek()
        if quote not in _QUOTES:
            raise self.fail(_NOT_STARTED)
        self.pos += 1
        return quote

    def quoted_end(self, quote: int) -> None:
        if self.peek() != quote:
            raise self.fail(_NOT_CLOSED)
        self.pos += 1

    def equals(self) -> None:
        self.skip_blanks()
        if self.peek() != 0x3D:
            raise _GiveUp  # (libxml2's words for a missing "=" here are not known)
        self.pos += 1
        self.skip_blanks()

    def declaration(self) -> None:
        """``<?xml version=... encoding=... standalone=...?>``"""
        self.pos += 5
        self.skip_blanks()
        if not self.starts(b"version"):
            raise self.fail("Malformed declaration expecting version")
        self.pos += 7
        self.equals()
        quote = self.quoted_start()
        start = self.pos
        # VersionNum: a digit, ".", digits (libxml2 stops at the first byte that does not fit)
        valid = self.peek() in range(0x30, 0x3A) and self.peek(1) == 0x2E
        if valid:
            self.pos += 2
            while self.peek() in range(0x30, 0x3A):
                self.pos += 1
        elif self.peek() in range(0x30, 0x3A):
            self.pos += 1
        version = self.raw[start:self.pos].decode("ascii") if valid else None
        self.quoted_end(quote)
        if version is None:
            raise self.fail("Malformed declaration expecting version")
        if not version.startswith("1."):
            raise self.fail(f"Unsupported version '{version}'")
        if self.peek() not in _BLANKS:
            if self.starts(b"?>"):
                self.pos += 2
                return
            raise self.fail("Blank needed here")
        self.skip_blanks()
        if self.starts(b"encoding"):
            self.pos += 8
            self.equals()
            quote = self.quoted_start()
            if not (0x41 <= self.peek() <= 0x5A or 0x61 <= self.peek() <= 0x7A):
                raise self.fail("Invalid XML encoding name")
            name = _ENCODING_NAME.match(self.raw, self.pos)
            assert name is not None
            self.pos = name.end()
            self.quoted_end(quote)
            # libxml2 wants a blank after the encoding only when it switched decoders: not
            # for the UTF-8 and UTF-16 names it handles itself
            native = name.group().upper() in _NATIVE_ENCODINGS
            if not native and self.peek() not in _BLANKS:
                if self.starts(b"?>"):
                    self.pos += 2
                    return
                raise self.fail("Blank needed here")
        self.skip_blanks()
        if self.starts(b"standalone"):
            self.pos += 10
            self.equals()
            quote = self.quoted_start()
            if self.starts(b"no"):
                self.pos += 2
            elif self.starts(b"yes"):
                self.pos += 3
            else:
                raise self.fail("standalone accepts only 'yes' or 'no'")
            self.quoted_end(quote)
        self.skip_blanks()
        if not self.starts(b"?>"):
            raise self.fail("parsing XML declaration: '?>' expected")
        self.pos += 2

    def instruction(self) -> None:
        """``<?target data?>``"""
        self.pos += 2
        target = self.name()
        if target is None:
            raise _GiveUp  # (libxml2's words for a PI without a target are not known)
        if target == "xml":
            raise self.fail("XML declaration allowed only at the start of the document")
        if target.lower() == "xml":
            raise self.fail("Invalid PI name")
        if self.starts(b"?>"):
            self.pos += 2
            return
        if self.skip_blanks() == 0:
            raise self.fail(f"ParsePI: PI {target} space expected")
        while True:
            self.skip(_PI_RUN)
            if self.pos >= self.n:
                break
            if self.starts(b"?>"):
                self.pos += 2
                return
            byte = self.raw[self.pos]
            if byte == 0x3F:
                self.pos += 1
            elif byte >= 0x80:
                self.high()
            else:
                break  # a control character
        raise self.fail(f"ParsePI: PI {target} never end ...", at=self.n, at_end=True)

    def comment(self) -> None:
        """``<!-- ... -->``: no "--" inside."""
        self.pos += 4
        start = self.pos
        while True:
            self.skip(_COMMENT_RUN)
            if self.pos >= self.n:
                break
            byte = self.raw[self.pos]
            if self.starts(b"--"):
                if self.peek(2) == 0x3E:
                    self.pos += 3
                    return
                shown = self.raw[start:self.pos][:50].decode("utf-8", "replace")
                raise self.fail(f"Double hyphen within comment: <!--{shown}")
            if byte == 0x2D:
                self.pos += 1
            elif byte >= 0x80:
                self.high()
            else:
                raise self.fail(f"xmlParseComment: invalid xmlChar value {byte}")
        raise self.fail("Comment not terminated", at=self.n, at_end=True)

    def cdata(self) -> None:
        """``<![CDATA[ ... ]]>``"""
        self.pos += 9
        start = self.pos
        end = self.raw.find(b"]]>", start)
        if end < 0:
            # (what libxml2 has buffered when it finds the end: all but the last two bytes)
            shown = self.raw[start:self.n - 2][:50].decode("utf-8", "replace")
            raise self.fail(f"CData section not finished\n{shown}", at=self.n, at_end=True)
        fine = _CDATA_FINE.match(self.raw, start, end)
        assert fine is not None
        self.pos = fine.end()
        if self.pos < end:
            if self.raw[self.pos] < 0x80:
                raise self.fail(f"PCDATA invalid Char value {self.raw[self.pos]}")
            self.high()  # (a character XML refuses, or bytes that are not UTF-8: it raises)
            raise _GiveUp  # (not reached)
        self.pos = end + 3

    # ---------------------------------------------------------------- elements

    def element(self) -> None:
        """The root element and everything in it (a loop, not recursion: depth is free)."""
        open_tags: list[tuple[str, int]] = []
        raw = self.raw
        fast = self.fast
        if not (fast and self.start_tag_fast(open_tags)):
            self.start_tag(open_tags)
        while open_tags:
            if fast:
                # what needs no stack is taken in one match (elements too, as deep as the
                # limit on nesting lets the careful walk go)
                levels = min(_FAST_LEVELS, max(0, XML_MAX_DEPTH - 1 - len(open_tags)))
                self.skip(_CONTENT_FAST[levels])
            if self.pos >= self.n:
                tag, line = open_tags[-1]
                raise self.fail(f"Premature end of data in tag {tag} line {line}",
                                at_end=True)
            byte = raw[self.pos]
            if byte == 0x3C:
                if self.peek(1) == 0x2F:
                    if not (fast and self.end_tag_fast(open_tags)):
                        self.end_tag(open_tags)
                elif self.peek(1) == 0x3F:
                    self.instruction()
                elif self.starts(b"<![CDATA["):
                    self.cdata()
                elif self.starts(b"<!--"):
                    self.comment()
                elif not (fast and self.start_tag_fast(open_tags)):
                    self.start_tag(open_tags)
            elif byte == 0x26:
                self.reference()
            else:
                self.text()

    def start_tag_fast(self, open_tags: list[tuple[str, int]]) -> bool:
        """A start tag without a repeated attribute or anything odd, taken in one match
        (False: nothing read, the careful walk must read it)."""
        found = _START_TAG_FAST.match(self.raw, self.pos)
        if found is None:
            return False
        attrs = found.group("attrs")
        if attrs.count(b"=") > 1:
            names = _ATTR_NAMES.findall(attrs)
            if len(set(names)) != len(names):
                return False
        if not found.group("slash"):
            if len(open_tags) >= XML_MAX_DEPTH - 1:
                return False
            open_tags.append((found.group("name").decode("utf-8"), self.line_of(self.pos)))
        self.pos = found.end()
        return True

    def end_tag_fast(self, open_tags: list[tuple[str, int]]) -> bool:
        """An end tag that closes the open element (False: nothing read)."""
        found = _END_TAG_FAST.match(self.raw, self.pos)
        if found is None or found.group(1).decode("utf-8") != open_tags[-1][0]:
            return False
        open_tags.pop()
        self.pos = found.end()
        return True

    def attributes_fast(self, seen: set[bytes], repeated: str | None) -> str | None:
        """Whole attributes, each after a blank, taken in one match; their
        names join *seen* (returned: the first repeated name, as the careful walk finds
        it)."""
        found = _ATTRS_FAST.match(self.raw, self.pos)
        assert found is not None
        if found.end() == self.pos:
            return repeated
        names = _ATTR_NAMES.findall(self.raw, self.pos, found.end())
        distinct = set(names)
        if repeated is None and len(distinct) == len(names) and seen.isdisjoint(distinct):
            seen |= distinct
        else:
            for name in names:
                if name in seen and repeated is None:
                    repeated = name.decode("utf-8")
                seen.add(name)
        self.pos = found.end()
        return repeated

    def start_tag(self, open_tags: list[tuple[str, int]]) -> None:
        lt = self.pos
        self.pos += 1
        tag = self.name()
        if tag is None:
            raise self.fail("StartTag: invalid element name")
        line = self.line_of(lt)
        seen: set[bytes] = set()
        repeated: str | None = None
        first = True
        while True:
            before = self.pos
            if self.fast:
                repeated = self.attributes_fast(seen, repeated)
            if self.pos != before:
                first = False  # (each attribute taken came after a blank)
            if not first:
                if self.peek() == 0x3E or self.starts(b"/>"):
                    pass
                elif self.skip_blanks() == 0:
                    raise self.fail("attributes construct error")
            else:
                self.skip_blanks()
            first = False
            if self.pos >= self.n:
                raise self.fail(f"Couldn't find end of Start Tag {tag} line {line}",
                                at_end=True)
            if repeated is not None and (self.peek() == 0x3E or self.starts(b"/>")):
                # checked once the tag's attributes are all read
                raise self.fail(f"Attribute {repeated} redefined")
            if self.peek() == 0x3E:
                self.pos += 1
                if len(open_tags) >= XML_MAX_DEPTH - 1:
                    raise _GiveUp  # textguard's depth limit
                open_tags.append((tag, line))
                return
            if self.starts(b"/>"):
                self.pos += 2
                return
            attr = self.name()
            if attr is None:
                raise self.fail("error parsing attribute name")
            self.skip_blanks()
            if self.peek() != 0x3D:
                raise self.fail(f"Specification mandates value for attribute {attr}")
            self.pos += 1
            self.skip_blanks()
            quote = self.peek()
            if quote not in _QUOTES:
                raise self.fail("AttValue: \" or ' expected")
            self.pos += 1
            self.attribute_value(quote)
            if attr.encode() in seen and repeated is None:
                repeated = attr
            seen.add(attr.encode())

    def attribute_value(self, quote: int) -> None:
        run = _ATTR_RUN[quote]
        while True:
            self.skip(run)
            if self.pos >= self.n:
                break
            byte = self.raw[self.pos]
            if byte == quote:
                self.pos += 1
                return
            if byte == 0x3C:
                raise self.fail("Unescaped '<' not allowed in attributes values")
            if byte == 0x26:
                self.reference()
            elif byte >= 0x80:
                self.high()
            else:
                raise self.fail("invalid character in attribute value")
        raise self.fail("AttValue: ' expected", at_end=True)

    def end_tag(self, open_tags: list[tuple[str, int]]) -> None:
        self.pos += 2
        expected, line = open_tags[-1]
        found = self.name()
        self.skip_blanks()
        if self.peek() != 0x3E:
            raise self.fail("expected '>'", at_end=self.pos >= self.n)
        self.pos += 1
        if found != expected:
            shown = "unparsable" if found is None else found
            raise self.fail(f"Opening and ending tag mismatch: {expected} line {line} and "
                            f"{shown}")
        open_tags.pop()

    def reference(self) -> None:
        """``&name;`` or ``&#N;`` / ``&#xH;``"""
        if self.starts(b"&#"):
            self.char_reference()
            return
        self.pos += 1
        name = self.name()
        if name is None:
            raise self.fail("xmlParseEntityRef: no name")
        if self.peek() != 0x3B:
            raise self.fail("EntityRef: expecting ';'")
        self.pos += 1
        if name not in _PREDEFINED:
            raise self.fail(f"Entity '{name}' not defined")

    def char_reference(self) -> None:
        hexadecimal = self.peek(2) == 0x78
        self.pos += 3 if hexadecimal else 2
        digits = (_HEX_DIGITS if hexadecimal else _DIGITS).match(self.raw, self.pos)
        assert digits is not None
        self.pos = digits.end()
        if self.peek() != 0x3B:
            kind = "hexadecimal" if hexadecimal else "decimal"
            raise self.fail(f"CharRef: invalid {kind} value", at_end=self.peek() < 0)
        self.pos += 1
        # libxml2 stops counting at 0x110000 (7 decimal or 6 hexadecimal digits are past it)
        significant = digits.group().lstrip(b"0")
        if len(significant) > (6 if hexadecimal else 7):
            value = 0x110000
        else:
            value = min(int(significant or b"0", 16 if hexadecimal else 10), 0x110000)
        if value >= 0x110000:
            raise self.fail("xmlParseCharRef: character reference out of bounds")
        if not _is_char(value):
            raise self.fail(f"xmlParseCharRef: invalid xmlChar value {value}")

    def text(self) -> None:
        """Character data up to the next markup or reference."""
        start = self.pos
        while True:
            self.skip(_TEXT_RUN)
            if self.pos >= self.n:
                return
            byte = self.raw[self.pos]
            if byte in (0x3C, 0x26):
                return
            if byte == 0x5D:
                if self.starts(b"]]>"):
                    raise self.fail("Sequence ']]>' not allowed in content", start)
                self.pos += 1
            elif byte >= 0x80:
                self.high()
            else:
                raise self.fail(f"PCDATA invalid Char value {byte}")
