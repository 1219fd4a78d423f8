"""Saving domains as libvirt's test driver does: save images written and read on the
daemon's side in its format, managed save, core dumps, and the screenshot it offers.

The test driver's save image is ``TestGuestMagic`` and its NUL (15 bytes), the length of the
XML as a native ``int``, then the domain's live XML (secure) without a terminator; a core
dump is the 15 bytes of magic alone.  Files are created mode 0600 at the path the client
gave (made absolute against the daemon's directory, as libvirt's API does), so a client and
the daemon on one host can read each other's images.  Errors are the test driver's, system
errors included (``strerror`` texts, "Success" after a short read, as C reports it).
"""

from __future__ import annotations

import os
import struct
import zlib
from functools import cache
from typing import Final

from ..domxml import DomainDef, ErrCode, ErrDomain, VirtError, format_domain_xml, parse_domain_xml
from .model import (
    DomainEventDetail,
    DomainKey,
    DomainRef,
    Domains,
    DomainState,
)

__all__ = (
    "DUMP_CRASH",
    "SAVE_MAGIC",
    "SCREENSHOT_MIME",
    "SCREENSHOT_PATH",
    "DomainSaving",
    "canonical_path",
    "screenshot_image",
)

#: TEST_SAVE_MAGIC with its terminating NUL, as the test driver writes it
SAVE_MAGIC: Final = b"TestGuestMagic\0"
#: the longest XML the test driver reads back from an image
_MAX_XML: Final = 8192

#: virDomainSaveRestoreFlags
SAVE_BYPASS_CACHE: Final = 1
SAVE_RUNNING: Final = 2
SAVE_PAUSED: Final = 4
SAVE_IMAGE_XML_SECURE: Final = 1
#: virDomainCoreDumpFlags / virDomainCoreDumpFormat
DUMP_CRASH: Final = 1
DUMP_LIVE: Final = 2
DUMP_RESET: Final = 8
DUMP_FORMAT_RAW: Final = 0
DUMP_FORMAT_LAST: Final = 5

#: where libvirt installs the image its test driver streams for ``virDomainScreenshot``
SCREENSHOT_PATH: Final = "/usr/share/libvirt/test-screenshot.png"
SCREENSHOT_MIME: Final = "image/png"

_ERR_SYSTEM: Final = 38
_ERR_OPERATION_UNSUPPORTED: Final = 84


def canonical_path(path: str) -> str:
    """``g_canonicalize_filename(path, NULL)``: absolute against the current directory,
    ``.``, ``..`` and repeated slashes resolved (symbolic links are not).  The path ends at
    its first NUL, as the C string libvirtd reads does."""
    path = path.split("\0", 1)[0]
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def _system_error(text: str, errno: int) -> VirtError:
    """``virReportSystemError``: "<text>: <strerror>" (code 38)."""
    message = f"{text}: {os.strerror(errno) if errno else 'Success'}"
    return VirtError(_ERR_SYSTEM, ErrDomain.TEST, message, str1="%s", str2=message, int1=errno)


def _check_flags(function: str, flags: int, allowed: int) -> None:
    if flags & ~allowed:
        raise VirtError.bad_flags(function, flags & ~allowed)


def _not_running() -> VirtError:
    return VirtError.invalid(ErrDomain.DOMAIN, "domain is not running")


def _write_image(path: str, defn: DomainDef, dom_id: int | None) -> None:
    """``testDomainSaveImageWrite``: the image, or a system error (the file removed)."""
    xml = format_domain_xml(defn, dom_id, secure=True).encode()
    try:
        fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    except OSError as exc:
        raise _system_error(f"saving domain '{defn.name}' to '{path}': open failed",
                            exc.errno or 0) from None
    try:
        try:
            os.write(fd, SAVE_MAGIC + struct.pack("=i", len(xml)) + xml)
        finally:
            os.close(fd)
    except OSError as exc:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise _system_error(f"saving domain '{defn.name}' to '{path}': write failed",
                            exc.errno or 0) from None


def _read_exact(fd: int, size: int) -> tuple[bytes, int]:
    """``saferead``: up to *size* bytes, and the errno of a failed read (0 at end of file)."""
    out = b""
    while len(out) < size:
        try:
            chunk = os.read(fd, size - len(out))
        except OSError as exc:
            return out, exc.errno or 0
        if not chunk:
            break
        out += chunk
    return out, 0


def _read_image(path: str) -> DomainDef:
    """``testDomainSaveImageOpen``: the definition an image holds."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise _system_error(f"cannot read domain image '{path}'", exc.errno or 0) from None
    try:
        magic, err = _read_exact(fd, len(SAVE_MAGIC))
        if len(magic) != len(SAVE_MAGIC):
            raise _system_error(f"incomplete save header in '{path}'", err)
        if magic != SAVE_MAGIC:
            raise VirtError.internal_error(ErrDomain.TEST, "mismatched header magic")
        raw_len, err = _read_exact(fd, 4)
        if len(raw_len) != 4:
            raise _system_error(f"failed to read metadata length in '{path}'", err)
        (length,) = struct.unpack("=i", raw_len)
        if length < 1 or length > _MAX_XML:
            raise VirtError.internal_error(ErrDomain.TEST, "length of metadata out of range")
        xml, err = _read_exact(fd, length)
        if len(xml) != length:
            raise _system_error(f"incomplete metadata in '{path}'", err)
    finally:
        os.close(fd)
    # C reads a string: anything after a NUL is not part of it
    return parse_domain_xml(xml.split(b"\0", 1)[0], default_arch="i686")


@cache
def _fallback_png() -> bytes:
    """A grey PNG of the test driver's screenshot size, for hosts without libvirt's."""
    width, height = 1120, 832
    rows = b"".join(b"\0" + b"\x80" * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def screenshot_image() -> bytes:
    """The screenshot the test driver streams: libvirt's own image where libvirt is
    installed, else a grey image of the same size and type."""
    try:
        with open(SCREENSHOT_PATH, "rb") as fh:
            return fh.read()
    except OSError:
        return _fallback_png()


class DomainSaving:
    """Save, restore, managed save and core dumps of one driver instance's domains."""

    def __init__(self, domains: Domains) -> None:
        self._domains = domains

    # ---------------------------------------------------------------- save images

    def save(self, dom: DomainKey, path: str, dxml: str | None = None, flags: int = 0) -> None:
        """``virDomainSave(Flags)``: write the image, then stop the domain (SHUTOFF/SAVED,
        STOPPED/SAVED; a transient domain goes away)."""
        _check_flags("testDomainSaveFlags", flags, 0)
        if dxml is not None:
            raise VirtError.fmt(ErrCode.ARGUMENT_UNSUPPORTED, ErrDomain.TEST,
                                "argument unsupported: %s", "xml modification unsupported")
        with self._domains.access(dom) as d:
            if not d.active:
                raise _not_running()
            _write_image(path, d.defn, d.id)
            self._domains.stop_object(d, DomainState.SHUTOFF_SAVED,
                                      DomainEventDetail.STOPPED_SAVED)

    def restore(self, path: str, dxml: str | None = None, flags: int = 0) -> DomainRef:
        """``virDomainRestore(Flags)``: start the image's domain (RUNNING/RESTORED,
        STARTED/RESTORED), as a new transient domain or over the inactive one it names."""
        _check_flags("testDomainRestoreFlags", flags, 0)
        if dxml is not None:
            raise VirtError.fmt(ErrCode.ARGUMENT_UNSUPPORTED, ErrDomain.TEST,
                                "argument unsupported: %s", "xml modification unsupported")
        defn = _read_image(path)
        return self._domains.start_live(defn, DomainState.RUNNING_RESTORED,
                                        DomainEventDetail.STARTED_RESTORED)

    def image_xml(self, path: str, flags: int = 0) -> str:
        """``virDomainSaveImageGetXMLDesc`` (always formatted as secure, as the test driver
        does)."""
        _check_flags("testDomainSaveImageGetXMLDesc", flags, SAVE_IMAGE_XML_SECURE)
        return format_domain_xml(_read_image(path), None, secure=True)

    def define_image_xml(self, path: str, dxml: str, flags: int = 0) -> None:
        """``virDomainSaveImageDefineXML``: replace the definition an image holds."""
        _check_flags("testDomainSaveImageDefineXML", flags, SAVE_RUNNING | SAVE_PAUSED)
        _read_image(path)
        defn = parse_domain_xml(dxml, default_arch="i686")
        _write_image(path, defn, None)

    # ---------------------------------------------------------------- managed save

    def managed_save(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainManagedSave``: stop the domain (SHUTOFF/SAVED, STOPPED/SAVED) and
        remember an image; the next start forgets it."""
        _check_flags("testDomainManagedSave", flags,
                     SAVE_BYPASS_CACHE | SAVE_RUNNING | SAVE_PAUSED)
        with self._domains.access(dom) as d:
            if not d.active:
                raise _not_running()
            if not d.persistent:
                raise VirtError.invalid(ErrDomain.TEST,
                                        "cannot do managed save for transient domain")
            self._domains.stop_object(d, DomainState.SHUTOFF_SAVED,
                                      DomainEventDetail.STOPPED_SAVED)
            d.managed_save = True

    def managed_save_remove(self, dom: DomainKey, flags: int = 0) -> None:
        """``virDomainManagedSaveRemove``."""
        _check_flags("testDomainManagedSaveRemove", flags, 0)
        with self._domains.access(dom) as d:
            d.managed_save = False

    # ---------------------------------------------------------------- core dumps

    def core_dump(self, dom: DomainKey, path: str, dumpformat: int = DUMP_FORMAT_RAW,
                  flags: int = 0) -> None:
        """``virDomainCoreDump(WithFormat)``: the magic alone is written (raw format only,
        refused after writing, as the test driver does); ``VIR_DUMP_CRASH`` then stops the
        domain (SHUTOFF/CRASHED, STOPPED/CRASHED)."""
        _check_flags("testDomainCoreDumpWithFormat", flags, DUMP_CRASH)
        with self._domains.access(dom) as d:
            if not d.active:
                raise _not_running()
            name = dom.name if isinstance(dom, DomainRef) else d.defn.name
            try:
                fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
            except OSError as exc:
                raise _system_error(f"domain '{name}' coredump: failed to open {path}",
                                    exc.errno or 0) from None
            try:
                os.write(fd, SAVE_MAGIC)
            except OSError as exc:
                raise _system_error(
                    f"domain '{name}' coredump: failed to write header to {path}",
                    exc.errno or 0) from None
            finally:
                os.close(fd)
            if dumpformat != DUMP_FORMAT_RAW:
                raise VirtError.fmt(_ERR_OPERATION_UNSUPPORTED, ErrDomain.TEST,
                                    "Operation not supported: %s",
                                    "kdump-compressed format is not supported here")
            if flags & DUMP_CRASH:
                self._domains.stop_object(d, DomainState.SHUTOFF_CRASHED,
                                          DomainEventDetail.STOPPED_CRASHED)
