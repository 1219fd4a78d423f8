"""REMOTE procedures of saving domains (see :mod:`.saving`): save images, managed save, core
dumps and the screenshot stream.

Each handler first makes the checks libvirt's public API makes on libvirtd's side
(read-only connections, mutually exclusive flags, the dump format) and makes the path
absolute against the daemon's directory, as the API does before calling the driver.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from netrpc import Call
from netrpc.core.stream import CHUNK_SIZE, StreamAbortedError
from netrpc.io.server.stream import ServerStream

from .. import protocol as P
from ..connection import RemoteBase
from ..domxml import ErrDomain, VirtError
from .procedures import dom_ref
from .saving import (
    DUMP_CRASH,
    DUMP_FORMAT_LAST,
    DUMP_LIVE,
    DUMP_RESET,
    SAVE_PAUSED,
    SAVE_RUNNING,
    SCREENSHOT_MIME,
    DomainSaving,
    canonical_path,
    screenshot_image,
)

__all__ = ("DomainSavingProcedures",)

log = logging.getLogger("testvirtd.remote")

_SAVE_RUNNING: Final = (SAVE_RUNNING, "VIR_DOMAIN_SAVE_RUNNING")
_SAVE_PAUSED: Final = (SAVE_PAUSED, "VIR_DOMAIN_SAVE_PAUSED")
_DUMP_CRASH: Final = (DUMP_CRASH, "VIR_DUMP_CRASH")
_DUMP_LIVE: Final = (DUMP_LIVE, "VIR_DUMP_LIVE")
_DUMP_RESET: Final = (DUMP_RESET, "VIR_DUMP_RESET")


def _exclusive(api: str, flags: int, first: tuple[int, str], second: tuple[int, str]) -> None:
    """``VIR_EXCLUSIVE_FLAGS_GOTO`` of the public API *api*."""
    if flags & first[0] and flags & second[0]:
        raise VirtError.api_invalid_arg(
            ErrDomain.DOMAIN, api, "ctl",
            f"Flags '{first[1]}' and '{second[1]}' are mutually exclusive")


def _dump_flags(api: str, flags: int) -> None:
    _exclusive(api, flags, _DUMP_CRASH, _DUMP_LIVE)
    _exclusive(api, flags, _DUMP_CRASH, _DUMP_RESET)
    _exclusive(api, flags, _DUMP_LIVE, _DUMP_RESET)


class DomainSavingProcedures(RemoteBase):
    """Save, restore, managed save, core dump and screenshot procedures."""

    def _saving(self, call: Call, api: str) -> DomainSaving:
        return DomainSaving(self.writable(call, api).hv.domains)

    # -------------------------------------------------------------- save images

    def domain_save(self, call: Call, args: Any) -> None:
        saving = self._saving(call, "virDomainSave")
        saving.save(dom_ref(args.dom), canonical_path(args.to))
        self.changed(call)

    def domain_save_flags(self, call: Call, args: Any) -> None:
        saving = self._saving(call, "virDomainSaveFlags")
        _exclusive("virDomainSaveFlags", args.flags, _SAVE_RUNNING, _SAVE_PAUSED)
        saving.save(dom_ref(args.dom), canonical_path(args.to), args.dxml, args.flags)
        self.changed(call)

    def domain_restore(self, call: Call, args: Any) -> None:
        saving = self._saving(call, "virDomainRestore")
        saving.restore(canonical_path(args.from_))
        self.changed(call)

    def domain_restore_flags(self, call: Call, args: Any) -> None:
        saving = self._saving(call, "virDomainRestoreFlags")
        _exclusive("virDomainRestoreFlags", args.flags, _SAVE_RUNNING, _SAVE_PAUSED)
        saving.restore(canonical_path(args.from_), args.dxml, args.flags)
        self.changed(call)

    def domain_save_image_get_xml_desc(self, call: Call, args: Any) -> Any:
        saving = self._saving(call, "virDomainSaveImageGetXMLDesc")
        return P.DomainSaveImageGetXmlDescRet(
            saving.image_xml(canonical_path(args.file), args.flags))

    def domain_save_image_define_xml(self, call: Call, args: Any) -> None:
        saving = self._saving(call, "virDomainSaveImageDefineXML")
        _exclusive("virDomainSaveImageDefineXML", args.flags, _SAVE_RUNNING, _SAVE_PAUSED)
        saving.define_image_xml(canonical_path(args.file), args.dxml, args.flags)

    # -------------------------------------------------------------- managed save

    def domain_managed_save(self, call: Call, args: Any) -> None:
        saving = self._saving(call, "virDomainManagedSave")
        _exclusive("virDomainManagedSave", args.flags, _SAVE_RUNNING, _SAVE_PAUSED)
        saving.managed_save(dom_ref(args.dom), args.flags)
        self.changed(call)

    def domain_managed_save_remove(self, call: Call, args: Any) -> None:
        saving = self._saving(call, "virDomainManagedSaveRemove")
        saving.managed_save_remove(dom_ref(args.dom), args.flags)
        self.changed(call)

    # -------------------------------------------------------------- core dumps

    def domain_core_dump(self, call: Call, args: Any) -> None:
        saving = self._saving(call, "virDomainCoreDump")
        _dump_flags("virDomainCoreDump", args.flags)
        saving.core_dump(dom_ref(args.dom), canonical_path(args.to), 0, args.flags)
        self.changed(call)

    def domain_core_dump_with_format(self, call: Call, args: Any) -> None:
        saving = self._saving(call, "virDomainCoreDumpWithFormat")
        if args.dumpformat >= DUMP_FORMAT_LAST:
            raise VirtError.api_invalid_arg(ErrDomain.DOMAIN, "virDomainCoreDumpWithFormat",
                                            "flags",
                                            f"dumpformat '{args.dumpformat}' is not supported")
        _dump_flags("virDomainCoreDumpWithFormat", args.flags)
        saving.core_dump(dom_ref(args.dom), canonical_path(args.to), args.dumpformat,
                         args.flags)
        self.changed(call)

    # -------------------------------------------------------------- screenshot

    def domain_screenshot(self, call: Call, args: Any) -> Any:
        # As the test driver: any domain handle will do (it is never looked up), the
        # screen number is ignored and the image is streamed whole.
        self.writable(call, "virDomainScreenshot")
        if args.flags:
            raise VirtError.bad_flags("testDomainScreenshot", args.flags)
        image = screenshot_image()
        stream = call.open_stream()
        call.client.spawn(self._send_image, stream, image)
        return P.DomainScreenshotRet(SCREENSHOT_MIME)

    @staticmethod
    async def _send_image(stream: ServerStream, image: bytes) -> None:
        try:
            for start in range(0, len(image), CHUNK_SIZE):
                await stream.send(image[start:start + CHUNK_SIZE])
            await stream.finish()
        except StreamAbortedError as exc:
            log.debug("screenshot stream stopped: %s", exc)
