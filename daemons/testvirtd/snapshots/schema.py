"""RELAX NG validation of snapshot and checkpoint XML, as libvirt validates it.

libvirt checks checkpoint XML (always) and snapshot XML (with
``VIR_DOMAIN_SNAPSHOT_CREATE_VALIDATE``) against its schemas with libxml2, and reports what
libxml2 says.  When libvirt's schemas and libxml2 are installed (``/usr/share/libvirt/schemas``,
``libxml2.so.2``) the same schema is checked with the same library, so the verdicts and the
texts are libvirt's; without them documents are not validated (they are still parsed and
checked as libvirt's parser checks them).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from functools import cache
from typing import Any, Final

from ..domxml import ErrDomain, VirtError

__all__ = ("SCHEMA_DIR", "available", "validate")

#: where libvirt installs its schemas
SCHEMA_DIR: Final = "/usr/share/libvirt/schemas"

_ERR_XML_INVALID_SCHEMA: Final = 92
_ERR_INTERNAL: Final = 1

# libxml2's xmlParserOption bits libvirt's parser uses (XML_PARSE_NOBLANKS stands for its
# xmlKeepBlanksDefault(0)), plus NOERROR so nothing is printed.
_XML_PARSE_NOBLANKS: Final = 1 << 8
_XML_PARSE_NONET: Final = 1 << 11
_XML_PARSE_NOERROR: Final = 1 << 5
_XML_PARSE_NOWARNING: Final = 1 << 6


class _XmlError(ctypes.Structure):
    _fields_ = [
        ("domain", ctypes.c_int),
        ("code", ctypes.c_int),
        ("message", ctypes.c_char_p),
    ]


_StructuredError = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_XmlError))

_lock = threading.Lock()


@cache
def _libxml2() -> Any:
    name = ctypes.util.find_library("xml2") or "libxml2.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        return None
    vp = ctypes.c_void_p
    lib.xmlRelaxNGNewParserCtxt.restype = vp
    lib.xmlRelaxNGNewParserCtxt.argtypes = [ctypes.c_char_p]
    lib.xmlRelaxNGParse.restype = vp
    lib.xmlRelaxNGParse.argtypes = [vp]
    lib.xmlRelaxNGFreeParserCtxt.argtypes = [vp]
    lib.xmlRelaxNGSetParserStructuredErrors.argtypes = [vp, _StructuredError, vp]
    lib.xmlRelaxNGNewValidCtxt.restype = vp
    lib.xmlRelaxNGNewValidCtxt.argtypes = [vp]
    lib.xmlRelaxNGFreeValidCtxt.argtypes = [vp]
    lib.xmlRelaxNGSetValidStructuredErrors.argtypes = [vp, _StructuredError, vp]
    lib.xmlRelaxNGValidateDoc.restype = ctypes.c_int
    lib.xmlRelaxNGValidateDoc.argtypes = [vp, vp]
    lib.xmlReadMemory.restype = vp
    lib.xmlReadMemory.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                                  ctypes.c_char_p, ctypes.c_int]
    lib.xmlFreeDoc.argtypes = [vp]
    return lib


def _ignore(_data: Any, _error: Any) -> None:
    return None


_IGNORE: Final = _StructuredError(_ignore)


@cache
def _schema(path: str) -> Any:
    """The compiled schema at *path* (None when it cannot be compiled)."""
    lib = _libxml2()
    parser = lib.xmlRelaxNGNewParserCtxt(path.encode())
    if not parser:
        return None
    try:
        lib.xmlRelaxNGSetParserStructuredErrors(parser, _IGNORE, None)
        return lib.xmlRelaxNGParse(parser) or None
    finally:
        lib.xmlRelaxNGFreeParserCtxt(parser)


def available(root: str) -> bool:
    """Whether documents with root element *root* can be validated here."""
    return _libxml2() is not None and os.path.exists(os.path.join(SCHEMA_DIR, f"{root}.rng"))


def validate(xml: str | bytes, root: str) -> None:
    """Validate a (well-formed) document against libvirt's ``<root>.rng``.

    :raises VirtError: ``XML document failed to validate against schema`` with libxml2's
        messages, as libvirt's XML module reports it (code 92, error domain 5).
    """
    if not available(root):
        return
    lib = _libxml2()
    path = os.path.join(SCHEMA_DIR, f"{root}.rng")
    raw = xml.encode("utf-8", "surrogateescape") if isinstance(xml, str) else bytes(xml)
    messages: list[str] = []

    def collect(_data: Any, error: Any) -> None:
        text = error.contents.message
        if text:
            messages.append(text.decode("utf-8", "replace"))

    callback = _StructuredError(collect)
    with _lock:
        schema = _schema(path)
        if schema is None:
            raise VirtError.fmt(_ERR_INTERNAL, ErrDomain.XML, "internal error: %s",
                                f"Unable to parse RNG {path}: ")
        doc = lib.xmlReadMemory(raw, len(raw), None, None,
                                _XML_PARSE_NOBLANKS | _XML_PARSE_NONET | _XML_PARSE_NOERROR
                                | _XML_PARSE_NOWARNING)
        if not doc:
            return  # libvirt's own parser reports malformed documents first
        valid = lib.xmlRelaxNGNewValidCtxt(schema)
        try:
            lib.xmlRelaxNGSetValidStructuredErrors(valid, callback, None)
            failed = lib.xmlRelaxNGValidateDoc(valid, doc) != 0
        finally:
            lib.xmlRelaxNGFreeValidCtxt(valid)
            lib.xmlFreeDoc(doc)
    if failed:
        detail = f"Unable to validate doc against {path}\n{''.join(messages)}"
        raise VirtError.fmt(_ERR_XML_INVALID_SCHEMA, ErrDomain.XML,
                            "XML document failed to validate against schema: %s", detail)
