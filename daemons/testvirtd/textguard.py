"""Checks on hostile text from clients, answered the way the real programs answer them.

XML reaches libvirtd as a string that libxml2 parses as UTF-8, whatever its declaration says;
testvirtd parses with expat, so what libxml2 refuses before expat would see it is found here:

* a declared encoding libxml2 cannot convert (``encoding='EBCDIC'``, ``'bogus'``) is refused with
  "Unsupported encoding NAME"; any other declared encoding (``UTF-7``, ``ISO-8859-1``,
  ``UTF-16`` ...) is ignored and the bytes are still read as UTF-8;
* the first byte sequence that is not UTF-8 is refused with "Input is not proper UTF-8,
  indicate encoding !" and the four bytes found there, and a well-formed sequence for a code
  point XML cannot hold with "Char 0xD800 out of allowed range";
* elements nested deeper than :data:`XML_MAX_DEPTH` are refused with libxml2's "Excessive depth
  in document" (libvirtd never parses with XML_PARSE_HUGE).

Each finding is a :class:`TextProblem` with the byte offset libxml2 reports it at, so the caller
builds libvirt's error text (line, the line itself, a caret under the offset).

JSON for the fake QEMU monitor and guest agent is parsed by :func:`loads_json`: nesting deeper
than :data:`MAX_JSON_DEPTH` is found by a linear scan before decoding and refused with QEMU's
"JSON nesting depth limit exceeded" (so the decoder never runs into the recursion limit), and
integers of any length are taken (long ones as floats, as QEMU turns integers that do not fit
64 bits into doubles) instead of hitting Python's integer-size limit.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
from dataclasses import dataclass
from itertools import accumulate, repeat, takewhile
from typing import Any, Final

__all__ = (
    "JSON_NESTING_ERROR",
    "MAX_JSON_DEPTH",
    "XML_MAX_DEPTH",
    "XML_TOO_DEEP",
    "JsonInputError",
    "JsonSkipper",
    "TextProblem",
    "command_name",
    "decode_json_prefix",
    "dumps_json",
    "json_decoder",
    "json_too_deep",
    "loads_json",
    "xml_bytes_problem",
    "xml_position",
)

#: The deepest element libxml2 accepts without XML_PARSE_HUGE: it refuses to open an element
#: while more than 256 are open (probed on libvirtd 9.0: 257 levels pass, 258 do not).
XML_MAX_DEPTH: Final = 257
#: libxml2's message for a deeper element
XML_TOO_DEEP: Final = "Excessive depth in document: 256 use XML_PARSE_HUGE option"
#: QEMU's description of a JSON document nested too deep
JSON_NESTING_ERROR: Final = "JSON nesting depth limit exceeded"
#: How deep JSON may nest.  QEMU's monitor allows 1024 levels, but Python's decoder recurses
#: once per level and must stay well within the interpreter's recursion limit (1000).
MAX_JSON_DEPTH: Final = 512

log = logging.getLogger("testvirtd.input")

#: an XML declaration at the very start of the document, with an encoding
_DECL_ENCODING: Final = re.compile(
    rb"<\?xml\s+version\s*=\s*(['\"])[^'\"]*\1\s+encoding\s*=\s*(['\"])([^'\"]*)\2"
)
#: a complete JSON string; chunks the nesting scan looks at
_JSON_STRING: Final = re.compile(r'(?s)"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)')  # never backtracks
_CHUNK: Final = 256
_BRACKET_DEPTH: Final = {"[": 1, "{": 1, "]": -1, "}": -1}
#: the "execute" member of a command (its string value, still escaped)
_EXECUTE: Final = re.compile(r'(?s)"execute"\s*:\s*"((?:[^"\\]++|\\.)*+)"')
#: Python has no codec for these names, but iconv (which libxml2 uses) converts them
_ICONV_ONLY: Final = frozenset({"ucs-2", "ucs2", "ucs-4", "ucs4", "ucs-4le", "ucs-4be"})
#: longest integer literal decoded as an int; longer ones become floats (QEMU turns integers
#: that do not fit 64 bits into doubles) instead of hitting Python's conversion limit
_MAX_INT_DIGITS: Final = 400


class JsonInputError(ValueError):
    """Client JSON that cannot be taken: *reason* is a short description."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TextProblem:
    """Why libxml2 would refuse a document, and where (a byte offset into it)."""

    offset: int
    message: str


def xml_position(raw: bytes, offset: int) -> tuple[int, str, int]:
    """(line number, that line's text, byte column) of *offset*, as libvirt shows them."""
    start = raw.rfind(b"\n", 0, offset) + 1
    end = raw.find(b"\n", offset)
    if end < 0:
        end = len(raw)
    line = raw.count(b"\n", 0, offset) + 1
    return line, raw[start:end].decode("utf-8", "surrogateescape"), offset - start


def _encoding_supported(name: str) -> bool:
    if name.lower() in _ICONV_ONLY:
        return True
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _utf8_problem(raw: bytes, offset: int) -> str:
    """libxml2's complaint about the bytes at *offset*, where UTF-8 decoding failed."""
    lead = raw[offset]
    size = 2 if 0xC2 <= lead <= 0xDF else 3 if 0xE0 <= lead <= 0xEF else \
        4 if 0xF0 <= lead <= 0xF7 else 0
    tail = raw[offset + 1:offset + size]
    if size and len(tail) == size - 1 and all(0x80 <= b <= 0xBF for b in tail):
        value = lead & (0x7F >> size)
        for b in tail:
            value = (value << 6) | (b & 0x3F)
        if 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
            return f"Char 0x{value:X} out of allowed range"
    if len(raw) - offset < 4:
        return "Input is not proper UTF-8, indicate encoding !"
    shown = " ".join(f"0x{b:02X}" for b in raw[offset:offset + 4])
    return f"Input is not proper UTF-8, indicate encoding !\nBytes: {shown}"


def xml_bytes_problem(raw: bytes) -> TextProblem | None:
    """What libxml2 refuses in *raw* before parsing it: an unsupported declared encoding or
    bytes that are not UTF-8 (the first one found).  None when the bytes are acceptable."""
    decl = _DECL_ENCODING.match(raw)
    if decl is not None:
        name = decl.group(3).decode("ascii", "replace")
        if not _encoding_supported(name):
            return TextProblem(decl.end(3) + 1, f"Unsupported encoding {name}")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return TextProblem(exc.start, _utf8_problem(raw, exc.start))
    return None


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= _MAX_INT_DIGITS else float(text)


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether *text* nests arrays and objects more than *limit* deep (brackets inside
    strings do not count).  Linear, never recursive; a wide, shallow document is checked at
    the speed of ``str.count``."""
    if text.count("[") + text.count("{") <= limit:
        return False
    bare = _JSON_STRING.sub("", text) if '"' in text else text
    depth = 0
    for start in range(0, len(bare), _CHUNK):
        chunk = bare[start:start + _CHUNK]
        opens = chunk.count("[") + chunk.count("{")
        if depth + opens > limit:  # it might get too deep inside this chunk: walk it
            steps = map(_BRACKET_DEPTH.get, chunk, repeat(0))
            if next(filter(limit.__lt__, accumulate(steps, initial=depth)), None) is not None:
                return True
        depth += opens - chunk.count("]") - chunk.count("}")
    return False


def loads_json(text: str | bytes, what: str) -> Any:
    """Decode client JSON.

    :param what: names the input in the log line written when it is refused.
    :raises JsonInputError: with the reason when it cannot be taken.
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        if json_too_deep(text):
            reason = JSON_NESTING_ERROR
        else:
            return json.loads(text, parse_int=_parse_int)
    except RecursionError:  # deeper than this thread's stack allows, though within the limit
        reason = JSON_NESTING_ERROR
    except json.JSONDecodeError as exc:
        reason = exc.msg
    except (ValueError, UnicodeDecodeError) as exc:
        reason = str(exc)
    log.warning("refused %s: %s", what, reason)
    raise JsonInputError(reason)


def command_name(text: str | bytes) -> str:
    """The ``"execute"`` name of a QMP/agent command, also when the command as a whole cannot
    be decoded (libvirt, which decodes deeper JSON than Python, still knows it); "" if none."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    found = _EXECUTE.search(text, 0, 4096)  # where clients put it; bounds the search
    if found is None:
        return ""
    try:
        name = json.loads(f'"{found.group(1)}"')
    except ValueError:
        return ""
    return name if isinstance(name, str) else ""


class JsonSkipper:
    """Finds the end of a JSON value refused part-way (too deep), so that a stream of
    commands can go on after it.  Brackets inside the value's strings count as brackets.

    :param text: the refused value's text; it starts with its opening bracket.
    """

    def __init__(self) -> None:
        self.depth = 0

    def start(self, text: str) -> int | None:
        """Begin with the refused value's text (its first character is a bracket): where the
        value ends in *text* (the index after it), or None when it goes on after *text*."""
        self.depth = 1
        end = self.feed(text[1:])
        return None if end is None else end + 1

    def feed(self, text: str) -> int | None:
        """Go on with the next text received: where the value ends in it, or None."""
        depth = self.depth
        for start in range(0, len(text), _CHUNK):
            chunk = text[start:start + _CHUNK]
            closes = chunk.count("]") + chunk.count("}")
            if closes >= depth:  # it might end inside this chunk: find where
                levels = accumulate(map(_BRACKET_DEPTH.get, chunk, repeat(0)), initial=depth)
                inside = len(list(takewhile((0).__lt__, levels)))
                if inside <= len(chunk):
                    self.depth = 0
                    return start + inside
            depth += chunk.count("[") + chunk.count("{") - closes
        self.depth = depth
        return None


def json_decoder() -> json.JSONDecoder:
    """A decoder for :func:`decode_json_prefix` (numbers of any length are taken)."""
    return json.JSONDecoder(parse_int=_parse_int)


def decode_json_prefix(decoder: json.JSONDecoder, text: str, what: str) -> tuple[Any, int]:
    """Decode the JSON value at the start of *text*: (value, where it ends).

    :raises json.JSONDecodeError: when the text is not (or not yet) a whole JSON value.
    :raises JsonInputError: when it nests too deep (logged, as :func:`loads_json` does).
    """
    try:
        if not json_too_deep(text):
            return decoder.raw_decode(text)
    except RecursionError:
        pass
    log.warning("refused %s: %s", what, JSON_NESTING_ERROR)
    raise JsonInputError(JSON_NESTING_ERROR)


def dumps_json(value: Any, **options: Any) -> str:
    """Encode *value* (which may hold client JSON nested deep); :raises JsonInputError: when
    it is too deep to encode."""
    try:
        return json.dumps(value, **options)
    except RecursionError:
        raise JsonInputError(JSON_NESTING_ERROR) from None
