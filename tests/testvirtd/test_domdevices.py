"""Which devices a parsed domain definition holds (daemons/testvirtd/domdevices.py).

The side-by-side scenarios in tests/interop (scenarios/domdevices.py) compare whole
documents with libvirtd's; these pin single rules, each as libvirtd 9.0's test driver
applies it.
"""

from __future__ import annotations

import re
import time

import pytest

from daemons.testvirtd.domxml import VirtError, format_domain_xml, parse_domain_xml


def devices_of(devices: str, *, os_type: str = "hvm", arch: str | None = None,
               virt: str = "test") -> list[str]:
    """The device lines of the document as testvirtd writes it back, stripped."""
    arch_attr = f" arch='{arch}'" if arch else ""
    defn = parse_domain_xml(
        f"<domain type='{virt}'><name>d</name>"
        "<uuid>11111111-2222-3333-4444-555555555555</uuid><memory>1024</memory>"
        f"<os><type{arch_attr}>{os_type}</type></os><devices>{devices}</devices></domain>")
    text = format_domain_xml(defn)
    body = text[text.index("<devices>") + len("<devices>\n"):text.index("  </devices>")]
    return [line.strip() for line in body.splitlines()]


def controllers(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("<controller")]


def test_unindexed_controllers_take_the_lowest_free_index_in_place() -> None:
    got = controllers(devices_of(
        "<controller type='scsi'/><controller type='scsi' index='0'/>"
        "<controller type='usb' index='3'/><controller type='usb' index='1'/>"
        "<controller type='ide' index='1'/><controller type='usb'/>"))
    assert got == ["<controller type='scsi' index='1'/>", "<controller type='scsi' index='0'/>",
                   "<controller type='usb' index='1'/>", "<controller type='usb' index='3'/>",
                   "<controller type='usb' index='0'/>", "<controller type='ide' index='1'/>"]


def test_usb2_companions_share_the_index_and_get_their_ports() -> None:
    lines = devices_of(
        "<controller type='usb' model='ich9-ehci1'/><controller type='usb' model='ich9-uhci1'/>"
        "<controller type='usb' model='ich9-uhci2'/><controller type='usb' model='piix3-uhci'/>"
        "<controller type='usb' model='ich9-uhci3'/>")
    assert controllers(lines) == [
        "<controller type='usb' index='0' model='ich9-ehci1'/>",
        "<controller type='usb' index='0' model='ich9-uhci1'>",
        "<controller type='usb' index='0' model='ich9-uhci2'>",
        "<controller type='usb' index='1' model='piix3-uhci'/>",
        "<controller type='usb' index='2' model='ich9-uhci3'>"]
    assert [line for line in lines if line.startswith("<master")] == [
        "<master startport='0'/>", "<master startport='2'/>", "<master startport='4'/>"]


@pytest.mark.parametrize(("dev", "bus", "address"), [
    ("hdd", "ide", "controller='0' bus='1' target='0' unit='1'"),
    ("hdf", "ide", "controller='1' bus='0' target='0' unit='1'"),
    ("sdh", "sata", "controller='1' bus='0' target='0' unit='1'"),
    ("sdh", "scsi", "controller='1' bus='0' target='0' unit='0'"),
    ("fdc", "fdc", "controller='1' bus='0' target='0' unit='0'"),
])
def test_drive_addresses(dev: str, bus: str, address: str) -> None:
    device = " device='floppy'" if bus == "fdc" else ""
    lines = devices_of(f"<disk type='file'{device}><source file='/a'/>"
                       f"<target dev='{dev}' bus='{bus}'/></disk>")
    assert f"<address type='drive' {address}/>" in lines
    # a controller for every index up to the disk's
    wanted = int(address.split("'")[1])
    assert controllers(lines) == [f"<controller type='{bus}' index='{n}'/>"
                                  for n in range(wanted + 1)]


def test_scsi_host_devices_are_addressed_when_read() -> None:
    # the host device's controller exists before the unindexed one is numbered
    lines = devices_of(
        "<controller type='scsi' model='virtio-scsi'/>"
        "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
        "<address bus='0' target='0' unit='0'/></source></hostdev>")
    assert controllers(lines) == ["<controller type='scsi' index='1' model='virtio-scsi'/>",
                                  "<controller type='scsi' index='0'/>"]
    assert "<address type='drive' controller='0' bus='0' target='0' unit='0'/>" in lines


def test_console_alone_becomes_the_first_serial_port() -> None:
    assert devices_of("<console type='pty'><target type='serial' port='2'/></console>") == [
        "<serial type='pty'>", "<target port='0'/>", "</serial>",
        "<console type='pty'>", "<target type='serial' port='0'/>", "</console>"]


def test_console_of_a_serial_port_is_its_copy() -> None:
    lines = devices_of("<serial type='file'><source path='/s'/><target port='3'/></serial>"
                       "<console type='pty'/>")
    assert lines[lines.index("<console type='file'>"):] == [
        "<console type='file'>", "<source path='/s'/>", "<target type='serial' port='3'/>",
        "</console>"]


def test_only_isa_serial_ports_get_a_console() -> None:
    assert not any(line.startswith("<console") for line in devices_of(
        "<serial type='pty'><target type='pci-serial'/></serial>"))


def test_xen_guests_keep_console_and_serial_apart() -> None:
    assert devices_of("<console type='pty'/>", os_type="xen") == [
        "<console type='pty'>", "<target type='serial' port='0'/>", "</console>"]


def test_console_ports_are_counted_not_read() -> None:
    lines = devices_of("<console type='pty'><target type='virtio' port='5'/></console>"
                       "<console type='pty'><target type='virtio' port='3'/></console>")
    assert [line for line in lines if line.startswith("<target")] == [
        "<target type='virtio' port='0'/>", "<target type='virtio' port='1'/>"]
    assert "<controller type='virtio-serial' index='0'/>" in lines


def test_chardev_ports_follow_those_before_them() -> None:
    lines = devices_of("<parallel type='pty'/><parallel type='pty'><target port='3'/>"
                       "</parallel><parallel type='pty'/>")
    assert [line for line in lines if line.startswith("<target")] == [
        "<target port='0'/>", "<target port='3'/>", "<target port='4'/>"]


def test_isa_serial_ports_take_free_ports() -> None:
    lines = devices_of("<serial type='pty'><target type='isa-serial' port='1'/></serial>"
                       "<serial type='pty'><target type='isa-serial'/></serial>"
                       "<serial type='pty'/>")
    assert [line for line in lines if line.startswith("<target")][:3] == [
        "<target type='isa-serial' port='1'/>", "<target type='isa-serial' port='0'/>",
        "<target port='2'/>"]


@pytest.mark.parametrize(("kwargs", "model"), [
    ({}, "<model type='cirrus' vram='16384' heads='1' primary='yes'/>"),
    ({"os_type": "xen"}, "<model type='xen' vram='4096' heads='1' primary='yes'/>"),
    ({"arch": "ppc64", "virt": "kvm"}, "<model type='vga' vram='16384' heads='1' primary='yes'/>"),
    ({"virt": "vbox"}, "<model type='cirrus' vram='8192' heads='1' primary='yes'/>"),
])
def test_graphics_get_the_default_video(kwargs: dict[str, str], model: str) -> None:
    assert model in devices_of("<graphics type='vnc'/>", **kwargs)


def test_no_implicit_inputs_but_input_buses_per_guest() -> None:
    lines = devices_of("<graphics type='vnc'/><input type='tablet'/><input type='mouse'/>")
    assert [line for line in lines if line.startswith("<input")] == [
        "<input type='tablet' bus='usb'/>", "<input type='mouse' bus='ps2'/>"]
    assert "<input type='mouse' bus='virtio'/>" in devices_of(
        "<input type='mouse'/>", arch="s390x", virt="kvm")


def test_smartcards_get_ccid_slots_and_controller() -> None:
    lines = devices_of("<smartcard mode='host'/><smartcard mode='host'>"
                       "<address type='ccid' controller='0' slot='4'/></smartcard>"
                       "<smartcard mode='host'/>")
    # one past the highest slot of controller 0, wherever it is given
    assert [line for line in lines if line.startswith("<address")] == [
        "<address type='ccid' controller='0' slot='5'/>",
        "<address type='ccid' controller='0' slot='4'/>",
        "<address type='ccid' controller='0' slot='6'/>"]
    assert controllers(lines) == ["<controller type='ccid' index='0'/>"]


def test_interface_names_skip_taken_ones() -> None:
    lines = devices_of("<interface type='user'><target dev='vnet0'/></interface>"
                       "<interface type='user'><target dev='testnet0'/></interface>"
                       "<interface type='user'><mac address='52:54:00:AA:BB:CC'/></interface>")
    assert [line for line in lines if line.startswith("<target")] == [
        "<target dev='testnet1'/>", "<target dev='testnet0'/>", "<target dev='testnet2'/>"]
    assert "<mac address='52:54:00:aa:bb:cc'/>" in lines


@pytest.mark.parametrize(("devices", "message"), [
    ("<redirdev bus='usb' type='spicevmc'/>",
     "unsupported configuration: cannot add redirected USB device: "
     "USB is disabled for this domain"),
    ("<controller type='usb' model='none'/><input type='tablet' bus='usb'/>",
     "unsupported configuration: Can't add USB input device. USB bus is disabled"),
    ("<controller type='usb'/><controller type='usb' model='none'/>",
     "Can't add another USB controller: USB is disabled for this domain"),
    ("<controller type='ide' index='1'/><controller type='ide' index='1'/>",
     "XML error: Multiple 'ide' controllers with index '1'"),
    ("<console type='pty'><target type='virtio'/></console><console type='pty'/>",
     "unsupported configuration: Only the first console can be a serial port"),
    ("<serial type='pty'><target type='isa-serial' port='4'/></serial>",
     "internal error: Maximum supported number of ISA serial ports is '4'"),
    ("<serial type='tcp'><source mode='bind' service='1'/></serial>",
     "internal error: Missing source host attribute for char device"),
    ("<serial type='udp'><source mode='bind' host='h' service='1'/></serial>",
     "internal error: Missing source service attribute for char device"),
    ("<channel type='pipe'><target type='virtio'/></channel>",
     "internal error: Missing source path attribute for char device"),
    ("<serial type='spiceport'/>",
     "unsupported configuration: Missing source channel attribute for char device"),
    ("<disk type='file' device='cdrom'/>", "missing target information for device"),
    ("<disk type='file'><source file='/a'/><target dev='vdb'/></disk>"
     "<disk type='file'><source file='/b'/><target dev='vdb' bus='scsi'/></disk>",
     "XML error: target 'vdb' duplicated for disk sources '/a' and '/b'"),
    ("<disk type='file' device='floppy'><source file='/a'/><target dev='fda' bus='ide'/>"
     "</disk>", "internal error: Invalid bus type 'ide' for floppy disk"),
    ("<controller type='usb' index='-1'/>",
     "XML error: Invalid value for attribute 'index' in element 'controller': '-1'. "
     "Expected non-negative value"),
    ("<video><model type='vga' primary='yes'/></video>"
     "<video><model type='qxl' primary='yes'/></video>",
     "unsupported configuration: Only one primary video device is supported"),
    ("<interface type='user'><mac address='01:00:5e:00:00:01'/></interface>",
     "XML error: expected unicast mac address, found multicast '01:00:5e:00:00:01'"),
    ("<memballoon model='virtio'/><memballoon model='none'/>",
     "internal error: only a single memory balloon device is supported"),
    ("<disk type='file'><source file='/a'/><target dev='vda'/><boot order='2'/></disk>"
     "<interface type='user'><boot order='2'/></interface>",
     "unsupported configuration: boot order '2' used for more than one device"),
])
def test_refused(devices: str, message: str) -> None:
    with pytest.raises(VirtError, match=re.escape(message)):
        devices_of(devices)


def test_copy_reads_the_devices_again() -> None:
    defn = parse_domain_xml(
        "<domain type='test'><name>d</name><memory>1024</memory><os><type>hvm</type></os>"
        "<devices><controller type='scsi' index='2'/><controller type='scsi'/></devices>"
        "</domain>")
    assert [c.get("index") for c in defn.devices] == ["2", "0"]
    assert [c.get("index") for c in defn.copy().devices] == ["0", "2"]


def test_unix_virtio_channel_needs_no_path() -> None:
    assert "<channel type='unix'>" in devices_of(
        "<channel type='unix'><source mode='bind'/><target type='virtio'/></channel>")


def test_device_boot_order_excludes_os_boot() -> None:
    with pytest.raises(VirtError, match="per-device boot elements cannot be used together"):
        parse_domain_xml(
            "<domain type='test'><name>d</name><memory>1024</memory><os><type>hvm</type>"
            "<boot dev='hd'/></os><devices><disk type='file'><source file='/a'/>"
            "<target dev='vda'/><boot order='1'/></disk></devices></domain>")


def test_untyped_controllers_and_chardevs() -> None:
    lines = devices_of("<controller/><serial/>")
    assert "<controller type='ide' index='0'/>" in lines
    assert "<serial type='pty'>" in lines


def test_serial_ports_count_every_serial_port() -> None:
    # serial ports are numbered once all are read, parallel ports as they are read
    lines = devices_of("<serial type='pty'/><serial type='pty'><target port='2'/></serial>"
                       "<parallel type='pty'/><parallel type='pty'><target port='2'/>"
                       "</parallel>")
    assert [line for line in lines if line.startswith("<target")] == [
        "<target port='3'/>", "<target port='2'/>", "<target port='0'/>",
        "<target port='2'/>", "<target type='serial' port='3'/>"]


@pytest.mark.parametrize(("target", "console"), [
    ("system-serial", True), ("sclp-serial", True), ("spapr-vio-serial", True),
    ("isa-debug", False), ("usb-serial", False),
])
def test_first_serial_types_with_a_console(target: str, console: bool) -> None:
    lines = devices_of(f"<serial type='pty'><target type='{target}'/></serial>")
    assert ("<console type='pty'>" in lines) is console


def test_usb_master_goes_before_its_companions() -> None:
    assert controllers(devices_of(
        "<controller type='usb' model='ich9-uhci1' index='0'/>"
        "<controller type='usb' model='ich9-ehci1' index='0'/>")) == [
        "<controller type='usb' index='0' model='ich9-ehci1'/>",
        "<controller type='usb' index='0' model='ich9-uhci1'>"]


@pytest.mark.parametrize(("devices", "kwargs", "message"), [
    ("<controller type='usb' model='ich9-uhci2'/>", {}, "No master USB controller specified"),
    ("<input type='tablet'/>", {"os_type": "xen"},
     "internal error: xen bus does not support tablet input device"),
    ("<input type='mouse' bus='usb'/>", {"os_type": "xen"},
     "internal error: unsupported input bus usb"),
    ("<serial type='pty'><target type='isa-debug'/></serial>",
     {"arch": "aarch64", "virt": "kvm"},
     "unsupported configuration: isa-debug serial type only valid on x86 architecture"),
    ("<disk type='file'><source file='/a'/><target dev='sdb' bus='scsi'/>"
     "<address type='drive' unit='0'/></disk><disk type='file'><source file='/b'/>"
     "<target dev='sda' bus='scsi'/></disk>", {},
     "Found duplicate drive address for disk with target name 'sda' controller='0' "
     "bus='0' target='0' unit='0'"),
])
def test_refused_for_the_guest(devices: str, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(VirtError, match=re.escape(message)):
        devices_of(devices, **kwargs)


def _disk_on(bus: str, controller: str) -> str:
    dev = "fda" if bus == "fdc" else "sda"
    device = "floppy" if bus == "fdc" else "disk"
    return (f"<disk type='file' device='{device}'><source file='/a'/>"
            f"<target dev='{dev}' bus='{bus}'/><address type='drive' controller='{controller}'"
            " bus='0' target='0' unit='0'/></disk>")


@pytest.mark.parametrize("bus", ["scsi", "ide", "sata", "fdc"])
def test_controllers_up_to_a_drive_address_are_added_in_bounded_time(bus: str) -> None:
    # libvirt adds every controller up to the index a drive address names: up to 4095
    # testvirtd does the same, at once
    started = time.monotonic()
    assert len(controllers(devices_of(_disk_on(bus, "4095")))) >= 4096
    assert time.monotonic() - started < 10
    # from 4096 on it refuses the address (libvirtd spins adding up to 2**31 of them)
    started = time.monotonic()
    with pytest.raises(VirtError) as err:
        devices_of(_disk_on(bus, "2147483647"))
    assert time.monotonic() - started < 2
    assert err.value.code == 67
    assert f"'{bus}' controller 2147483647" in err.value.message


def test_scsi_hostdev_addresses_are_bounded_too() -> None:
    with pytest.raises(VirtError) as err:
        devices_of("<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
                   "<address bus='0' target='0' unit='0'/></source>"
                   "<address type='drive' controller='100000' bus='0' target='0' unit='0'/>"
                   "</hostdev>")
    assert err.value.code == 67


@pytest.mark.parametrize("controller", ["2147483648", "4294967295"])
def test_drive_controllers_from_two_to_the_31_add_none(controller: str) -> None:
    # libvirt compares them as C ints (negative): no controller is added for them
    assert controllers(devices_of(_disk_on("scsi", controller))) == []


def _disk_name(n: int) -> str:
    """sda, sdb ... sdz, sdaa ...: the n-th SCSI disk name."""
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return "sd" + letters


#: one of many devices of a kind, numbered; each kind is compared, numbered or named
#: against the others of its kind
_MANY = {
    "drive-addresses": lambda n: (
        f"<disk type='file' device='disk'><source file='/i/{n}'/>"
        f"<target dev='{_disk_name(n)}' bus='scsi'/>"
        f"<address type='drive' controller='0' bus='0' target='0' unit='{n}'/></disk>"),
    "disk-targets": lambda n: (f"<disk type='file' device='disk'><source file='/i/{n}'/>"
                               f"<target dev='{_disk_name(n)}' bus='scsi'/></disk>"),
    "smartcards": lambda n: "<smartcard mode='host'/>",
    "serials": lambda n: "<serial type='pty'/>",
    "parallels": lambda n: "<parallel type='pty'/>",
    "consoles": lambda n: "<console type='pty'><target type='virtio'/></console>",
    "videos": lambda n: "<video><model type='vga'/></video>",
    "interfaces": lambda n: "<interface type='user'/>",
    "usb-controllers": lambda n: f"<controller type='usb' index='{n}'/>",
}


@pytest.mark.parametrize("kind", sorted(_MANY))
def test_many_devices_of_a_kind_are_read_in_bounded_time(kind: str) -> None:
    # each device compared with every other took up to half a minute for 4000 devices
    count = 12000 if kind == "usb-controllers" else 4000  # (each as many as 1 MiB holds)
    devices = "".join(_MANY[kind](n) for n in range(count))
    started = time.monotonic()
    lines = devices_of(devices)
    assert time.monotonic() - started < 5
    assert len(lines) >= count
