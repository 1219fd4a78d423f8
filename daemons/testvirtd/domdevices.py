"""Which devices a domain definition holds once libvirt has parsed it.

libvirt's domain post-parse fills in what a definition leaves out: implicit controllers
for the disks, consoles and smartcards that need them, the console that stands for the
first serial port, a video device for graphics, drive addresses, indexes and ports.
:func:`normalise_devices` does the same to the ``<devices>`` children of a definition
(element trees, as :mod:`.domxml` keeps them) and returns them in the order libvirt's
formatter writes them.  How each element is written is :mod:`.domxml`'s business.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from .domxml import random_mac

__all__ = ("DEVICE_ORDER", "normalise_devices")

#: Device ordering of libvirt's formatter (devices are grouped by kind in this order).
DEVICE_ORDER = (
    "emulator",
    "disk",
    "controller",
    "lease",
    "filesystem",
    "interface",
    "smartcard",
    "serial",
    "parallel",
    "console",
    "channel",
    "input",
    "tpm",
    "graphics",
    "sound",
    "audio",
    "video",
    "hostdev",
    "redirdev",
    "redirfilter",
    "hub",
    "watchdog",
    "memballoon",
    "rng",
    "panic",
    "shmem",
    "memory",
    "iommu",
    "vsock",
    "crypto",
)
_DEVICE_RANK = {name: i for i, name in enumerate(DEVICE_ORDER)}


def normalise_devices(
    devices: list[ET.Element], *, virt_type: str, os_type: str, arch: str
) -> list[ET.Element]:
    """Apply the defaults libvirt fills in for *devices* (whitespace-free copies, changed in
    place) of a domain of *virt_type* with OS type *os_type* on *arch*; return them sorted
    by kind."""
    out: list[ET.Element] = []
    n_iface = 0
    n_serial = 0
    has_console = any(d.tag == "console" for d in devices)
    has_video = any(d.tag == "video" for d in devices)
    graphics = False
    for dev in devices:
        if dev.tag == "interface":
            children = list(dev)
            if dev.find("mac") is None:
                mac = ET.Element("mac", {"address": random_mac()})
                dev.insert(0, mac)
                children = list(dev)
            if dev.find("target") is None:
                # The test driver names every interface testnetN.
                target = ET.Element("target", {"dev": f"testnet{n_iface}"})
                after = [i for i, c in enumerate(children) if c.tag in ("mac", "source")]
                dev.insert((after[-1] + 1) if after else 0, target)
            n_iface += 1
        elif dev.tag == "serial":
            if dev.find("target") is None:
                ET.SubElement(dev, "target", {"port": str(n_serial)})
            if not has_console and n_serial == 0:
                console = ET.Element("console", {"type": dev.get("type", "pty")})
                for child in dev:
                    if child.tag != "target":
                        console.append(copy.deepcopy(child))
                ET.SubElement(console, "target", {"type": "serial", "port": "0"})
                out.append(console)
                has_console = True
            n_serial += 1
        elif dev.tag == "graphics":
            graphics = True
            if dev.get("type") in ("vnc", "spice") and dev.get("port") == "-1":
                dev.set("autoport", "yes")
            if dev.get("type") in ("vnc", "spice") and dev.find("listen") is None:
                ET.SubElement(dev, "listen", {"type": "address"})
        out.append(dev)
    if graphics and not has_video:
        video = ET.Element("video")
        ET.SubElement(
            video, "model", {"type": "cirrus", "vram": "16384", "heads": "1", "primary": "yes"}
        )
        out.append(video)
    _add_drive_addresses(out)
    # sorted() is stable, so devices of one kind keep their order.
    return sorted(out, key=lambda d: _DEVICE_RANK.get(d.tag, len(_DEVICE_RANK)))


def _disk_index(name: str) -> int | None:
    """libvirt's virDiskNameToIndex: hda → 0, hdb → 1, ..., sdaa → 26."""
    for prefix in ("fd", "hd", "vd", "sd", "xvd", "ubd"):
        if name.startswith(prefix):
            letters = name[len(prefix):]
            break
    else:
        return None
    if not letters or not letters.isalpha() or not letters.islower():
        return None
    idx = 0
    for ch in letters:
        idx = idx * 26 + (ord(ch) - ord("a") + 1)
    return idx - 1


#: drive addresses per bus (libvirt's virDomainDiskDefAssignAddress): a disk's index gives
#: (controller, bus, unit)
def _drive_address(bus: str, i: int) -> tuple[int, int, int]:
    if bus == "ide":
        return i // 4, (i % 4) // 2, i % 2
    if bus == "sata":
        return i // 6, 0, i % 6
    return 0, 0, i  # fdc


_DRIVE_BUSES = ("ide", "sata", "fdc")


def _add_drive_addresses(devices: list[ET.Element]) -> None:
    """Give IDE, SATA and floppy disks their drive address and add the controllers they
    need, as libvirt's post-parse does."""
    wanted: dict[tuple[str, int], None] = {}
    for dev in devices:
        if dev.tag != "disk":
            continue
        target = dev.find("target")
        bus = target.get("bus") if target is not None else None
        idx = _disk_index(target.get("dev", "")) if target is not None else None
        if bus not in _DRIVE_BUSES or idx is None:
            continue
        addr = dev.find("address")
        if addr is None:
            controller, drive_bus, unit = _drive_address(bus, idx)
            addr = ET.SubElement(dev, "address", {
                "type": "drive", "controller": str(controller), "bus": str(drive_bus),
                "target": "0", "unit": str(unit),
            })
        if addr.get("type") == "drive":
            wanted[(bus, int(addr.get("controller", "0")))] = None
    present = {(c.get("type"), int(c.get("index", "0"))) for c in devices
               if c.tag == "controller" and c.get("index", "0").isdigit()}
    for bus, index in sorted(wanted):
        if (bus, index) not in present:
            devices.append(ET.Element("controller", {"type": bus, "index": str(index)}))
