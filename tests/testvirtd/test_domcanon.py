"""The canonical form of domain XML elements (daemons/testvirtd/domcanon.py).

The side-by-side scenarios in tests/interop compare whole documents with libvirtd's; these
pin single rules of the table, each as libvirtd 9.0's test driver writes it back.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from daemons.testvirtd import domcanon
from daemons.testvirtd.domxml import format_domain_xml, format_element, parse_domain_xml


def canon(xml: str, path: str, **ctx: str) -> str:
    elem = domcanon.canonical(ET.fromstring(xml), path, domcanon.Context(**ctx))
    return format_element(elem, 0)


def devices_of(devices: str, os_type: str = "hvm") -> str:
    defn = parse_domain_xml(
        f"<domain type='test'><name>c</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
        f"<memory>1024</memory><os><type>{os_type}</type></os><devices>{devices}</devices>"
        "</domain>")
    text = format_domain_xml(defn)
    return text[text.index("<devices>") + len("<devices>\n"):text.index("  </devices>")]


@pytest.mark.parametrize(("given", "expected"), [
    ("0-3,^2,5", "0-1,3,5"),
    ("1,2,3,5-7,^6", "1-3,5,7"),
    ("7", "7"),
    ("0-1, 4", "0-1,4"),
    (" 1 , 2 ", "1-2"),
    ("1 - 3", "1-3"),
    ("3-+5", "3-5"),
    ("1,", "1"),
    ("^1", ""),
    ("16383", "16383"),
    ("x", None),
    ("", None),
    ("1,,2", None),
    ("^2-3", None),
    ("3-1", None),
    ("-1", None),
    ("16384", None),
    ("0-16384", None),
    ("0-4294967295", None),
    ("1" * 5000, None),
    ("0-" + "9" * 5000, None),
])
def test_bitmaps(given: str, expected: str | None) -> None:
    assert domcanon.format_bitmap(given) == expected


def test_disk_children_and_attributes_in_formatter_order() -> None:
    got = canon("<disk device='disk' type='file'><address type='pci' slot='4'/><boot order='1'/>"
                "<serial>S</serial><readonly/><target bus='virtio' dev='vda'/>"
                "<source file='/a'/><driver type='raw' name='qemu' cache='default'/></disk>",
                "devices/disk")
    assert got == (
        "<disk type='file' device='disk'>\n"
        "  <driver name='qemu' type='raw'/>\n"
        "  <source file='/a'/>\n"
        "  <target dev='vda' bus='virtio'/>\n"
        "  <readonly/>\n"
        "  <serial>S</serial>\n"
        "  <boot order='1'/>\n"
        "  <address type='pci' domain='0x0000' bus='0x00' slot='0x04' function='0x0'/>\n"
        "</disk>\n")


def test_cdrom_defaults() -> None:
    assert canon("<disk device='cdrom'><target dev='hdc'/></disk>", "devices/disk") == (
        "<disk type='file' device='cdrom'>\n  <target dev='hdc' bus='ide'/>\n  <readonly/>\n"
        "</disk>\n")


@pytest.mark.parametrize(("given", "expected"), [
    ("<graphics type='vnc'/>", "<graphics type='vnc' port='-1' autoport='yes'>"),
    ("<graphics type='vnc' port='5901' autoport='yes'/>",
     "<graphics type='vnc' port='-1' autoport='yes'>"),
    ("<graphics type='vnc' port='5901'/>", "<graphics type='vnc' port='5901' autoport='no'>"),
    ("<graphics type='vnc' port='0'/>", "<graphics type='vnc' autoport='no'>"),
    ("<graphics type='spice'/>", "<graphics type='spice'>"),
    ("<graphics type='spice' port='-1' tlsPort='-1' autoport='yes'/>",
     "<graphics type='spice' autoport='yes'>"),
    ("<graphics type='spice' port='-1'/>", "<graphics type='spice' port='-1' autoport='no'>"),
    ("<graphics type='spice' tlsPort='5902'/>",
     "<graphics type='spice' tlsPort='5902' autoport='no'>"),
    ("<graphics type='rdp'/>", "<graphics type='rdp' port='0' autoport='yes'>"),
    ("<graphics listen='1.2.3.4' type='vnc' autoport='yes'/>",
     "<graphics type='vnc' port='-1' autoport='yes' listen='1.2.3.4'>"),
])
def test_graphics_ports(given: str, expected: str) -> None:
    assert canon(given, "devices/graphics").splitlines()[0] == expected


def test_graphics_listen_children_first_then_spice_options() -> None:
    got = canon("<graphics type='spice' port='5900'><gl enable='yes'/><mouse mode='client'/>"
                "<image compression='off'/><listen type='address' address='::1'/></graphics>",
                "devices/graphics")
    assert got.splitlines() == [
        "<graphics type='spice' port='5900' autoport='no' listen='::1'>",
        "  <listen type='address' address='::1'/>",
        "  <image compression='off'/>",
        "  <mouse mode='client'/>",
        "  <gl enable='yes'/>",
        "</graphics>",
    ]


def test_graphics_socket_listen_has_no_ports() -> None:
    assert canon("<graphics type='vnc' port='5900'><listen type='socket' socket='/s'/>"
                 "</graphics>", "devices/graphics").splitlines()[0] == (
        "<graphics type='vnc' socket='/s'>")


@pytest.mark.parametrize(("model", "expected"), [
    ("qxl", "<model type='qxl' ram='65536' vram='65536' heads='1' primary='yes'/>"),
    ("cirrus", "<model type='cirrus' vram='16384' heads='1' primary='yes'/>"),
    ("vga", "<model type='vga' vram='16384' heads='1' primary='yes'/>"),
    ("xen", "<model type='xen' vram='4096' heads='1' primary='yes'/>"),
    ("virtio", "<model type='virtio' heads='1' primary='yes'/>"),
])
def test_video_model_defaults(model: str, expected: str) -> None:
    assert expected in devices_of(f"<video><model type='{model}'/></video>")


def test_only_the_first_video_is_primary() -> None:
    text = devices_of("<video><model type='vga'/></video><video><model type='qxl'/></video>")
    assert text.count("primary='yes'") == 1
    assert "<model type='vga' vram='16384' heads='1' primary='yes'/>" in text


def test_video_default_model_follows_the_os_type() -> None:
    assert "<model type='xen' vram='4096'" in devices_of("<video/>", os_type="xen")


def test_spicevmc_redirdev_is_written_open() -> None:
    assert ("    <redirdev bus='usb' type='spicevmc'>\n    </redirdev>\n"
            in devices_of("<controller type='usb'/><redirdev bus='usb' type='spicevmc'/>"))


def test_tcp_redirdev_gets_raw_protocol() -> None:
    # libvirt refuses a redirected USB device without a USB controller
    text = devices_of("<controller type='usb'/><redirdev bus='usb' type='tcp'><boot order='2'/>"
                      "<source mode='connect' host='h' service='1'/></redirdev>")
    assert ("<source mode='connect' host='h' service='1'/>\n      <protocol type='raw'/>\n"
            "      <boot order='2'/>") in text


def test_interface_mac_before_source() -> None:
    got = canon("<interface type='bridge'><model type='virtio'/><source bridge='br0'/>"
                "<mac address='52:54:00:00:00:01'/></interface>", "devices/interface")
    assert [line.strip().split()[0] for line in got.splitlines()[1:-1]] == [
        "<mac", "<source", "<model"]


def test_unix_channel_without_path_loses_its_source() -> None:
    got = canon("<channel type='unix'><source mode='bind'/>"
                "<target type='virtio' name='a' state='connected'/></channel>",
                "devices/channel")
    assert got == "<channel type='unix'>\n  <target type='virtio' name='a'/>\n</channel>\n"


def test_memtune_in_kib() -> None:
    got = canon("<memtune><swap_hard_limit unit='M'>30</swap_hard_limit>"
                "<hard_limit>10</hard_limit></memtune>", "memtune")
    assert got == ("<memtune>\n  <hard_limit unit='KiB'>10</hard_limit>\n"
                   "  <swap_hard_limit unit='KiB'>30720</swap_hard_limit>\n</memtune>\n")


def test_features_states() -> None:
    got = canon("<features><hap/><pae state='on'/><acpi/></features>", "features")
    assert got == "<features>\n  <acpi/>\n  <pae/>\n  <hap state='on'/>\n</features>\n"


def test_os_children_per_os_type() -> None:
    ctx = domcanon.Context(os_type="xen")
    kept = domcanon.os_children([ET.fromstring("<boot dev='fd'/>"),
                                 ET.fromstring("<loader>/l</loader>")], ctx)
    assert [format_element(e, 0) for e in kept] == ["<loader type='rom'>/l</loader>\n"]


def test_unknown_kinds_keep_their_order() -> None:
    xml = "<frobnicator b='1' a='2'><z/><y/></frobnicator>"
    assert canon(xml, "devices/frobnicator") == format_element(ET.fromstring(xml), 0)


def test_vnc_drops_what_only_sdl_reads() -> None:
    assert canon("<graphics type='vnc' display=':3' xauth='/x' keymap='fi'/>",
                 "devices/graphics").splitlines()[0] == (
        "<graphics type='vnc' port='-1' autoport='yes' keymap='fi'>")


def test_empty_block_drive_is_a_file_drive() -> None:
    assert canon("<disk type='block' device='cdrom'><target dev='hdc' bus='ide'/></disk>",
                 "devices/disk").startswith("<disk type='file' device='cdrom'>")


@pytest.mark.parametrize(("given", "expected"), [
    ("<seclabel type='static' model='selinux'><label>l</label><imagelabel>i</imagelabel>"
     "</seclabel>",
     "<seclabel type='static' model='selinux' relabel='no'>\n  <label>l</label>\n"
     "</seclabel>\n"),
    ("<seclabel type='dynamic' model='dac'><label>0:0</label></seclabel>",
     "<seclabel type='dynamic' model='dac' relabel='yes'/>\n"),
    ("<seclabel relabel='yes'/>", None),
])
def test_seclabels(given: str, expected: str | None) -> None:
    elem = domcanon.canonical(ET.fromstring(given), "seclabel")
    assert (format_element(elem, 0) if elem is not None else None) == expected


def test_cpu_defaults_and_unknown_children() -> None:
    assert canon("<cpu match='exact'><model>core2duo</model><foo/></cpu>", "cpu") == (
        "<cpu mode='custom' match='exact'>\n  <model fallback='allow'>core2duo</model>\n"
        "</cpu>\n")
    assert domcanon.canonical(ET.fromstring("<cpu><foo bar='baz'/></cpu>"), "cpu") is None


def test_device_seclabel_relabel_without_label_is_not_written() -> None:
    got = canon("<disk type='file'><source file='/a'><seclabel model='dac'/>"
                "<seclabel model='selinux' relabel='no'/></source><target dev='vda'/></disk>",
                "devices/disk")
    assert "<seclabel model='dac'" not in got
    assert "<seclabel model='selinux' relabel='no'/>" in got


def test_character_device_protocols() -> None:
    assert "<protocol type='raw'/>" not in devices_of(
        "<controller type='usb' model='qemu-xhci'/><redirdev bus='usb' type='unix'><source mode='connect' path='/s'/>"
        "<protocol type='raw'/></redirdev>")
    got = canon("<rng model='virtio'><backend model='egd' type='tcp'>"
                "<source mode='connect' host='h' service='1'/></backend></rng>", "devices/rng")
    assert "<source mode='connect' host='h' service='1'/>\n    <protocol type='raw'/>" in got


def test_network_disk_host_default_port() -> None:
    got = canon("<disk type='network' device='cdrom'><source protocol='http' name='a.iso'>"
                "<host name='example.com'/></source><target dev='hda'/></disk>",
                "devices/disk")
    assert "<host name='example.com' port='80'/>" in got


def test_zero_iotune_values_are_not_written() -> None:
    got = canon("<disk><iotune><read_bytes_sec>0</read_bytes_sec></iotune>"
                "<target dev='vda'/></disk>", "devices/disk")
    assert "iotune" not in got


def test_video_memory_rounded_to_a_power_of_two() -> None:
    assert "vram='16384'" in devices_of("<video><model type='cirrus' vram='10240'/></video>")


def test_spice_without_ports_does_not_listen() -> None:
    assert canon("<graphics type='spice' listen='1.2.3.4'/>", "devices/graphics") == (
        "<graphics type='spice'>\n  <listen type='none'/>\n</graphics>\n")


def test_iothread_ids_completed() -> None:
    extra = {"iothreads": [ET.fromstring("<iothreads>3</iothreads>")],
             "iothreadids": [ET.fromstring("<iothreadids><iothread id='2'/></iothreadids>")]}
    domcanon.fill_iothread_ids(extra)
    assert [t.get("id") for t in extra["iothreadids"][0]] == ["2", "1", "3"]


def test_interface_options_read_per_type_and_model() -> None:
    got = canon("<interface type='user'><filterref filter='f'/><driver queues='2'/>"
                "<model type='e1000'/><alias name='net0'/></interface>", "devices/interface")
    assert got == "<interface type='user'>\n  <model type='e1000'/>\n</interface>\n"


def test_every_vcpu_listed() -> None:
    got = domcanon.canonical(ET.fromstring(
        "<vcpus><vcpu id='2' enabled='yes' order='2'/><vcpu id='0' enabled='yes'/></vcpus>"),
        "vcpus", domcanon.Context(vcpus=3))
    assert got is not None
    assert [dict(v.attrib) for v in got] == [
        {"id": "0", "enabled": "yes", "hotpluggable": "no"},
        {"id": "1", "enabled": "no", "hotpluggable": "yes"},
        {"id": "2", "enabled": "yes", "hotpluggable": "no", "order": "2"}]


def test_schedulers_one_per_vcpu() -> None:
    got = canon("<cputune><vcpusched vcpus='0-3,^2' scheduler='fifo' priority='9'/></cputune>",
                "cputune")
    assert [line.strip() for line in got.splitlines()[1:-1]] == [
        f"<vcpusched vcpus='{n}' scheduler='fifo' priority='9'/>" for n in (0, 1, 3)]


def test_a_bootloader_leaves_os_boot_settings_out() -> None:
    ctx = domcanon.Context(bootloader=True)
    kept = domcanon.os_children([ET.fromstring("<bootmenu enable='yes'/>"),
                                 ET.fromstring("<smbios mode='host'/>")], ctx)
    assert [e.tag for e in kept] == ["smbios"]


@pytest.mark.parametrize(("given", "path", "expected"), [
    ("<clock/>", "clock", "<clock offset='utc'/>\n"),
    ("<interface><source bridge='br0'/><model/></interface>", "devices/interface",
     "<interface type='user'/>\n"),
    ("<controller index='0' maxGrantFrames='64'/>", "devices/controller",
     "<controller type='ide' index='0'/>\n"),
    ("<channel><source mode='bind'/><target type='virtio' name='a'/></channel>",
     "devices/channel", "<channel type='pty'>\n  <target type='virtio' name='a'/>\n</channel>\n"),
    ("<serial type='udp'><source host='a' service='1'/><source mode='bind' service='2'/>"
     "</serial>", "devices/serial",
     "<serial type='udp'>\n  <source mode='bind' service='2'/>\n"
     "  <source mode='connect' host='a' service='1'/>\n</serial>\n"),
    ("<disk type='file'><source protocol='http' name='a'/><target dev='vda'/></disk>",
     "devices/disk", "<disk type='file' device='disk'>\n  <target dev='vda' bus='virtio'/>\n"
     "</disk>\n"),
])
def test_defaults_and_what_is_not_read(given: str, path: str, expected: str) -> None:
    assert canon(given, path) == expected


def test_empty_power_management_is_not_written() -> None:
    assert domcanon.canonical(ET.fromstring("<pm><suspend-to-mem/></pm>"), "pm") is None


@pytest.mark.parametrize(("xml", "path", "expected"), [
    ("<clock><timer name='rtc'/><timer present='no'/></clock>", "clock", ("timer", "name")),
    ("<graphics type='spice'><image/></graphics>", "devices/graphics", ("image", "compression")),
    ("<graphics type='vnc'><image/></graphics>", "devices/graphics", None),
    ("<os><type>hvm</type><boot/></os>", "os", ("boot", "dev")),
    ("<interface type='user'><source/></interface>", "devices/interface", None),
])
def test_required_attributes(xml: str, path: str, expected: tuple[str, str] | None) -> None:
    assert domcanon.missing_attribute(ET.fromstring(xml), path) == expected


def test_required_attribute_refused_in_parse_order() -> None:
    from daemons.testvirtd.domxml import VirtError

    with pytest.raises(VirtError) as caught:
        parse_domain_xml("<domain type='test'><name>r</name><memory>1024</memory><os>"
                         "<type>hvm</type><boot/></os><clock><timer/></clock></domain>")
    assert (caught.value.code, caught.value.domain, caught.value.message) == (
        27, 5, "XML error: Missing required attribute 'name' in element 'timer'")


def test_redirected_devices_are_usb_ones() -> None:
    assert canon("<redirdev type='spicevmc'/>", "devices/redirdev") == (
        "<redirdev bus='usb' type='spicevmc'>\n</redirdev>\n")
