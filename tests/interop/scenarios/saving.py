"""Saving domains with the test driver, side by side: save images written by the daemon (their
bytes compared), restore, image XML, managed save, core dumps, the screenshot stream, and the
events and states they leave.

Both daemons run on this host, so the scenario reads the files they write.  Paths are the
same for both runs (a directory emptied at the start of each), so error texts that name
them match.  One mask: :func:`short_read` (the ``strerror`` ending an error about a file
too short is whatever errno the daemon's worker thread last left: the read itself sets
none).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
from pathlib import Path
from typing import Any

from ..scenario_runner import Session, libvirt, scenario

S = libvirt

OTHER = """<domain type='test'>
  <name>other</name>
  <uuid>12345678-1234-1234-1234-123456789abc</uuid>
  <memory>131072</memory>
  <vcpu>1</vcpu>
  <os><type>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/other.img'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>"""


def transient(name: str) -> str:
    """OTHER renamed, with its own UUID."""
    return OTHER.replace("<name>other</name>", f"<name>{name}</name>").replace(
        "123456789abc", "123456789abf")


def workdir(name: str) -> Path:
    """An empty directory for this scenario's files (the same path on every run)."""
    path = Path(f"/tmp/netrpc-sidebyside-{os.getuid()}") / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def content(path: Path) -> Any:
    """A file's bytes (or why it cannot be read)."""
    try:
        return path.read_bytes()
    except OSError as exc:
        return f"unreadable: {exc.strerror}"


_SHORT_READ = re.compile(r"^((?:incomplete save header|failed to read metadata length|"
                         r"incomplete metadata) in '[^']*'): (.*)$")


def short_read(message: str) -> str:
    """Mask the leftover errno of a short read (but not a read that failed)."""
    found = _SHORT_READ.match(message)
    if found is None or found.group(2) == "Is a directory":
        return message
    return f"{found.group(1)}: <errno left by an earlier call>"


def names(value: Any) -> Any:
    """Domains as their names, sorted (libvirtd lists them in its hash table's order)."""
    return sorted(v.name() for v in value) if isinstance(value, list) else value


@scenario
def save_restore(s: Session) -> None:
    here = workdir("save")
    image = here / "test.img"
    d = s.dom()
    c = s.conn
    s.step("save", d.save, str(image))
    s.note("image", content(image))
    s.note("image mode", oct(image.stat().st_mode))
    s.step("state after save", d.state)
    s.step("id after save", d.ID)
    s.events("after save")
    s.step("save inactive", d.save, str(here / "again.img"))
    s.step("image xml", c.saveImageGetXMLDesc, str(image))
    s.step("image xml secure", c.saveImageGetXMLDesc, str(image),
           S.VIR_DOMAIN_SAVE_IMAGE_XML_SECURE)
    s.step("image xml bad flag", c.saveImageGetXMLDesc, str(image), 2)
    changed = c.saveImageGetXMLDesc(str(image)).replace(
        "<memory unit='KiB'>8388608</memory>", "<memory unit='KiB'>4194304</memory>"
        "<description>edited</description>")
    s.step("define image xml", c.saveImageDefineXML, str(image), changed)
    s.step("define image xml running flag", c.saveImageDefineXML, str(image), changed,
           S.VIR_DOMAIN_SAVE_RUNNING)
    s.step("define image xml bad flag", c.saveImageDefineXML, str(image), changed,
           S.VIR_DOMAIN_SAVE_BYPASS_CACHE)
    s.step("define image xml broken", c.saveImageDefineXML, str(image), "<domain")
    s.step("define image xml other domain", c.saveImageDefineXML, str(here / "test.img"),
           OTHER)
    s.note("image after define", content(image))
    s.step("define image xml back", c.saveImageDefineXML, str(image), changed)
    s.step("restore", c.restore, str(image))
    s.step("state after restore", d.state)
    s.step("id after restore", d.ID)
    s.step("xml after restore", d.XMLDesc)
    s.step("inactive xml after restore", d.XMLDesc, S.VIR_DOMAIN_XML_INACTIVE)
    s.events("after restore")
    s.step("restore while running", c.restore, str(image))
    s.step("saveFlags dxml", d.saveFlags, str(here / "x.img"), OTHER, 0)
    s.step("saveFlags running", d.saveFlags, str(here / "x.img"), None,
           S.VIR_DOMAIN_SAVE_RUNNING)
    s.step("saveFlags bypass", d.saveFlags, str(here / "x.img"), None,
           S.VIR_DOMAIN_SAVE_BYPASS_CACHE)
    s.step("saveFlags", d.saveFlags, str(here / "flags.img"), None, 0)
    s.step("restoreFlags dxml", c.restoreFlags, str(here / "flags.img"), OTHER, 0)
    s.step("restoreFlags paused", c.restoreFlags, str(here / "flags.img"), None,
           S.VIR_DOMAIN_SAVE_PAUSED)
    s.step("restoreFlags", c.restoreFlags, str(here / "flags.img"), None, 0)
    s.step("save to missing directory", d.save, str(here / "no" / "such.img"))
    s.events("flags")


@scenario
def bad_images(s: Session) -> None:
    here = workdir("bad")
    magic = b"TestGuestMagic\0"
    files = {
        "short": b"Test",
        "badmagic": b"X" * 40,
        "nolen": magic + b"\1",
        "zerolen": magic + struct.pack("=i", 0),
        "biglen": magic + struct.pack("=i", 9000),
        "negative": magic + struct.pack("=i", -5),
        "shortxml": magic + struct.pack("=i", 100) + b"<domain",
        "badxml": magic + struct.pack("=i", 7) + b"<domain",
        "notadomain": magic + struct.pack("=i", 12) + b"<network/>\0x",
        "noname": magic + struct.pack("=i", 22) + b"<domain type='test'/>",
    }
    for name, data in files.items():
        (here / name).write_bytes(data)
    for name in [*files, "missing", "."]:
        path = str(here / name) if name != "." else str(here)
        s.step(f"restore {name}", s.conn.restore, path, mask_error=short_read)
        s.step(f"image xml {name}", s.conn.saveImageGetXMLDesc, path, mask_error=short_read)
        s.step(f"define image xml {name}", s.conn.saveImageDefineXML, path, OTHER,
               mask_error=short_read)


@scenario
def transient_and_persistent(s: Session) -> None:
    here = workdir("lives")
    c = s.conn
    s.step("create transient", c.createXML, transient("tr"), 0)
    s.step("save transient", s.dom("tr").save, str(here / "tr.img"))
    s.step("domains after transient save", c.listAllDomains, mask=names)
    s.step("restore transient", c.restore, str(here / "tr.img"))
    s.step("transient persistent?", s.dom("tr").isPersistent)
    s.step("define other", c.defineXML, OTHER)
    s.step("start other", s.dom("other").create)
    s.step("save other", s.dom("other").save, str(here / "other.img"))
    s.step("other state", s.dom("other").state)
    s.step("other inactive xml", s.dom("other").XMLDesc)
    edited = OTHER.replace("<vcpu>1</vcpu>", "<vcpu>2</vcpu>")
    s.step("edit image", c.saveImageDefineXML, str(here / "other.img"), edited)
    s.step("restore other", c.restore, str(here / "other.img"))
    s.step("other live xml", s.dom("other").XMLDesc)
    s.step("other config xml", s.dom("other").XMLDesc, S.VIR_DOMAIN_XML_INACTIVE)
    s.step("destroy other", s.dom("other").destroy)
    s.step("other xml after destroy", s.dom("other").XMLDesc)
    s.step("undefine other", s.dom("other").undefine)
    s.step("restore over nothing", c.restore, str(here / "other.img"))
    s.step("other persistent?", s.dom("other").isPersistent)
    s.step("domains", c.listAllDomains, mask=names)
    renamed = OTHER.replace("<name>other</name>", "<name>renamed</name>")
    s.step("save other again", s.dom("other").save, str(here / "other2.img"))
    s.step("define renamed over image", c.saveImageDefineXML, str(here / "other2.img"),
           renamed)
    s.step("define test as other uuid", c.defineXML, OTHER.replace(
        "<name>other</name>", "<name>third</name>").replace("4567-1234-1234-1234",
                                                              "4567-1234-1234-9999"))
    s.step("restore renamed", c.restore, str(here / "other2.img"))
    s.step("domains end", c.listAllDomains, mask=names)
    s.events()


@scenario
def managed_save(s: Session) -> None:
    d = s.dom()
    c = s.conn
    s.step("has image", d.hasManagedSaveImage)
    s.step("has image flags", d.hasManagedSaveImage, 1)
    s.step("managed save", d.managedSave)
    s.step("state", d.state)
    s.step("has image after", d.hasManagedSaveImage)
    s.step("list managed save", c.listAllDomains, S.VIR_CONNECT_LIST_DOMAINS_MANAGEDSAVE,
           mask=names)
    s.step("list no managed save", c.listAllDomains,
           S.VIR_CONNECT_LIST_DOMAINS_NO_MANAGEDSAVE, mask=names)
    s.events("after managed save")
    s.step("managed save inactive", d.managedSave)
    s.step("managed save xml", d.managedSaveGetXMLDesc, 0)
    s.step("managed save define xml", d.managedSaveDefineXML, OTHER, 0)
    s.step("undefine refused", d.undefine)
    s.step("remove flags", d.managedSaveRemove, 1)
    s.step("remove", d.managedSaveRemove)
    s.step("has image after remove", d.hasManagedSaveImage)
    s.step("remove again", d.managedSaveRemove)
    s.step("start", d.create)
    s.step("managed save bypass|running", d.managedSave,
           S.VIR_DOMAIN_SAVE_BYPASS_CACHE | S.VIR_DOMAIN_SAVE_RUNNING)
    s.step("start restores", d.create)
    s.step("state after start", d.state)
    s.step("has image after start", d.hasManagedSaveImage)
    s.step("managed save paused", d.managedSave, S.VIR_DOMAIN_SAVE_PAUSED)
    s.step("managed save bad flag", d.managedSave, 8)
    s.step("undefine with flag", d.undefineFlags, S.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    s.step("domains", c.listAllDomains, mask=names)
    s.step("create transient", c.createXML, transient("tr"), 0)
    s.step("managed save transient", s.dom("tr").managedSave)
    s.events()


@scenario
def core_dump(s: Session) -> None:
    here = workdir("dump")
    d = s.dom()
    s.step("dump", d.coreDump, str(here / "core"), 0)
    s.note("dump file", content(here / "core"))
    s.step("dump kdump format", d.coreDumpWithFormat, str(here / "kdump"),
           S.VIR_DOMAIN_CORE_DUMP_FORMAT_KDUMP_ZLIB, 0)
    s.note("kdump file", content(here / "kdump"))
    s.step("dump raw format", d.coreDumpWithFormat, str(here / "raw"),
           S.VIR_DOMAIN_CORE_DUMP_FORMAT_RAW, 0)
    s.step("dump format 9", d.coreDumpWithFormat, str(here / "nine"), 9, 0)
    s.step("dump live", d.coreDump, str(here / "live"), S.VIR_DUMP_LIVE)
    s.step("dump memory only", d.coreDump, str(here / "mem"), S.VIR_DUMP_MEMORY_ONLY)
    s.step("dump crash|live", d.coreDump, str(here / "x"), S.VIR_DUMP_CRASH | S.VIR_DUMP_LIVE)
    s.step("dump missing directory", d.coreDump, str(here / "no" / "core"), 0)
    s.step("state before crash", d.state)
    s.step("dump crash", d.coreDump, str(here / "crash"), S.VIR_DUMP_CRASH)
    s.step("state after crash", d.state)
    s.step("dump inactive", d.coreDump, str(here / "again"), 0)
    s.events("after crash")
    s.step("create transient", s.conn.createXML, transient("tr"), 0)
    s.step("crash transient", s.dom("tr").coreDumpWithFormat, str(here / "tr"),
           S.VIR_DOMAIN_CORE_DUMP_FORMAT_RAW, S.VIR_DUMP_CRASH)
    s.step("domains", s.conn.listAllDomains, mask=names)
    s.note("files", sorted(p.name for p in here.iterdir()))
    s.events()


def _screenshot(s: Session, flags: int = 0) -> Any:
    stream = s.conn.newStream(0)
    mime = s.dom().screenshot(stream, 0, flags)
    chunks: list[bytes] = []
    stream.recvAll(lambda _st, data, _opaque: chunks.append(data) or len(data), None)
    stream.finish()
    data = b"".join(chunks)
    return [mime, len(data), hashlib.sha256(data).hexdigest()]


@scenario
def screenshot(s: Session) -> None:
    s.step("screenshot", _screenshot, s)
    s.step("screenshot screen 1", lambda: _screenshot(s))
    s.step("screenshot flags", _screenshot, s, 1)
    s.step("destroy", s.dom().destroy)
    s.step("screenshot inactive", _screenshot, s)
