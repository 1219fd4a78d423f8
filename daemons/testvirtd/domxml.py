"""Safe parsing and libvirt-style formatting of domain, network, pool and volume XML.

Only ``xml.parsers.expat`` and ``xml.etree.ElementTree`` are used.  Documents coming from
clients are size-limited and may not contain a DOCTYPE (so no external entities and no
entity-expansion bombs are possible).  Errors are reported as :class:`VirtError` with the
codes and texts libvirt's test driver uses.
"""

from __future__ import annotations

import copy
import logging
import random
import re
import uuid as uuidlib
import xml.etree.ElementTree as ET
import xml.parsers.expat
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from netrpc.core.errors import RPCError

from . import domcanon, xmltree
from .textguard import XML_MAX_DEPTH, XML_TOO_DEEP, xml_bytes_problem, xml_position
from .xmlsyntax import Complaint, blank_declaration, check_declaration, first_complaint

__all__ = (
    "MAX_XML_SIZE",
    "DomainDef",
    "ErrCode",
    "ErrDomain",
    "VirtError",
    "check_memory_overflow",
    "esc",
    "format_domain_xml",
    "format_element",
    "format_uuid",
    "memory_kib",
    "parse_domain_xml",
    "parse_size",
    "parse_uuid",
    "parse_xml",
)

#: Largest XML document accepted from a client (bytes, UTF-8).
MAX_XML_SIZE = 1024 * 1024

log = logging.getLogger("testvirtd.xml")

#: expat's "no element found": the document ended early
_NO_ELEMENTS = xml.parsers.expat.errors.codes[xml.parsers.expat.errors.XML_ERROR_NO_ELEMENTS]
#: expat's "unclosed token": the document ended inside markup
_UNCLOSED_TOKEN = xml.parsers.expat.errors.codes[xml.parsers.expat.errors.XML_ERROR_UNCLOSED_TOKEN]
_XML_NAME = re.compile(rb"[^\s/>=<'\"]+")


def _cut_start_tag(raw: bytes, start: int) -> str | None:
    """What libxml2 says when the document ends inside the start tag at *start* (None when
    the token there is not a start tag)."""
    name = _XML_NAME.match(raw, start + 1)
    if raw[start:start + 1] != b"<" or name is None or raw[start + 1:start + 2] in b"!?/":
        return None  # not a start tag (a comment, declaration, instruction or end tag)
    tag = name.group().decode("utf-8", "replace")
    tag_line = raw.count(b"\n", 0, start) + 1
    pos, end = name.end(), len(raw)
    after_value = False
    while True:
        spaced = pos
        while pos < end and raw[pos:pos + 1].isspace():
            pos += 1
        if after_value and pos == spaced:
            return "attributes construct error"
        if pos >= end:
            return f"Couldn't find end of Start Tag {tag} line {tag_line}"
        attr = _XML_NAME.match(raw, pos)
        if attr is None:
            return None
        pos = attr.end()
        while pos < end and raw[pos:pos + 1].isspace():
            pos += 1
        if pos >= end or raw[pos:pos + 1] != b"=":
            return ("Specification mandates value for attribute "
                    f"{attr.group().decode('utf-8', 'replace')}")
        pos += 1
        while pos < end and raw[pos:pos + 1].isspace():
            pos += 1
        quote = raw[pos:pos + 1]
        if quote not in (b"'", b'"'):
            return "AttValue: \" or ' expected"
        close = raw.find(quote, pos + 1)
        if close < 0:
            return f"AttValue: {quote.decode()} expected"
        pos = close + 1
        after_value = True


class ErrCode:
    """``virErrorNumber`` values used by the test hypervisor."""

    INTERNAL_ERROR = 1
    NO_SUPPORT = 3
    INVALID_ARG = 8
    OPERATION_FAILED = 9
    NO_SOURCE = 19
    NO_TARGET = 20
    NO_NAME = 21
    XML_ERROR = 27
    XML_DETAIL = 35
    NO_DOMAIN = 42
    NO_NETWORK = 43
    NO_STORAGE_POOL = 49
    NO_STORAGE_VOL = 50
    OPERATION_INVALID = 55
    CONFIG_UNSUPPORTED = 67
    ARGUMENT_UNSUPPORTED = 74
    OVERFLOW = 82
    AGENT_UNRESPONSIVE = 86


class ErrDomain:
    """``virErrorDomain`` values used by the test hypervisor."""

    NONE = 0
    XML = 5
    QEMU = 10
    NET = 11
    TEST = 12
    STORAGE = 18
    NETWORK = 19
    DOMAIN = 20
    CPU = 31
    DEVICE = 49


class VirtError(RPCError):
    """An error as libvirt's drivers raise it (``virError``).

    It is an :class:`netrpc.core.errors.RPCError`, so a procedure handler can let it propagate and
    the client receives exactly these fields.  ``str1`` usually holds the message template and
    ``str2`` its argument, as ``virRaiseError`` fills them.
    """

    def __init__(
        self,
        code: int,
        domain: int,
        message: str,
        *,
        level: int = 2,
        str1: str | None = None,
        str2: str | None = None,
        str3: str | None = None,
        int1: int = -1,
        int2: int = -1,
    ) -> None:
        super().__init__(
            code,
            domain,
            message,
            level=level,
            str1=str1,
            str2=str2,
            str3=str3,
            int1=int1,
            int2=int2,
        )

    @classmethod
    def fmt(cls, code: int, domain: int, template: str, info: str | None = None) -> VirtError:
        """Build an error from a one-``%s`` template, filling str1/str2 as libvirt does."""
        if info is None:
            return cls(code, domain, template, str1=template)
        return cls(code, domain, template.replace("%s", info, 1), str1=template, str2=info)

    @classmethod
    def internal_error(cls, domain: int, info: str) -> VirtError:
        """``internal error: <info>`` (code 1)."""
        return cls.fmt(ErrCode.INTERNAL_ERROR, domain, "internal error: %s", info)

    @classmethod
    def invalid(cls, domain: int, info: str) -> VirtError:
        """``Requested operation is not valid: <info>`` (code 55)."""
        return cls.fmt(
            ErrCode.OPERATION_INVALID, domain, "Requested operation is not valid: %s", info
        )

    @classmethod
    def failed(cls, domain: int, info: str) -> VirtError:
        """``operation failed: <info>`` (code 9)."""
        return cls.fmt(ErrCode.OPERATION_FAILED, domain, "operation failed: %s", info)

    @classmethod
    def xml_error(cls, domain: int, info: str) -> VirtError:
        """``XML error: <info>`` (code 27)."""
        return cls.fmt(ErrCode.XML_ERROR, domain, "XML error: %s", info)

    @classmethod
    def api_invalid_arg(cls, domain: int, api: str, arg: str, text: str) -> VirtError:
        """``virReportInvalidArg`` of a public API entry point: the text alone (no
        "invalid argument" prefix), the API and the argument's name in str1/str2."""
        return cls(ErrCode.INVALID_ARG, domain, text, str1=api, str2=arg, int1=0, int2=0)

    @classmethod
    def no_support(cls, domain: int, function: str) -> VirtError:
        """``this function is not supported by the connection driver: <function>``."""
        return cls.fmt(
            ErrCode.NO_SUPPORT,
            domain,
            "this function is not supported by the connection driver: %s",
            function,
        )

    @classmethod
    def bad_flags(cls, function: str, flags: int) -> VirtError:
        """What ``virCheckFlags`` reports (its str1/str2/int fields are peculiar)."""
        return cls(
            ErrCode.INVALID_ARG,
            ErrDomain.TEST,
            f"unsupported flags (0x{flags:x}) in function {function}",
            str1=function,
            str2="flags",
            int1=0,
            int2=0,
        )

    @classmethod
    def bad_argument(cls, api: str, argument: str, requirement: str,
                     domain: int = 20) -> VirtError:
        """What a public API's argument check reports (``virCheckPositiveArg`` and
        friends): "*argument* in *api* *requirement*", e.g. ``must not be zero``."""
        return cls(ErrCode.INVALID_ARG, domain, f"{argument} in {api} {requirement}",
                   str1=api, str2=argument, int1=0, int2=0)

    def __repr__(self) -> str:
        return f"VirtError(code={self.code}, domain={self.domain}, message={self.message!r})"


# --------------------------------------------------------------------------------------------
# Safe parsing


class _NoDtd(Exception):
    pass


class _TooDeep(Exception):
    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def parse_xml(
    text: str | bytes, root: str | None, *, context: str, err_domain: int,
    bare_context: bool = False
) -> ET.Element:
    """Parse a client document safely and check its root element name.

    The bytes are read as UTF-8 whatever the XML declaration says, as libvirtd's libxml2 reads
    the strings it is given; an encoding libxml2 does not know, bytes that are not UTF-8 and
    elements nested deeper than libxml2 allows are refused with libxml2's texts (see
    :mod:`~daemons.testvirtd.textguard`), and logged (one line each).

    :param context: libvirt's document label (``domain_definition``, ``network_definition``,
        ``storage_pool_definition``, ``storage_volume_definition``), used in parse errors.
    :param err_domain: the error domain for parse errors (20 for domains, 18 storage, ...).
    :param root: the root element's name (None: any).
    :param bare_context: the label is written without parentheses (as libvirt's
        ``network_update_xml``).
    :raises VirtError: code 35 for syntax errors, a DOCTYPE or an oversized document; code 27
        domain 5 for a wrong root element.
    """
    raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else bytes(text)
    # libvirtd takes the document as a C string: it ends at the first NUL
    nul = raw.find(b"\0")
    if nul >= 0:
        raw = raw[:nul]

    def detail(line: int, msg: str, line_text: str | None, col: int) -> VirtError:
        shown = "(null)" if line_text is None else line_text
        label = context if bare_context else f"({context})"
        full = f"{label}:{line}: {msg}\n{shown}\n{'-' * col}^"
        return VirtError(ErrCode.XML_DETAIL, err_domain, full, str1="%s", str2=full)

    def refused(offset: int, msg: str) -> VirtError:
        line, line_text, col = xml_position(raw, offset)
        log.warning("refused %s: %s (line %d)", context, msg.split("\n", 1)[0], line)
        return detail(line, msg, line_text, col)

    if len(raw) > MAX_XML_SIZE:
        raise detail(1, f"Document is too large (more than {MAX_XML_SIZE} bytes)", None, 0)
    if not raw:  # (blanks alone are "Start tag expected", see xmlsyntax)
        raise detail(1, "Document is empty", None, 0)

    builder = ET.TreeBuilder()
    # The declared encoding is overridden: libxml2 reads libvirt's strings as UTF-8 too.
    parser = xml.parsers.expat.ParserCreate("UTF-8")
    depth = 0
    #: (tag, line) of each open element, for libxml2's "Premature end of data" message
    open_tags: list[tuple[str, int]] = []

    # Any DOCTYPE is refused outright: that rules out external entities, parameter entities
    # and entity-expansion bombs without having to reason about expat's defaults.
    def refuse(*_args: Any) -> None:
        raise _NoDtd

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        if depth >= XML_MAX_DEPTH:
            raise _TooDeep(parser.CurrentByteIndex)  # where the refused tag starts
        depth += 1
        open_tags.append((tag, parser.CurrentLineNumber))
        builder.start(tag, attrs)

    def end(tag: str) -> None:
        nonlocal depth
        depth -= 1
        open_tags.pop()
        builder.end(tag)

    def doctype(_name: str, system_id: str | None, public_id: str | None,
                internal_subset: bool) -> None:
        # a bare <!DOCTYPE name> declares nothing (libxml2 takes it); anything else is refused
        if system_id is not None or public_id is not None or internal_subset:
            raise _NoDtd

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = refuse
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.ordered_attributes = False

    # What libxml2 refuses in the bytes themselves is found first, but reported only if the
    # document is well-formed up to there (libxml2 reads from the start and stops at the
    # first problem).
    problem = xml_bytes_problem(raw)

    def complained(complaint: Complaint) -> VirtError:
        line, line_text, col = xml_position(raw, complaint.offset)
        shown = (line_text or None) if complaint.at_end else line_text
        return detail(line, complaint.message, shown, col)

    # libxml2's own complaint, in libxml2's words (see xmlsyntax): the XML declaration is
    # checked always (expat takes versions libxml2 refuses); the whole document is walked
    # only when something is wrong (expat is much faster on a sound document), or when
    # textguard found bytes libxml2 refuses (the walk may find a syntax error before them).
    complaint, declaration = check_declaration(raw)
    if complaint is None and problem is not None:
        complaint = first_complaint(raw)
    if complaint is not None and (problem is None or complaint.offset <= problem.offset):
        raise complained(complaint)
    # A declaration libxml2 takes has served its purpose (its encoding is overridden, and a
    # DTD is refused whatever "standalone" says): expat, stricter about it, never sees it.
    parsed = raw if declaration is None else blank_declaration(raw, declaration)
    try:
        if problem is None:
            parser.Parse(parsed, True)
        else:
            parser.Parse(parsed[:problem.offset], False)
    except _NoDtd:
        line = parser.CurrentLineNumber
        raise detail(
            line,
            "DOCTYPE and entity declarations are not allowed",
            xml_position(raw, parser.CurrentByteIndex)[1],
            parser.CurrentColumnNumber,
        ) from None
    except _TooDeep as exc:
        raise refused(exc.offset, XML_TOO_DEEP) from None
    except xml.parsers.expat.ExpatError as exc:
        complaint = first_complaint(raw) if problem is None else None
        if complaint is not None:
            raise complained(complaint) from None
        if exc.code == _NO_ELEMENTS and open_tags:
            # The document ended inside an element: libxml2 names the innermost one and
            # points at the end of the text (no line shown after a final newline).
            tag, tag_line = open_tags[-1]
            line, text, col = xml_position(raw, len(raw))
            raise detail(line, f"Premature end of data in tag {tag} line {tag_line}",
                         text or None, col) from None
        at = max(0, min(parser.ErrorByteIndex, len(raw)))
        cut = _cut_start_tag(raw, at) if exc.code == _UNCLOSED_TOKEN else None
        if cut is not None:
            # The document ended inside a start tag: libxml2's words for where it stopped.
            line, text, col = xml_position(raw, len(raw))
            raise detail(line, cut, text or None, col) from None
        known = _libxml2_complaint(exc.code, raw, at, open_tags)
        if known is not None:
            msg, where = known
            line, line_text, col = xml_position(raw, where)
            raise detail(line, msg, line_text, col) from None
        msg = xml.parsers.expat.ErrorString(exc.code) or str(exc)
        msg = msg[:1].upper() + msg[1:]
        line_text = xml_position(raw, at)[1]
        raise detail(exc.lineno, msg, line_text, exc.offset) from None
    if problem is not None:
        raise refused(problem.offset, problem.message)
    elem = builder.close()
    if root is not None and elem.tag != root:
        raise VirtError.fmt(
            ErrCode.XML_ERROR,
            ErrDomain.XML,
            "XML error: %s",
            f"expecting root element of '{root}', not '{elem.tag}'",
        )
    return elem


_EXPAT = xml.parsers.expat.errors.codes
_NAME_AT = re.compile(rb"[^\s=/>]+")
_INVALID_TOKEN = _EXPAT[xml.parsers.expat.errors.XML_ERROR_INVALID_TOKEN]
#: what may start an XML name (ASCII letters, "_", ":" and anything beyond ASCII)
_NAME_START = re.compile(rb"[A-Za-z_:\x80-\xff]")
_XML_SPACE = b" \t\r\n"


def _skip_space(raw: bytes, pos: int) -> int:
    while pos < len(raw) and raw[pos] in _XML_SPACE:
        pos += 1
    return pos


def _start_tag_problem(raw: bytes, lt: int) -> tuple[str, int] | None:
    """libxml2's complaint about the start tag at *lt* (None: it finds none before the
    end of the tag), scanning it as libxml2's xmlParseStartTag2 does."""
    name = _XML_NAME.match(raw, lt + 1)
    if not _NAME_START.match(raw, lt + 1) or name is None:
        return "StartTag: invalid element name", lt + 1
    pos, end = name.end(), len(raw)
    while True:
        spaced = pos
        pos = _skip_space(raw, pos)
        if pos >= end or raw[pos:pos + 1] == b">" or raw.startswith(b"/>", pos):
            return None
        if pos == spaced and raw[pos - 1:pos] in (b"'", b'"'):
            return "attributes construct error", pos
        attr = _XML_NAME.match(raw, pos)
        if not _NAME_START.match(raw, pos) or attr is None:
            return "error parsing attribute name", pos
        pos = _skip_space(raw, attr.end())
        if raw[pos:pos + 1] != b"=":
            return (f"Specification mandates value for attribute "
                    f"{attr.group().decode('utf-8', 'replace')}", pos)
        pos = _skip_space(raw, pos + 1)
        quote = raw[pos:pos + 1]
        if quote not in (b"'", b'"'):
            return "AttValue: \" or ' expected", pos
        close = raw.find(quote, pos + 1)
        if close < 0:
            return None  # the document ends inside it (see _cut_start_tag)
        less = raw.find(b"<", pos + 1, close)
        if less >= 0:
            return "Unescaped '<' not allowed in attributes values", less
        pos = close + 1


def _invalid_token(raw: bytes, index: int) -> tuple[str, int] | None:
    """libxml2's words for what expat calls an invalid token at *index*."""
    lt = raw.rfind(b"<", 0, index)  # the tag the bad byte is in (or the "<" before it)
    if lt >= 0 and raw.find(b">", lt, index) < 0 and raw[lt + 1:lt + 2] not in (b"/", b"?") \
            and not raw.startswith(b"<!--", lt) and not raw.startswith(b"<![CDATA[", lt):
        return _start_tag_problem(raw, lt)  # inside a start tag (or a bad one)
    amp = raw.rfind(b"&", 0, index + 1)
    if amp >= 0 and raw.find(b";", amp, index) < 0 and amp >= index - 64:
        name = re.compile(rb"[A-Za-z_:\x80-\xff][^\s;&<]*").match(raw, amp + 1)
        if name is None:
            return "xmlParseEntityRef: no name", amp + 1
        if raw[name.end():name.end() + 1] != b";":
            return "EntityRef: expecting ';'", name.end()
    seq = raw.rfind(b"]]>", max(0, index - 2), index + 1)
    if seq >= 0:
        return "Sequence ']]>' not allowed in content", seq
    return None


def _libxml2_complaint(
    code: int, raw: bytes, index: int, open_tags: list[tuple[str, int]]
) -> tuple[str, int] | None:
    """libxml2's message for the well-formedness error expat found at *index*, and where
    libxml2 reports it (None: no equivalent known, expat's text is used)."""
    name_match = _NAME_AT.match(raw, index)
    name = name_match.group().decode("utf-8", "replace") if name_match else ""
    if code == _EXPAT[xml.parsers.expat.errors.XML_ERROR_JUNK_AFTER_DOC_ELEMENT]:
        return "Extra content at the end of the document", index
    if code == _EXPAT[xml.parsers.expat.errors.XML_ERROR_TAG_MISMATCH] and open_tags:
        tag, line = open_tags[-1]
        close = raw.find(b">", index)
        where = close + 1 if close >= 0 else len(raw)
        return f"Opening and ending tag mismatch: {tag} line {line} and {name}", where
    if code == _EXPAT[xml.parsers.expat.errors.XML_ERROR_DUPLICATE_ATTRIBUTE]:
        # reported after the repeated attribute's value
        quoted = re.compile(rb"\s*=\s*(\"[^\"]*\"|'[^']*')").match(raw, index + len(name))
        where = quoted.end() if quoted else index
        return f"Attribute {name} redefined", where
    ref = re.compile(rb"&(#?)([^;]*);").match(raw, index)
    if code == _EXPAT[xml.parsers.expat.errors.XML_ERROR_UNDEFINED_ENTITY] and ref:
        return f"Entity '{ref.group(2).decode('utf-8', 'replace')}' not defined", ref.end()
    if code == _EXPAT[xml.parsers.expat.errors.XML_ERROR_BAD_CHAR_REF] and ref and ref.group(1):
        digits = ref.group(2).decode("ascii", "replace")
        try:
            value = int(digits[1:], 16) if digits[:1] in ("x", "X") else int(digits)
        except ValueError:
            return None
        return f"xmlParseCharRef: invalid xmlChar value {value}", ref.end()
    if code == _INVALID_TOKEN:
        return _invalid_token(raw, index)
    if code == _UNCLOSED_TOKEN and raw.startswith(b"<!--", index):
        return "Comment not terminated", len(raw)
    pi = re.compile(rb"<\?([^\s?]+)").match(raw, index)
    if code == _UNCLOSED_TOKEN and pi:
        return f"ParsePI: PI {pi.group(1).decode('utf-8', 'replace')} never end ...", len(raw)
    if code == _UNCLOSED_TOKEN and raw.startswith(b"</", index):
        return "expected '>'", len(raw)
    if code == _EXPAT[xml.parsers.expat.errors.XML_ERROR_SYNTAX] and not open_tags:
        return "Start tag expected, '<' not found", index
    return None


# --------------------------------------------------------------------------------------------
# Small value helpers

_UNITS: dict[str, int] = {
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kb": 1000,
    "k": 1024,
    "kib": 1024,
    "mb": 1000**2,
    "m": 1024**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "g": 1024**3,
    "gib": 1024**3,
    "tb": 1000**4,
    "t": 1024**4,
    "tib": 1024**4,
    "pb": 1000**5,
    "p": 1024**5,
    "pib": 1024**5,
    "eb": 1000**6,
    "e": 1024**6,
    "eib": 1024**6,
}


def parse_size(value: str, unit: str | None, default_unit: str, err_domain: int) -> int:
    """Convert a libvirt scaled integer (``<memory unit='MiB'>512</memory>``) to bytes."""
    scale = _UNITS.get((unit or default_unit).lower())
    if scale is None:
        raise VirtError.fmt(
            ErrCode.INVALID_ARG, err_domain, "invalid argument: %s", f"unknown suffix '{unit}'"
        )
    try:
        number = int(value.strip(), 0 if value.strip().startswith("0x") else 10)
    except ValueError:
        raise VirtError.xml_error(err_domain, f"Invalid value '{value.strip()}'") from None
    if number < 0:
        raise VirtError.xml_error(err_domain, f"Invalid value '{value.strip()}'")
    return number * scale


#: the most bytes a memory size may scale to (LLONG_MAX)
_MEMORY_MAX = 2**63 - 1


def check_memory_overflow(number: int, unit: str | None) -> None:
    """A memory size of *number* in *unit* (KiB when none) against what
    ``virDomainParseMemory`` takes: scaled to bytes within a signed 64-bit number, and
    below 2**53 KiB once rounded up.

    :raises VirtError: libvirt's numerical overflow error."""
    scale = parse_size("1", unit, "KiB", ErrDomain.NONE)
    if number > _MEMORY_MAX // scale:
        raise VirtError.fmt(ErrCode.OVERFLOW, ErrDomain.NONE, "numerical overflow: %s",
                            f"value too large: {number}{unit or ''}")
    if -(-number * scale // 1024) >= -(-_MEMORY_MAX // 1024):
        raise VirtError.fmt(ErrCode.OVERFLOW, ErrDomain.DOMAIN, "numerical overflow: %s",
                            "size value too large")


def memory_kib(number: int, unit: str | None) -> int:
    """*number* in *unit* (KiB when none), a unit already checked, in KiB rounded up."""
    return -(-number * parse_size("1", unit, "KiB", ErrDomain.NONE) // 1024)


def _memory_kib(elem: ET.Element | None, xpath: str) -> int | None:
    """<memory> or <currentMemory> in KiB (rounded up), read as libvirt's memory reader
    reads it (a decimal, its unit, its limits); None when absent or empty."""
    from . import domsections

    text = "".join(elem.itertext()) if elem is not None else ""
    if elem is None or not text:
        return None
    unit = elem.get("unit")
    domsections.scaled_value(elem, xpath, text, unit, memory=True)
    number = domcanon.c_number(text)
    assert number is not None  # (checked above)
    return memory_kib(number, unit)


# virUUIDParse: blanks around, dashes or spaces between (not inside) the sixteen bytes
_UUID_RE = re.compile(r"[ \t\n\v\f\r]*((?:[- ]*[0-9a-fA-F]{2}){16})[ \t\n\v\f\r]*")


def parse_uuid(value: str | bytes) -> bytes:
    """Accept 16 raw bytes or the textual form (as ``virUUIDParse``: dashes or spaces between
    bytes, blanks around) and return bytes.

    :raises ValueError: if it is not a UUID.
    """
    if isinstance(value, bytes | bytearray):
        if len(value) != 16:
            raise ValueError("a raw UUID has 16 bytes")
        return bytes(value)
    m = _UUID_RE.fullmatch(value)
    if m is None:
        raise ValueError(f"malformed uuid {value!r}")
    return bytes.fromhex(m.group(1).replace("-", "").replace(" ", ""))


def format_uuid(raw: bytes) -> str:
    """The canonical ``8-4-4-4-12`` text of a raw UUID."""
    return str(uuidlib.UUID(bytes=raw))


def random_uuid() -> bytes:
    """A fresh random (version 4) UUID."""
    return uuidlib.uuid4().bytes


def random_mac() -> str:
    """A MAC in the QEMU/KVM range 52:54:00, which libvirt uses for generated addresses."""
    return "52:54:00:" + ":".join(f"{random.randrange(256):02x}" for _ in range(3))


# --------------------------------------------------------------------------------------------
# libvirt-style serialisation of element trees


def esc(text: str) -> str:
    """*text* escaped for XML text and attributes."""
    # libvirt's escaping (virBufferEscapeString) handles quotes in text too.
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
    )


def format_element(elem: ET.Element, indent: int) -> str:
    """Serialise *elem* the way libvirt's formatters do.

    Two spaces per level, single-quoted attributes, ``<x/>`` for empty elements, text-only
    elements on one line; whitespace-only text between children is dropped.
    """
    pad = " " * indent
    attrs = "".join(f" {k}='{esc(v)}'" for k, v in elem.attrib.items())
    children = list(elem)
    if not children and elem.text is domcanon.OPEN_EMPTY:
        return f"{pad}<{elem.tag}{attrs}>\n{pad}</{elem.tag}>\n"
    text = elem.text or ""
    if not children:
        if text.strip() or (text and not text.isspace()):
            return f"{pad}<{elem.tag}{attrs}>{esc(text)}</{elem.tag}>\n"
        return f"{pad}<{elem.tag}{attrs}/>\n"
    out = [f"{pad}<{elem.tag}{attrs}>\n"]
    if text.strip():
        out.append(f"{pad}  {esc(text.strip())}\n")
    for child in children:
        out.append(format_element(child, indent + 2))
        if child.tail and child.tail.strip():
            out.append(f"{pad}  {esc(child.tail.strip())}\n")
    out.append(f"{pad}</{elem.tag}>\n")
    return "".join(out)


def _strip_ws(elem: ET.Element) -> ET.Element:
    """A deep copy of *elem* without ignorable whitespace text, for compact storage."""
    clone = copy.deepcopy(elem)
    for node in clone.iter():
        if len(node) and node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return clone


# --------------------------------------------------------------------------------------------
# Domain definitions

#: Values libvirt accepts for <domain type=...> (virDomainVirtType).
DOMAIN_TYPES = frozenset(
    {
        "none",
        "qemu",
        "kqemu",
        "kvm",
        "xen",
        "lxc",
        "uml",
        "openvz",
        "test",
        "vmware",
        "hyperv",
        "vbox",
        "phyp",
        "parallels",
        "bhyve",
        "vz",
        "hvf",
    }
)

#: Top-level elements kept verbatim, in the order libvirt writes them; others are dropped
#: (as the real test driver drops elements it does not know).
_BEFORE_MEMORY = ("genid", "maxMemory")
_AFTER_MEMORY = ("blkiotune", "memtune", "memoryBacking")
_AFTER_VCPU = (
    "vcpus",
    "iothreads",
    "iothreadids",
    "defaultiothread",
    "cputune",
    "numatune",
    "resource",
    "sysinfo",
    "bootloader",
    "bootloader_args",
)
#: the order of <os> children in libvirt's formatter
_OS_ORDER = (
    "firmware", "loader", "nvram", "init", "initarg", "initenv", "initdir", "inituser",
    "initgroup", "kernel", "initrd", "cmdline", "shim", "dtb", "acpi", "boot", "bootmenu",
    "bios", "smbios",
)
_OS_RANK = {name: i for i, name in enumerate(_OS_ORDER)}
_AFTER_OS = ("idmap", "features", "cpu")
_AFTER_LIFECYCLE = ("on_lockfailure", "pm", "perf")
_AFTER_DEVICES = ("seclabel", "keywrap", "launchSecurity")
_PASSTHROUGH = frozenset(
    _BEFORE_MEMORY + _AFTER_MEMORY + _AFTER_VCPU + _AFTER_OS + _AFTER_LIFECYCLE + _AFTER_DEVICES
)

_LIFECYCLE_ACTIONS = frozenset(
    {
        "destroy",
        "restart",
        "rename-restart",
        "preserve",
        "coredump-destroy",
        "coredump-restart",
    }
)


@dataclass
class DomainDef:
    """A parsed domain definition (the parts the test hypervisor models, plus verbatim XML).

    Memory values are KiB.  ``extra`` holds known top-level elements kept as given, and
    ``devices`` the device elements, both re-serialised in libvirt's order.
    """

    type: str
    name: str
    uuid: bytes
    memory_kib: int
    current_memory_kib: int
    vcpus: int
    current_vcpus: int | None = None
    vcpu_attrs: dict[str, str] = field(default_factory=dict)
    title: str | None = None
    description: str | None = None
    os_type: str = "hvm"
    os_arch: str = "i686"
    os_machine: str | None = None
    os_children: list[ET.Element] = field(default_factory=list)
    #: attributes of ``<os>`` (firmware autoselection)
    os_attrs: dict[str, str] = field(default_factory=dict)
    clock: ET.Element | None = None
    on_poweroff: str = "destroy"
    on_reboot: str = "restart"
    on_crash: str = "destroy"
    extra: dict[str, list[ET.Element]] = field(default_factory=dict)
    devices: list[ET.Element] = field(default_factory=list)
    #: ``<metadata>`` as libvirt keeps it (see :mod:`.xmltree`)
    metadata: xmltree.Element | None = None

    @property
    def uuid_str(self) -> str:
        """The UUID in its textual form."""
        return format_uuid(self.uuid)

    def copy(self) -> DomainDef:
        """A deep copy (definitions are mutable; live and config copies must not alias).

        libvirt copies a definition by formatting and parsing it again; of what testvirtd
        keeps, the order of the devices (sorted by the parser where the first parse kept
        the given order) and ``<metadata>`` (formatting whitespace dropped) can change on
        the way.
        """
        new = copy.deepcopy(self)
        # imported here: domdevices builds on this module's errors and helpers
        from .domdevices import normalise_devices

        # parsed again, the written devices come back in libvirt's insertion order
        new.devices = normalise_devices(
            new.devices, virt_type=new.type, os_type=new.os_type, arch=new.os_arch,
            numa_nodes=sum(len(cpu.findall("numa/cell")) for cpu in new.extra.get("cpu", [])))
        if new.metadata is not None:
            new.metadata = xmltree.reparse_metadata(new.metadata)
        return new

    def interface_macs(self) -> list[str]:
        """MAC addresses of the domain's interfaces, in device order."""
        macs = []
        for dev in self.devices:
            if dev.tag == "interface":
                mac = dev.find("mac")
                if mac is not None and mac.get("address"):
                    macs.append(mac.get("address", ""))
        return macs


def _raw_text(elem: ET.Element | None) -> str | None:
    """An element's text as XPath ``string()`` reads it, blanks kept (None when empty, as
    libvirt's virXPathString answers)."""
    if elem is None:
        return None
    return "".join(elem.itertext()) or None


def _text(elem: ET.Element | None) -> str | None:
    """An element's text as libvirt's XPath ``string()`` reads it (the text of its
    descendants too), stripped."""
    if elem is None:
        return None
    return "".join(elem.itertext()).strip()


def _config_unsupported(info: str) -> VirtError:
    return VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, ErrDomain.DOMAIN,
                         "unsupported configuration: %s", info)


def _check_required(root: ET.Element, tags: tuple[str, ...]) -> None:
    """Refuse the first of the sections *tags* that lacks an attribute libvirt requires."""
    sections = [(e, tag) for tag in tags for e in root.findall(tag)]
    for elem, path in sections:
        missing = domcanon.missing_attribute(elem, path)
        if missing is not None:
            raise VirtError.xml_error(
                ErrDomain.XML,
                f"Missing required attribute '{missing[1]}' in element '{missing[0]}'")


def parse_domain_xml(
    text: str | bytes, *, default_arch: str = "i686", allowed_types: Iterable[str] | None = None
) -> DomainDef:
    """Parse and validate client domain XML (the subset libvirt's test driver checks).

    :param default_arch: arch filled in when ``<type>`` has none (i686 for the test host).
    :param allowed_types: restrict ``<domain type=...>`` further (for a flavour).
    :raises VirtError: with the test driver's codes and messages.
    """
    dom = ErrDomain.DOMAIN
    root = parse_xml(text, "domain", context="domain_definition", err_domain=dom)
    # libvirt's order: name and UUID, then the type; the '/' check comes after parsing
    name = _text(root.find("name"))
    if not name:
        raise VirtError(
            ErrCode.NO_NAME, dom, "missing name information", str1="missing name information"
        )

    uuid_text = _text(root.find("uuid"))
    if uuid_text is None:
        raw_uuid = random_uuid()
    else:
        try:
            raw_uuid = parse_uuid(uuid_text)
        except ValueError:
            raise VirtError.internal_error(dom, "malformed uuid element") from None
    # imported here: domsections builds on this module's errors
    from . import domsections

    domsections.check_ids(root)

    dtype = root.get("type")
    if dtype is None:
        raise VirtError.internal_error(dom, "missing domain type attribute")
    if dtype not in DOMAIN_TYPES:
        raise VirtError.fmt(
            ErrCode.CONFIG_UNSUPPORTED,
            dom,
            "unsupported configuration: %s",
            f"invalid domain type {dtype}",
        )
    if allowed_types is not None and dtype not in set(allowed_types):
        raise VirtError.fmt(
            ErrCode.CONFIG_UNSUPPORTED,
            dom,
            "unsupported configuration: %s",
            f"domain type '{dtype}' is not supported by this host "
            f"(expecting one of {', '.join(sorted(allowed_types))})",
        )
    os_elem = root.find("os")
    type_elem = os_elem.find("type") if os_elem is not None else None
    os_type = _text(type_elem)
    if (type_elem is None or not os_type) and root.find("bootloader") is not None:
        # a guest with a bootloader and no OS type is paravirtualised, as libvirt decides
        os_elem = os_elem if os_elem is not None else ET.Element("os")
        type_elem = ET.SubElement(os_elem, "type")
        type_elem.text = os_type = "xen"
    if os_elem is None or type_elem is None or not os_type:
        raise VirtError.xml_error(dom, "an os <type> must be specified")
    if os_type == "linux":
        os_type = "xen"  # libvirt's historical alias
    if os_type == "exe" and os_elem.find("init") is None:
        raise VirtError.xml_error(dom, "init binary must be specified")
    if os_type not in ("hvm", "xen", "exe"):
        raise VirtError.fmt(
            ErrCode.CONFIG_UNSUPPORTED,
            dom,
            "unsupported configuration: %s",
            f"unknown OS type '{os_type}'",
        )
    assert type_elem is not None
    domsections.check_title(root)
    domsections.check_seclabels(root)

    given_kib = _memory_kib(root.find("memory"), "./memory[1]")
    current_given = _memory_kib(root.find("currentMemory"), "./currentMemory[1]")
    domsections.check_memory_sections(root)

    vcpu_elem = root.find("vcpu")
    vcpus = 1
    vcpu_attrs: dict[str, str] = {"placement": "static"}
    current_vcpus: int | None = None
    if vcpu_elem is not None:
        try:
            vcpus = int(_text(vcpu_elem) or "1")
            if vcpus < 1:
                raise ValueError
        except ValueError:
            raise VirtError.xml_error(dom, "maximum vcpus count must be an integer") from None
        if vcpus > domsections.MAX_VCPUS:
            # libvirt makes room for every vCPU at once (and fails on 2**32 - 1 of them)
            raise _config_unsupported(
                f"at most {domsections.MAX_VCPUS} vCPUs are supported ({vcpus} given)")
        for key in ("placement", "cpuset"):
            if vcpu_elem.get(key):
                vcpu_attrs[key] = vcpu_elem.get(key, "")
        current_vcpus = domsections.prop_uint(vcpu_elem, "current")
        if current_vcpus is not None:
            if current_vcpus > vcpus:
                raise _config_unsupported(
                    "maximum vCPU count must not be less than current vCPU count")
            if current_vcpus == vcpus:
                current_vcpus = None
        domsections.bitmap(vcpu_elem, "cpuset")
    domsections.check_vcpu_sections(root)
    cpu = root.find("cpu")
    if cpu is not None:
        domsections.check_cpu(cpu)
    domsections.check_numa(root, vcpus)
    domsections.check_numatune(root)
    for features in root.findall("features"):
        domsections.check_features(features)
    listed = root.findall("vcpus/vcpu")
    if listed and current_vcpus is None:
        # the vCPUs listed enabled are the ones online
        enabled = sum(1 for v in listed if v.get("enabled") == "yes")
        if 0 < enabled < vcpus:
            current_vcpus = enabled

    os_children = [_strip_ws(c) for c in os_elem if c.tag != "type"]
    # (<crypto> is not read: its boot order is none)
    per_device_boot = any(d.tag != "crypto" for d in root.findall("devices/*[boot]"))
    if os_type == "hvm" and not per_device_boot and root.find("bootloader") is None \
            and not any(c.tag == "boot" for c in os_children):
        # libvirt boots an HVM guest from its disk unless told otherwise (a direct kernel
        # boot included)
        os_children.append(ET.Element("boot", {"dev": "hd"}))
    # libvirt's formatter writes the <os> children in its own order
    os_children.sort(key=lambda c: _OS_RANK.get(c.tag, len(_OS_RANK)))

    lifecycle: dict[str, str] = {}
    for tag, default in (
        ("on_poweroff", "destroy"),
        ("on_reboot", "restart"),
        ("on_crash", "destroy"),
    ):
        value = _text(root.find(tag)) or default
        if value not in _LIFECYCLE_ACTIONS:
            raise _config_unsupported(f"unknown {tag} action: {value}")
        lifecycle[tag] = value
    domsections.check_pm(root)
    domsections.check_perf(root)
    domsections.check_clock(root)
    if os_type == "hvm":
        # (only an HVM guest's boot devices are read)
        domsections.check_boot_devices(root)

    extra: dict[str, list[ET.Element]] = {}
    for child in root:
        if child.tag in _PASSTHROUGH:
            extra.setdefault(child.tag, []).append(_strip_ws(child))
    domcanon.fill_iothread_ids(extra)
    if vcpu_attrs.get("placement") == "auto" and "numatune" not in extra:
        # automatic vCPU placement implies automatic memory placement
        numatune = ET.Element("numatune")
        ET.SubElement(numatune, "memory", {"mode": "strict", "placement": "auto"})
        extra["numatune"] = [numatune]

    metadata = None
    if root.find("metadata") is not None:
        raw = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else bytes(text)
        metadata = xmltree.metadata_from_document(xmltree.parse_document(raw, keep_blanks=False))

    clock = root.find("clock")
    devices_elem = root.find("devices")
    # imported here: domdevices builds on this module's errors and helpers
    from .domdevices import memory_device_kib, normalise_devices

    memory_kib = current_kib = 0

    def after_devices() -> None:
        nonlocal memory_kib, current_kib
        # the id maps, sysinfo and the key wrapping are read after the devices
        domsections.check_idmap(root)
        _check_required(root, ("sysinfo",))
        domsections.check_keywrap(root)
        # the post-parse starts with the memory size: the total given, else the NUMA
        # cells' memory and the memory devices' added up
        total = given_kib or 0
        cells_kib = 0 if total else sum(
            -(-parse_size(c.get("memory", ""), c.get("unit"), "KiB", dom) // 1024)
            for c in root.findall("cpu/numa/cell"))
        hotplug = sum(memory_device_kib(d) for d in root.findall("devices/memory"))
        if cells_kib:
            total = cells_kib + hotplug
        elif hotplug > total:
            raise VirtError.xml_error(
                dom, "Total size of memory devices exceeds the total memory size")
        if total == hotplug:
            raise VirtError.xml_error(
                dom, "Memory size must be specified via <memory> or in the <numa> configuration")
        memory_kib = total
        # (no current size, or one above the total, is the total)
        current_kib = memory_kib if not current_given else min(current_given, memory_kib)
        # then the maximum size (with its slots) is checked against it
        max_memory = root.find("maxMemory")
        max_text = "".join(max_memory.itertext()) if max_memory is not None else ""
        max_kib = -(-parse_size(max_text, max_memory.get("unit"), "KiB", dom) // 1024) \
            if max_memory is not None and max_text else 0
        slots = domcanon.c_number(max_memory.get("slots", "0")) if max_memory is not None \
            else 0
        if bool(max_kib) != bool(slots):
            raise VirtError.xml_error(
                dom, "both maximum memory size and memory slot count must be specified")
        if max_kib and max_kib < memory_kib:
            raise VirtError.xml_error(
                dom, "maximum memory size must be equal or greater than the actual memory size")

    def before_validation() -> None:
        if "/" in name:
            raise VirtError.xml_error(dom, f"name {name} cannot contain '/'")

    devices = normalise_devices(
        [_strip_ws(d) for d in devices_elem] if devices_elem is not None else [],
        virt_type=dtype, os_type=os_type, arch=type_elem.get("arch") or default_arch,
        os_boot=any(c.tag == "boot" for c in os_elem if c is not type_elem),
        after_reading=after_devices, before_validation=before_validation,
        validate_definition=lambda: domsections.check_firmware(root),
        numa_nodes=len(root.findall("cpu/numa/cell")),
    )
    domsections.check_idmap_pairs(root)

    return DomainDef(
        type=dtype,
        name=name,
        uuid=raw_uuid,
        memory_kib=memory_kib,
        current_memory_kib=current_kib,
        vcpus=vcpus,
        current_vcpus=current_vcpus,
        vcpu_attrs=vcpu_attrs,
        title=_text(root.find("title")),
        description=_raw_text(root.find("description")),
        os_type=os_type,
        os_arch=type_elem.get("arch") or default_arch,
        os_machine=type_elem.get("machine"),
        os_children=os_children,
        os_attrs={k: v for k, v in os_elem.attrib.items() if k == "firmware"},
        clock=_strip_ws(clock) if clock is not None else None,
        on_poweroff=lifecycle["on_poweroff"],
        on_reboot=lifecycle["on_reboot"],
        on_crash=lifecycle["on_crash"],
        extra=extra,
        devices=devices,
        metadata=metadata,
    )


def format_domain_xml(
    d: DomainDef, dom_id: int | None = None, *, secure: bool = False, indent: int = 0
) -> str:
    """Render a definition the way libvirt's domain formatter lays it out.

    :param dom_id: the running id (adds ``id='N'`` to the root), ``None`` when inactive.
    :param secure: include security-sensitive data (graphics passwords); without it they are
        removed, as ``VIR_DOMAIN_XML_SECURE`` controls in libvirt.
    :param indent: spaces before each line libvirt's formatter starts (inside another
        document, as in a snapshot); text that spans lines (a description, <metadata>
        elements holding text) keeps its own line starts, as in libvirt.
    """
    p = " " * indent
    out: list[str] = []
    ctx = domcanon.Context(domain_type=d.type, os_type=d.os_type, vcpus=d.vcpus,
                           live=dom_id is not None,
                           bootloader="bootloader" in d.extra)

    def top(tag: str) -> list[str]:
        written = (domcanon.canonical(e, tag, ctx) for e in d.extra.get(tag, []))
        return [format_element(e, indent + 2) for e in written if e is not None]

    head = f"<domain type='{esc(d.type)}'"
    if dom_id is not None:
        head += f" id='{dom_id}'"
    out.append(p + head + ">\n")
    out.append(f"{p}  <name>{esc(d.name)}</name>\n")
    out.append(f"{p}  <uuid>{d.uuid_str}</uuid>\n")
    out.extend(top("genid"))
    if d.title is not None:
        out.append(f"{p}  <title>{esc(d.title)}</title>\n")
    if d.description is not None:
        out.append(f"{p}  <description>{esc(d.description)}</description>\n")
    if d.metadata is not None:
        out.append(f"{p}  {xmltree.dump(d.metadata, (indent + 2) // 2)}\n")
    out.extend(top("maxMemory"))
    out.append(f"{p}  <memory unit='KiB'>{d.memory_kib}</memory>\n")
    out.append(f"{p}  <currentMemory unit='KiB'>{d.current_memory_kib}</currentMemory>\n")
    for tag in _AFTER_MEMORY:
        out.extend(top(tag))
    attrs = "".join(
        f" {k}='{esc((domcanon.format_bitmap(v) or v) if k == 'cpuset' else v)}'"
        for k, v in d.vcpu_attrs.items())
    if d.current_vcpus is not None:
        attrs += f" current='{d.current_vcpus}'"
    out.append(f"{p}  <vcpu{attrs}>{d.vcpus}</vcpu>\n")
    for tag in _AFTER_VCPU:
        out.extend(top(tag))
    os_attrs = "".join(f" {k}='{esc(v)}'" for k, v in d.os_attrs.items())
    out.append(f"{p}  <os{os_attrs}>\n")
    type_attrs = f" arch='{esc(d.os_arch)}'"
    if d.os_machine:
        type_attrs += f" machine='{esc(d.os_machine)}'"
    # libvirt calls a Xen paravirtualised guest's OS type "linux", as it always did
    os_type = "linux" if d.type == "xen" and d.os_type == "xen" else d.os_type
    out.append(f"{p}    <type{type_attrs}>{os_type}</type>\n")
    out.extend(format_element(e, indent + 4) for e in domcanon.os_children(d.os_children, ctx))
    out.append(p + "  </os>\n")
    for tag in _AFTER_OS:
        out.extend(top(tag))
    if d.clock is not None:
        clock = domcanon.canonical(d.clock, "clock", ctx)
        out.append(format_element(clock, indent + 2) if clock is not None
                   else p + "  <clock offset='utc'/>\n")
    else:
        out.append(p + "  <clock offset='utc'/>\n")
    out.append(f"{p}  <on_poweroff>{d.on_poweroff}</on_poweroff>\n")
    out.append(f"{p}  <on_reboot>{d.on_reboot}</on_reboot>\n")
    out.append(f"{p}  <on_crash>{d.on_crash}</on_crash>\n")
    for tag in _AFTER_LIFECYCLE:
        out.extend(top(tag))
    out.append(p + "  <devices>\n")
    for dev in domcanon.devices(d.devices, ctx):
        if not secure and dev.tag == "graphics":
            dev.attrib.pop("passwd", None)  # (a private copy)
        out.append(format_element(dev, indent + 4))
    out.append(p + "  </devices>\n")
    for tag in _AFTER_DEVICES:
        out.extend(top(tag))
    out.append(p + "</domain>\n")
    return "".join(out)
