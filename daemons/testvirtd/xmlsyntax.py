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

__all__ = ("Complaint", "declaration_complaint", "first_complaint")

_BLANKS: Final = b" \t\n\r"
_QUOTES: Final = (0x22, 0x27)
_PREDEFINED: Final = frozenset({"lt", "gt", "amp", "apos", "quot"})
_NOT_CLOSED: Final = "String not closed expecting \" or '"
_NOT_STARTED: Final = "String not started expecting ' or \""
# Runs of bytes that need no look one at a time (ASCII characters XML allows, without the
# markup that ends the run), so that a large document is walked at regex speed.
_CONTROL: Final = rb"\x00-\x08\x0b\x0c\x0e-\x1f"
_TEXT_RUN: Final = re.compile(rb"[^<&\]" + _CONTROL + rb"\x80-\xff]+")
_ATTR_RUN: Final = {
    quote: re.compile(rb"[^<&" + bytes([quote]) + _CONTROL + rb"\x80-\xff]+")
    for quote in _QUOTES
}
_COMMENT_RUN: Final = re.compile(rb"[^\-" + _CONTROL + rb"\x80-\xff]+")
_PI_RUN: Final = re.compile(rb"[^?" + _CONTROL + rb"\x80-\xff]+")
_HIGH_RUN: Final = re.compile(rb"[\x80-\xff]+")
_CDATA_ODD: Final = re.compile(rb"[" + _CONTROL + rb"]|[\x80-\xff]+")
_ASCII_NAME: Final = re.compile(rb"[A-Za-z_:][A-Za-z0-9_:.\-]*")


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


def declaration_complaint(raw: bytes) -> Complaint | None:
    """libxml2's complaint about *raw*'s XML declaration (None: it has none, or a sound
    one)."""
    walk = _Walk(raw)
    if walk.starts(b"\xef\xbb\xbf"):
        walk.pos = 3
    try:
        if walk.starts(b"<?xml") and walk.peek(5) in _BLANKS:
            walk.declaration()
    except _Found as found:
        return found.complaint
    except _GiveUp:
        return None
    return None


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
    def __init__(self, raw: bytes) -> None:
        self.raw = raw
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
        start = self.pos
        while self.pos < self.n and self.raw[self.pos] in _BLANKS:
            self.pos += 1
        return self.pos - start

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
        ascii_name = _ASCII_NAME.match(self.raw, self.pos)
        if ascii_name is not None and self.peek(ascii_name.end() - self.pos) < 0x80:
            self.pos = ascii_name.end()
            return ascii_name.group().decode("ascii")
        c, size = self.char(self.pos)
        if not _name_start(c):
            return None
        start = self.pos
        self.pos += size
        while self.pos < self.n:
            c, size = self.char(self.pos)
            if not _name_char(c):
                break
            self.pos += size
        return self.raw[start:self.pos].decode("utf-8")

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
            while self.peek() != -1 and (chr(self.peek()).isascii()
                                         and (chr(self.peek()).isalnum() or self.peek() in b"._-")):
                self.pos += 1
            self.quoted_end(quote)
            if self.peek() not in _BLANKS:
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
        for odd in _CDATA_ODD.finditer(self.raw, start, end):
            self.pos = odd.start()
            if self.raw[self.pos] < 0x80:
                raise self.fail(f"PCDATA invalid Char value {self.raw[self.pos]}")
            self.high()
        self.pos = end + 3

    # ---------------------------------------------------------------- elements

    def element(self) -> None:
        """The root element and everything in it (a loop, not recursion: depth is free)."""
        open_tags: list[tuple[str, int]] = []
        self.start_tag(open_tags)
        while open_tags:
            if self.pos >= self.n:
                tag, line = open_tags[-1]
                raise self.fail(f"Premature end of data in tag {tag} line {line}",
                                at_end=True)
            byte = self.raw[self.pos]
            if byte == 0x3C:
                if self.peek(1) == 0x2F:
                    self.end_tag(open_tags)
                elif self.peek(1) == 0x3F:
                    self.instruction()
                elif self.starts(b"<![CDATA["):
                    self.cdata()
                elif self.starts(b"<!--"):
                    self.comment()
                else:
                    self.start_tag(open_tags)
            elif byte == 0x26:
                self.reference()
            else:
                self.text()

    def start_tag(self, open_tags: list[tuple[str, int]]) -> None:
        lt = self.pos
        self.pos += 1
        tag = self.name()
        if tag is None:
            raise self.fail("StartTag: invalid element name")
        line = self.line_of(lt)
        seen: set[str] = set()
        repeated: str | None = None
        first = True
        while True:
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
            if attr in seen and repeated is None:
                repeated = attr
            seen.add(attr)

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
        digits = "0123456789abcdefABCDEF" if hexadecimal else "0123456789"
        value = 0
        while self.peek() != 0x3B:
            byte = self.peek()
            if byte < 0 or chr(byte) not in digits:
                kind = "hexadecimal" if hexadecimal else "decimal"
                raise self.fail(f"CharRef: invalid {kind} value", at_end=byte < 0)
            value = min(value * (16 if hexadecimal else 10) + int(chr(byte), 16), 0x110000)
            self.pos += 1
        self.pos += 1
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
