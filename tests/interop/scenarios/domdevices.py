"""Which devices a domain has once libvirt has read it: the controllers, consoles, serial
ports, videos and addresses libvirt's post-parse adds or numbers, the order its parser
keeps them in, and the device sets it refuses.

Each document is defined, dumped, started (the persistent definition of a running domain
is a copy that went through the parser again) and dumped again, then removed, against both
servers.  MAC addresses and UUIDs are given where they would otherwise be random.
"""

from __future__ import annotations

import re

from ..scenario_runner import Session, libvirt, scenario

_UUID = "5d1c0a7e-0000-4000-8000-{n:012d}"


def _domain(n: int, name: str, devices: str, *, virt: str = "test", os_type: str = "hvm",
            arch: str | None = None, memory: str = "<memory unit='MiB'>64</memory>",
            extra: str = "") -> str:
    """A domain of *devices*; *memory* stands for its memory size, *extra* is added after
    its ``<os>``."""
    arch_attr = f" arch='{arch}'" if arch else ""
    return (f"<domain type='{virt}'><name>{name}</name><uuid>{_UUID.format(n=n)}</uuid>"
            f"{memory}<os><type{arch_attr}>{os_type}</type></os>{extra}"
            f"<devices>{devices}</devices></domain>")


def _dimm(size_kib: int | str, node: str | None = None, more: str = "",
          model: str = " model='dimm'") -> str:
    """A memory device of *size_kib* KiB (on guest NUMA node *node*)."""
    node_elem = f"<node>{node}</node>" if node is not None else ""
    return (f"<memory{model}><target><size unit='KiB'>{size_kib}</size>{node_elem}{more}"
            "</target></memory>")


def _numa(cells: int = 1) -> str:
    """*cells* guest NUMA cells of 32 MiB, one CPU each."""
    return ("<cpu><numa>" + "".join(f"<cell cpus='{n}' memory='32' unit='MiB'/>"
                                    for n in range(cells)) + "</numa></cpu>")


def _disk(dev: str, bus: str | None = None, device: str = "disk", extra: str = "") -> str:
    bus_attr = f" bus='{bus}'" if bus else ""
    return (f"<disk type='file' device='{device}'><source file='/var/img/{dev}.img'/>"
            f"<target dev='{dev}'{bus_attr}/>{extra}</disk>")


def _nics_at(*addresses: str, first: int = 0) -> str:
    """User-mode NICs (with their own MAC addresses) at *addresses*."""
    return "".join(f"<interface type='user'><mac address='52:54:00:12:04:{first + n:02x}'/>"
                   f"{address}</interface>" for n, address in enumerate(addresses))


#: (name, devices, keyword arguments of _domain)
DOCUMENTS: list[tuple[str, str, dict[str, str]]] = [
    ("controller-indexes",
     "<controller type='scsi'/><controller type='scsi' index='0'/>"
     "<controller type='usb' index='3'/><controller type='usb' index='1'/>"
     "<controller type='ide' index='1'/><controller type='usb'/>"
     "<controller type='pci' model='pcie-root-port'/><controller type='pci' model='pcie-root'/>",
     {}),
    ("usb2-companions",
     "<controller type='usb' model='ich9-uhci2'/><controller type='usb' model='ich9-ehci1'/>"
     "<controller type='usb' model='ich9-uhci1' index='2'/>"
     "<controller type='usb' model='piix3-uhci'/><controller type='usb' model='ich9-uhci3'/>"
     "<controller type='usb' model='ich9-ehci1' index='4'/>"
     "<controller type='usb' model='ich9-uhci1'><master startport='0'/></controller>",
     {}),
    ("drive-controllers",
     "<controller type='sata' index='2'/><controller type='sata'/>"
     + _disk("sdz", "sata") + _disk("hdc", "ide") + _disk("fdc", device="floppy")
     + _disk("sdc", "scsi") + _disk("sdx", "scsi") + _disk("hdb")
     + _disk("sda") + _disk("vda", "virtio")
     + _disk("sdb", "scsi", extra="<address type='drive' controller='5'/>")
     + "<controller type='scsi' index='3'/><controller type='scsi' model='virtio-scsi'/>",
     {}),
    ("scsi-hostdevs",
     "<controller type='scsi' index='3'/><controller type='scsi' model='virtio-scsi'/>"
     + _disk("sdh", "scsi")
     + "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
     "<address bus='0' target='0' unit='0'/></source></hostdev>"
     "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
     "<address bus='0' target='0' unit='1'/></source>"
     "<address type='drive' controller='2' bus='0' target='0' unit='0'/></hostdev>"
     "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
     "<address bus='0' target='0' unit='2'/></source></hostdev>",
     {}),
    ("scsi-hostdev-after-full-controller",
     "<controller type='scsi' model='virtio-scsi'/>"
     + "".join(_disk(f"sd{c}", "scsi") for c in "abcdefg")
     + "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
     "<address bus='0' target='0' unit='0'/></source></hostdev>"
     "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
     "<address bus='0' target='0' unit='1'/></source></hostdev>",
     {}),
    ("serial-ports-after-reading",
     "<serial type='pty'><target type='system-serial'/></serial>"
     "<serial type='pty'><target port='2'/></serial><serial type='pty'/>"
     "<parallel type='pty'/><parallel type='pty'><target port='2'/></parallel>", {}),
    ("sclp-serial-console", "<serial type='pty'><target type='sclp-serial'/></serial>",
     {"virt": "kvm", "arch": "s390x"}),
    ("usb-companion-before-master",
     "<controller type='usb' model='ich9-uhci1' index='0'/>"
     "<controller type='usb' model='ich9-ehci1' index='0'/>"
     "<controller type='usb' model='ich9-uhci2' index='1'/>"
     "<controller type='usb' model='piix3-uhci' index='1'/>", {}),
    ("xen-inputs", "<input type='mouse'/><input type='keyboard' bus='xen'/>",
     {"os_type": "xen"}),
    ("inputs-without-bus", "<input type='mouse' bus='none'/><input type='evdev'>"
     "<source dev='/dev/input/event1'/></input>", {}),
    ("console-alone", "<console type='pty'/>", {}),
    ("console-for-serial",
     "<serial type='file'><source path='/var/log/s0'/></serial><console type='pty'/>"
     "<console type='pty'><target type='virtio' port='7'/></console>", {}),
    ("serial-gets-console",
     "<serial type='tcp'><source mode='bind' host='127.0.0.1' service='2222'/>"
     "<protocol type='telnet'/><log file='/var/log/s.log'/><target port='1'/>"
     "<alias name='ua-serial0'/><address type='isa' iobase='0x3f8' irq='4'/></serial>"
     "<serial type='pty'/>", {}),
    ("serial-types",
     "<serial type='pty'><target type='isa-serial' port='1'/></serial>"
     "<serial type='pty'><target type='isa-serial'/></serial><serial type='pty'/>"
     "<parallel type='pty'/><parallel type='pty'><target port='3'/></parallel>"
     "<parallel type='pty'/>", {}),
    ("pci-serial-no-console", "<serial type='pty'><target type='pci-serial'/></serial>", {}),
    ("usb-serial-and-console",
     "<serial type='pty'><target type='usb-serial'/></serial><console type='pty'/>", {}),
    ("virtio-consoles",
     "<serial type='pty'><target port='2'/></serial><serial type='pty'/>"
     "<console type='pty'><target type='virtio' port='5'/></console>"
     "<console type='pty'><target type='virtio' port='3'/></console>", {}),
    ("virtio-serial-channels",
     "<controller type='virtio-serial' index='2'/>"
     "<channel type='pty'><target type='virtio' name='org.example.a' port='3'/></channel>"
     "<channel type='spicevmc'><target type='virtio'/>"
     "<address type='virtio-serial' controller='1' bus='0' port='2'/></channel>"
     "<channel type='pty'><target type='guestfwd' address='10.0.2.1' port='4600'/></channel>",
     {}),
    ("xen-console", "<console type='pty'/><serial type='pty'/><graphics type='vnc'/>",
     {"os_type": "xen"}),
    ("graphics-video-inputs",
     "<graphics type='vnc'/><input type='tablet'/><input type='mouse'/>"
     "<input type='keyboard' bus='usb'/><input type='keyboard'/>", {}),
    ("ppc64-video", "<graphics type='vnc'/><input type='mouse'/>",
     {"virt": "kvm", "arch": "ppc64"}),
    ("s390x-inputs",
     "<input type='mouse'/><input type='passthrough'><source evdev='/dev/input/event1'/>"
     "</input>", {"virt": "kvm", "arch": "s390x"}),
    ("vbox-video", "<graphics type='vnc'/>", {"virt": "vbox"}),
    ("video-none", "<video><model type='none'/></video><graphics type='vnc'/>", {}),
    ("defaulted-types", "<controller/><serial/><panic/><panic model='isa'/>", {}),
    ("primary-video",
     "<video><model type='vga'/></video><video><model type='qxl' primary='yes'/></video>", {}),
    ("smartcards-usb",
     "<controller type='usb'/><smartcard mode='host'/>"
     "<smartcard mode='passthrough' type='spicevmc'><address type='ccid' controller='0'"
     " slot='4'/></smartcard><smartcard mode='passthrough' type='spicevmc'/>"
     "<redirdev bus='usb' type='spicevmc'/><redirdev bus='usb' type='spicevmc'>"
     "<address type='usb' bus='0' port='3'/></redirdev><hub type='usb'/>"
     + _disk("sdb", "usb") + "<input type='tablet' bus='usb'/>", {}),
    ("interface-names",
     "<interface type='user'><mac address='52:54:00:12:00:01'/><target dev='vnet3'/>"
     "</interface><interface type='user'><mac address='52:54:00:12:00:02'/>"
     "<target dev='testnet0'/></interface><interface type='user'>"
     "<mac address='52:54:00:12:00:03'/></interface><interface type='hostdev'>"
     "<mac address='52:54:00:12:00:04'/><source><address type='pci' domain='0' bus='0'"
     " slot='7' function='0'/></source></interface><interface type='user'>"
     "<target dev='macvtap0'/><mac address='52:54:00:AB:CD:EF'/></interface>", {}),
    ("addresses",
     "<disk type='file' device='disk'><source file='/var/img/a'/><target dev='vda'/>"
     "<address type='pci' domain='0' bus='1' slot='10' function='0'/></disk>"
     "<controller type='usb' model='ich9-ehci1'><address type='pci' domain='0' bus='0'"
     " slot='4' function='7'/></controller>"
     "<interface type='user'><mac address='52:54:00:12:00:05'/><model type='virtio'/>"
     "<address type='spapr-vio' reg='0x500'/></interface>"
     "<interface type='user'><mac address='52:54:00:12:00:06'/><model type='virtio'/>"
     "<address type='ccw' cssid='0xfe' ssid='0' devno='1'/></interface>"
     "<panic model='isa'><address type='isa' iobase='0x505' irq='5'/></panic>"
     + _disk("sdd", "scsi", extra="<address type='drive' controller='0' target='2'/>")
     + "<controller type='scsi' model='virtio-scsi'><address type='pci'/></controller>",
     {}),
    ("redirdevs-of-every-type",
     "<controller type='usb'/>"
     + "".join(f"<redirdev bus='usb' type='{t}'/>" for t in (
         "pty", "null", "vc", "stdio", "qemu-vdagent", "spicevmc"))
     + "<redirdev bus='usb' type='file'><source path='/tmp/r'/></redirdev>"
     "<redirdev bus='usb' type='unix'><source mode='connect' path='/tmp/s'/></redirdev>"
     "<redirdev bus='usb' type='udp'><source mode='connect' host='h' service='1'/>"
     "</redirdev><redirdev bus='usb' type='spiceport'><source channel='c'/></redirdev>",
     {}),
    ("nic-models",
     "".join(f"<interface type='user'><mac address='52:54:00:12:01:{n:02x}'/>"
             f"<model type='{m}'/></interface>" for n, m in enumerate((
                 "E1000", "am79c970a", "unknown", "", "VirtIO", "my_model-1", "_", "Usb-Net")))
     + "<interface type='user'><mac address='52:54:00:12:01:ff'/><model/></interface>", {}),
    ("video-sizes",
     "<video><model type='qxl' ram='3000' vram='5000' vram64='1000' vgamem='100'"
     " heads=' 3'/></video><video><model type='vga' vram='4294967295' heads='0'/></video>"
     "<video><model type='qxl' ram='0' vram='+1000' vgamem='0'/></video>"
     "<video><model type='cirrus' vram='3000000000' ram='0'/></video>"
     "<video><model type='qxl' ram='2147483649'/></video>", {}),
    ("video-none-with-sizes", "<video><model type='none' ram='5' vgamem='3'/></video>", {}),
    ("disk-formats",
     "".join(_disk(f"vd{c}", "virtio", extra=f"<driver name='qemu' type='{f}'/>")
             for c, f in zip("abcdefghijklmnopq", (
                 "raw", "dir", "bochs", "cloop", "dmg", "iso", "vpc", "vdi", "fat", "vhd",
                 "ploop", "cow", "qcow", "qcow2", "qed", "vmdk", "aio"), strict=True)), {}),
    ("udp-sources",
     "<serial type='udp'><source host='a' service='1'/><source mode='bind' service='2'/>"
     "</serial><serial type='udp'><source mode='connect' host='a' service='4'/>"
     "<source mode='bind' host='b' service='3'/></serial><serial type='udp'>"
     "<source service='5'/><source mode='connect' host='h' service='6'/></serial>", {}),
    ("graphics-legacy-autoport",
     "<graphics type='spice' port='-1' tlsPort='-1' autoport='no'/>"
     "<graphics type='vnc' port='-1' autoport='no'/><graphics type='vnc' port='-1'/>", {}),
    ("pci-addresses-without-slot",
     "<controller type='usb' model='ich9-ehci1'><address type='pci' domain='0' slot='0'"
     " function='2'/></controller><interface type='user'><mac address='52:54:00:12:02:01'/>"
     "<address type='pci' function='1'/></interface><interface type='user'>"
     "<mac address='52:54:00:12:02:02'/><address type='pci' slot='3'/></interface>", {}),
    ("nic-driver-of-other-models",
     "<interface type='user'><mac address='52:54:00:12:03:01'/><model type='e1000'/>"
     "<driver name='x' queues='y'/></interface>", {}),
    ("vsocks", "<vsock model='virtio'/>", {}),
    ("vsock-cids", "<vsock model='virtio'><cid/></vsock>", {}),
    ("nmdm-console-without-paths", "<console type='nmdm'/>", {}),
    ("rngs-read-back",
     "<rng model='virtio'><backend model='random'/><rate period='1'/></rng>"
     "<rng model='virtio'><backend model='builtin'>/dev/hwrng</backend></rng>"
     "<rng model='virtio'><rate bytes=' 5' period='+10'/><backend model='egd' type='pty'/>"
     "</rng>", {}),
    # ports are unsigned decimals kept in a signed int ("-N" wraps round; -1 is "unset")
    ("chr-ports-read-back",
     "<serial type='pty'><target port='+5'/></serial>"
     "<serial type='pty'><target port=' 7'/></serial>"
     "<parallel type='pty'><target port='4294967295'/></parallel><parallel type='pty'/>"
     "<console type='pty'><target type='virtio' port='-4294967295'/></console>", {}),
    ("chr-ports-negative",
     "<serial type='pty'><target port='4294967294'/></serial><serial type='pty'/>"
     "<serial type='pty'><target port='2147483648'/></serial>"
     "<parallel type='pty'><target port='4294967291'/></parallel><parallel type='pty'/>", {}),
    ("guestfwd-ports-wrap",
     "<channel type='pty'><target type='guestfwd' address='10.0.2.1' port='65536'/></channel>"
     "<channel type='pty'><target type='guestfwd' address='10.0.2.2' port='4294967295'/>"
     "</channel>"
     "<channel type='pty'><target type='guestfwd' address='10.0.2.3' port='+5'/></channel>",
     {}),
    ("virtio-unix-channel-without-path",
     "<channel type='unix'><source mode='bind'/><target type='virtio' name='org.a'/>"
     "</channel><serial type='pty'><source path='/dev/pts/9'/></serial>", {}),
    # each address type read in its own bases and written back in libvirt's formats
    ("addresses-read-back", _nics_at(
        "<address type='pci' function='8'/>",  # (an empty address: the function unchecked)
        "<address type='pci' slot='010' multifunction='off' x='1'/>",
        "<address type='pci' domain='0xffffffff' bus='+0' slot=' 1' function='7'/>",
        "<address type='usb' port='1 2' bus='1000'/>",
        "<address type='usb' port='+1.0.3'/>", "<address type='usb' port='0.3'/>",
        "<address type='usb' port='4294967295.1.2.3' bus='2147483647'/>",
        "<address type='spapr-vio' reg='500'/>", "<address type='spapr-vio' reg=' +0X1f'/>",
        "<address type='spapr-vio' reg='ffffffffffffffff'/>",
        "<address type='isa' iobase='3f8' irq='0'/>", "<address type='isa' irq='0x1F'/>",
        "<address type='dimm' slot='010' base='100000000'/>",
        "<address type='dimm' slot='4294967295' base='0'/>",
        "<address type='ccw' cssid='0' ssid='0' devno='0'/>",
        "<address type='ccw' cssid='0xfe' ssid='3' devno='0XFFFF'/>",
        "<address type='drive' controller='010' bus='+1' target=' 2'/>",
        "<address type='virtio-serial' port='2147483647'/>",
        "<address type='ccid' slot='7' x='y'/>", "<address type='virtio-mmio' x='y'/>",
        # a PCI address's last <zpci> (written when it gives a uid or fid)
        "<address type='pci' slot='2'><zpci uid='010' fid='0x1f'/></address>",
        "<address type='pci'><zpci uid='2'/><zpci fid='3'/><x/></address>",
        "<address type='pci' slot='3'><zpci/></address>",
        "<address type='drive' unit='1'><zpci uid='x'/></address>")
     + "<iommu model='virtio'><address type='pci' slot='0x1f'/></iommu>"
     "<controller type='pci' model='pci-bridge' index='255'/>", {}),
    # these devices are read without an address (whatever it says)
    ("addresses-not-read",
     "<graphics type='vnc'><address type='bogus'/></graphics>"
     "<lease><lockspace>a</lockspace><key>b</key><target path='/c'/>"
     "<address type='pci' slot='0x20'/></lease>"
     "<audio id='1' type='none'><address type='usb' port='x'/></audio>"
     "<controller type='usb'/><redirfilter><usbdev allow='yes'/><address/></redirfilter>", {}),
    # libvirt 9.0 reads no <crypto> (its address and boot order are not looked at either)
    ("crypto-not-read",
     "<crypto model='virtio' type='qemu'><backend queues='2' model='builtin'/>"
     "<address type='unassigned'/><boot order='1'/></crypto><crypto model='x'/>", {}),
    # a redirection filter without rules is not written (only its rules are read)
    ("redirfilter-without-rules",
     "<controller type='usb'/><redirfilter x='1'><address type='usb'/><x/></redirfilter>", {}),
    ("redirfilter-rules-only",
     "<controller type='usb'/><redirfilter x='1'><x/><usbdev allow='no'/></redirfilter>", {}),
    # memory devices on the guest's NUMA nodes (the first node read, as a number; an empty
    # one is none), within the memory size given
    ("memory-devices-on-numa-nodes",
     _dimm(16384, "1") + _dimm(8192, " +0", "<node>x</node>") + _dimm(8192, "")
     + _dimm(1024),
     {"extra": "<vcpu>2</vcpu>" + _numa(2)
      + "<maxMemory slots='4' unit='MiB'>2048</maxMemory>"}),
    # without a memory size (0 is none), the NUMA cells' and the memory devices' sizes
    # make it
    ("memory-from-cells-and-devices", _dimm(32768, "0") + _dimm(1),
     {"memory": "<memory>0</memory>", "extra": _numa()}),
    # a current memory size of 0 is the total
    ("current-memory-zero", "", {"extra": "<currentMemory>0</currentMemory>"}),
    # numbers from 2**31 on come out negative, and the copy of a started domain is refused
    ("addresses-written-negative", _nics_at(
        "<address type='drive' controller='4294967295' unit='2147483648'/>",
        "<address type='ccid' slot='4294967295'/>", "<address type='usb' bus='2147483648'/>"),
     {}),
]

#: device sets libvirt refuses (each defined against both servers)
REFUSED: list[tuple[str, str]] = [
    ("redirdev-without-usb", "<redirdev bus='usb' type='spicevmc'/>"),
    ("usb-disabled-input",
     "<controller type='usb' model='none'/><input type='tablet' bus='usb'/>"),
    ("usb-none-and-another",
     "<controller type='usb' index='0'/><controller type='usb' model='none'/>"),
    ("duplicate-controllers",
     "<controller type='scsi' index='0'/><controller type='scsi' index='0'/>"),
    ("second-serial-console",
     "<console type='pty'><target type='virtio'/></console><console type='pty'/>"),
    ("five-isa-serials", "<serial type='pty'><target type='isa-serial'/></serial>" * 5),
    ("tcp-serial-without-host", "<serial type='tcp'><source mode='bind' service='1'/></serial>"),
    ("tcp-serial-without-service", "<serial type='tcp'><source mode='connect' host='h'/>"
     "</serial>"),
    ("udp-serial-without-connect-service",
     "<serial type='udp'><source mode='bind' host='h' service='1'/></serial>"),
    ("unix-serial-without-path", "<serial type='unix'><source mode='bind'/></serial>"),
    ("file-serial-without-path", "<serial type='file'/>"),
    ("spiceport-without-channel", "<serial type='spiceport'/>"),
    ("nmdm-without-slave", "<serial type='nmdm'><source master='/dev/nmdm0A'/></serial>"),
    ("redirdev-tcp-without-host",
     "<controller type='usb'/><redirdev bus='usb' type='tcp'><source mode='connect'"
     " service='1'/></redirdev>"),
    ("smartcard-unix-without-path", "<smartcard mode='passthrough' type='unix'/>"),
    ("rng-egd-without-path", "<rng model='virtio'><backend model='egd' type='unix'/></rng>"),
    ("boot-order-twice",
     _disk("vda", "virtio", extra="<boot order='1'/>")
     + "<interface type='user'><mac address='52:54:00:12:00:07'/><boot order='1'/>"
     "</interface>"),
    ("disk-without-target", "<disk type='file' device='disk'><source file='/a'/></disk>"),
    ("cdrom-without-target", "<disk type='file' device='cdrom'/>"),
    ("disk-target-twice", _disk("vda", "virtio") + _disk("vda", "scsi")),
    ("disk-unknown-bus", _disk("hda", "none")),
    ("floppy-on-ide", _disk("fda", "ide", device="floppy")),
    ("disk-on-fdc", _disk("fda", "fdc")),
    ("lun-of-a-file", _disk("sda", "scsi", device="lun")),
    ("ide-disk-pci-address", _disk("hda", extra="<address type='pci'/>")),
    ("two-primary-videos",
     "<video><model type='vga' primary='yes'/></video>"
     "<video><model type='qxl' primary='yes'/></video>"),
    ("drive-address-twice",
     _disk("sdb", "scsi", extra="<address type='drive' unit='0'/>") + _disk("sda", "scsi")),
    ("ide-and-sata-at-one-address", _disk("hda", "ide") + _disk("sda", "sata")),
    ("isa-debug-off-x86", "<serial type='pty'><target type='isa-debug'/></serial>"),
    ("unknown-serial-target", "<serial type='pty'><target type='rs485'/></serial>"),
    ("channel-without-target-type", "<channel type='pty'/>"),
    ("usb-companion-alone", "<controller type='usb' model='ich9-uhci1'/>"),
    ("usb-master-port-alone",
     "<controller type='usb' model='ich9-ehci1'><master startport='4'/></controller>"),
    ("hvm-xen-input", "<input type='mouse' bus='xen'/>"),
    ("passthrough-input-on-usb",
     "<input type='passthrough' bus='usb'><source evdev='/dev/input/event1'/></input>"),
    ("evdev-with-bus",
     "<input type='evdev' bus='usb'><source dev='/dev/input/event1'/></input>"),
    ("pci-hostdev-twice",
     "<interface type='hostdev'><mac address='52:54:00:12:00:08'/><source><address"
     " type='pci' domain='0' bus='1' slot='1' function='0'/></source></interface>"
     "<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x01'"
     " slot='0x01' function='0x0'/></source></hostdev>"),
    ("usb-disabled-default-input", "<controller type='usb' model='none'/><input type='tablet'/>"),
    ("none-video-and-another",
     "<video><model type='none'/></video><video><model type='vga'/></video>"),
    ("controller-index-not-a-number", "<controller type='scsi' index='x'/>"),
    ("controller-index-negative", "<controller type='usb' index='-1'/>"),
    ("controller-index-too-large", "<controller type='usb' index='99999999999'/>"),
    ("controller-unknown-type", "<controller type='floppy'/>"),
    ("input-without-type", "<input/>"),
    ("input-unknown-type", "<input type='joystick'/>"),
    ("input-unknown-bus", "<input type='mouse' bus='serial'/>"),
    ("ps2-tablet", "<input type='tablet' bus='ps2'/>"),
    ("chardev-unknown-type", "<serial type='telepathy'/>"),
    ("dbus-without-channel", "<serial type='dbus'/>"),
    ("multicast-mac", "<interface type='user'><mac address='01:00:5e:00:00:01'/></interface>"),
    ("unreadable-mac", "<interface type='user'><mac address='52:54:00:xx'/></interface>"),
    ("two-balloons", "<memballoon model='virtio'/><memballoon model='virtio'/>"),
    ("two-watchdogs", "<watchdog model='i6300esb'/><watchdog model='ib700'/>"),
    ("two-watchdogs-before-their-models",
     "<watchdog model='itco'/><watchdog model='ib700' action='x'/>"),
    ("two-default-panics", "<panic/><panic/>"),
    ("usb-disabled-hub", "<controller type='usb' model='none'/><hub type='usb'/>"),
    ("usb-disabled-hostdev",
     "<controller type='usb' model='none'/><hostdev mode='subsystem' type='usb'><source>"
     "<vendor id='0x1234'/><product id='0x5678'/></source></hostdev>"),
    ("isa-serial-port-taken",
     "<serial type='pty'><target type='isa-serial' port='1'/></serial>"
     "<serial type='pty'><target type='isa-serial' port='1'/></serial>"),
    ("controller-model-of-another-type", "<controller type='ide' model='pcie-root-port'/>"),
    ("controller-model-on-sata", "<controller type='sata' model='ahci'/>"),
    ("controller-model-unknown", "<controller type='usb' model='uhci'/>"),
    ("controller-model-before-index", "<controller type='scsi' model='x' index='x'/>"),
    ("controller-model-before-disk-target",
     "<disk type='file' device='disk'><source file='/a'/></disk>"
     "<controller type='pci' model='ehci'/>"),
    ("address-without-type", _disk("vda", "virtio", extra="<address bus='0'/>")),
    ("address-unknown-type", "<controller type='usb'><address type='eisa'/></controller>"),
    ("address-none", "<input type='mouse' bus='ps2'><address type='none'/></input>"),
    ("address-virtio-s390", _disk("vda", "virtio", extra="<address type='virtio-s390'/>")),
    ("address-unassigned-off-hostdev",
     "<interface type='user'><mac address='52:54:00:12:00:09'/>"
     "<address type='unassigned'/></interface>"),
    ("address-before-disk-target",
     "<disk type='file' device='disk'><target bus='virtio'/><address/></disk>"),
    ("disk-bus-before-address",
     "<disk type='file' device='disk'><target bus='pci'/><address/></disk>"),
    ("disk-without-source", "<disk type='file' device='disk'><target dev='vda'/></disk>"),
    ("block-disk-with-file-source",
     "<disk type='block' device='disk'><source file='/a'/><target dev='vda'/></disk>"),
    ("disk-without-target-nor-source-path",
     "<disk type='file' device='disk'><source dev='/dev/sda'/></disk>"),
    ("companion-master-of-another-type",
     "<controller type='ide' model='ich9-ehci1'/><controller type='usb' model='ich9-uhci1'/>"),
    ("controller-model-before-graphics-type", "<controller type='sata' model='x'/><graphics/>"),
    ("graphics-type-before-sound-model", "<sound/><graphics/>"),
    ("disk-unknown-device", _disk("vda", "virtio", device="tape")),
    ("disk-unknown-cache", _disk("vda", "virtio", extra="<driver name='qemu' cache='fast'/>")),
    ("disk-io-default", _disk("vda", "virtio", extra="<driver name='qemu' io='default'/>")),
    ("interface-unknown-type", "<interface type='wifi'/>"),
    ("graphics-unknown-type", "<graphics type='x11'/>"),
    ("sound-unknown-model", "<sound model='hda'/>"),
    ("sound-unknown-codec", "<sound model='ich6'><codec type='line'/></sound>"),
    ("memballoon-unknown-model", "<memballoon model='balloon'/>"),
    ("watchdog-unknown-model", "<watchdog model='itco'/>"),
    ("watchdog-unknown-action", "<watchdog model='ib700' action='reboot'/>"),
    ("rng-unknown-model", "<rng model='hwrng'><backend model='random'/></rng>"),
    ("rng-unknown-backend", "<rng model='virtio'><backend model='file'/></rng>"),
    ("video-unknown-model", "<video><model type='svga'/></video>"),
    ("tpm-unknown-model", "<tpm model='tpm-x'><backend type='emulator'/></tpm>"),
    ("tpm-model-before-backend", "<tpm model='x'><backend/></tpm>"),
    ("tpm-backend-without-type", "<tpm><backend/></tpm>"),
    ("tpm-backend-version", "<tpm><backend type='emulator' version='3.0'/></tpm>"),
    ("tpm-unknown-backend", "<tpm model='tpm-tis'><backend type='swtpm'/></tpm>"),
    ("panic-unknown-model", "<panic model='pvpanic'/>"),
    ("hub-unknown-type", "<hub type='pci'/>"),
    ("redirdev-unknown-bus", "<redirdev bus='pci' type='spicevmc'/>"),
    ("hostdev-unknown-mode", "<hostdev mode='passthrough' type='usb'/>"),
    ("controller-model-before-disk-cache",
     _disk("vda", "virtio", extra="<driver name='qemu' cache='x'/>")
     + "<controller type='usb' model='x'/>"),
    ("channel-target-without-type", "<channel type='pty'><target name='org.a'/></channel>"),
    ("redirdev-without-type", "<controller type='usb'/><redirdev bus='usb'/>"),
    ("rng-backend-without-model", "<rng model='virtio'><backend type='udp'/></rng>"),
    # an RNG device: its model, its rate, then its one backend
    ("rng-without-model", "<rng><backend model='bogus'/></rng>"),
    ("rng-without-backend", "<rng model='virtio'/>"),
    ("rng-two-backends",
     "<rng model='virtio'><backend model='random'/><backend model='random'/></rng>"),
    ("rng-rate-before-backend", "<rng model='virtio'><rate bytes='-1'/><backend/></rng>"),
    ("rng-rate-period", "<rng model='virtio'><rate bytes='5' period='99999999999'/>"
     "<backend model='random'/></rng>"),
    ("rng-egd-without-type", "<rng model='virtio'><backend model='egd'/></rng>"),
    ("rng-egd-unknown-type", "<rng model='virtio'><backend model='egd' type='x'/></rng>"),
    # a redirected device's bus, then its type
    ("redirdev-unknown-type", "<controller type='usb'/><redirdev bus='usb' type='usbip'/>"),
    ("redirdev-file-without-path", "<controller type='usb'/><redirdev bus='usb' type='file'/>"),
    # a NIC's model name is read before the rest of the interface
    ("nic-model-with-blank",
     "<interface type='bridge'><source/><model type='e1000 x'/></interface>"),
    ("nic-model-with-dot", "<interface type='user'><mac address='bogus'/>"
     "<model type='my_model-1.2'/></interface>"),
    ("nic-model-non-ascii", "<interface type='user'><model type='r\u00e9seau'/></interface>"),
    ("nic-type-before-model", "<interface type='wifi'><model type='a/b'/></interface>"),
    ("nic-trust-before-model",
     "<interface type='user' trustGuestRxFilters='x'><model type='a,b'/></interface>"),
    # a video device: driver, acceleration, resolution, model, sizes, heads; then validation
    ("video-vram-not-a-number", "<video><model type='vga' vram='0x100'/></video>"),
    ("video-vram-negative", "<video><model type='vga' vram='-1'/></video>"),
    ("video-vram-too-large", "<video><model type='qxl' vram='99999999999'/></video>"),
    ("video-sizes-in-order",
     "<video><model type='qxl' heads='v' vgamem='w' vram64='z' vram='y' ram='x'/></video>"),
    ("video-heads-not-a-number", "<video><model type='qxl' heads='-1'/></video>"),
    ("video-driver-before-model",
     "<video><model type='vga' vram='x'/><driver name='x'/></video>"),
    ("video-acceleration-before-type",
     "<video><model type='svga'><acceleration accel3d='maybe'/></model></video>"),
    ("video-resolution-before-sizes",
     "<video><model type='vga' vram='x'><resolution x='1'/></model></video>"),
    ("video-zero-resolution",
     "<video><model type='vga'><resolution x='0' y='0'/></model></video>"),
    ("video-ram-off-qxl", "<video><model type='vga' vgamem='16' vram64='1024' ram='8'/></video>"),
    ("video-vram64-off-qxl", "<video><model type='virtio' vram64='1024'/></video>"),
    ("video-vgamem-off-qxl", "<video><model type='bochs' vgamem='1024'/></video>"),
    ("video-ram-before-primaries",
     "<video><model type='vga' ram='5' primary='yes'/></video>"
     "<video><model type='vga' primary='yes'/></video>"),
    # USB devices without USB are refused as they are read, inputs before hubs
    ("usb-disabled-hub-and-input",
     "<controller type='usb' model='none'/><hub type='usb'/><input type='tablet'/>"),
    ("usb-disabled-input-before-duplicates",
     "<controller type='scsi' index='0'/><controller type='scsi' index='0'/>"
     "<controller type='usb' model='none'/><input type='tablet' bus='usb'/>"),
    ("usb-disabled-input-before-validation",
     _disk("fda", "ide", device="floppy")
     + "<controller type='usb' model='none'/><input type='tablet' bus='usb'/>"),
    # a disk's backing chain, then its driver's numbers and format
    ("disk-unknown-format", _disk("vda", "virtio", extra="<driver name='qemu' type='qcow3'/>")),
    ("disk-format-none", _disk("vda", "virtio", extra="<driver type='none'/>")),
    ("disk-format-case", _disk("vda", "virtio", extra="<driver type='QCOW2'/>")),
    ("disk-format-empty", _disk("vda", "virtio", extra="<driver type=''/>")),
    ("disk-format-after-cache", _disk("vda", "virtio", extra="<driver type='x' cache='x'/>")),
    ("disk-bus-before-format",
     "<disk type='file'><source file='/a'/><target dev='vda' bus='x'/><driver type='x'/>"
     "</disk>"),
    ("disk-backing-before-bus", "<disk type='file'><source file='/a'/><target dev='vda'"
     " bus='x'/><backingStore type='file'><format type='x'/><source file='/b'/>"
     "</backingStore></disk>"),
    ("disk-format-before-target",
     "<disk type='file'><source file='/a'/><driver type='luks'/></disk>"),
    ("disk-driver-numbers", _disk("vda", "virtio", extra="<driver queues='x' iothread='y'/>")),
    ("disk-backing-format-unknown", _disk("vda", "virtio", extra=(
        "<driver type='x'/><backingStore type='file'><format type='aio'/>"
        "<source file='/b'/></backingStore>"))),
    ("disk-backing-without-format", _disk("vda", "virtio", extra=(
        "<backingStore type='file'><source file='/b'/></backingStore>"))),
    ("disk-backing-without-source", _disk("vda", "virtio", extra=(
        "<backingStore type='tape'><format type='raw'/></backingStore>"))),
    ("disk-backing-unknown-type", _disk("vda", "virtio", extra=(
        "<backingStore type='tape'><format type='x'/><source file='/b'/></backingStore>"))),
    ("disk-backing-deeper", _disk("vda", "virtio", extra=(
        "<backingStore type='file'><format type='qcow2'/><source file='/b'/>"
        "<backingStore type='file'><format type='none'/><source file='/c'/></backingStore>"
        "</backingStore>"))),
    # the device kinds in libvirt's reading order (not quite its writing order)
    ("memballoon-before-redirdev",
     "<controller type='usb'/><redirdev bus='usb'/><memballoon/>"),
    ("rng-before-tpm", "<tpm model='x'/><rng model='x'><backend model='random'/></rng>"),
    ("hub-before-redirdev", "<controller type='usb'/><redirdev bus='usb'/><hub type='x'/>"),
    ("input-before-tpm", "<tpm model='x'/><input type='x'/>"),
    # a character device's target, then its sources
    ("serial-two-sources", "<serial><source mode='bind'/><source host='h' service='1'/>"
     "</serial>"),
    ("file-serial-two-sources",
     "<serial type='file'><source path='/a'/><source path='/b'/></serial>"),
    ("udp-serial-three-sources", "<serial type='udp'><source service='1'/>"
     "<source mode='connect' host='h' service='2'/><source mode='bind' service='3'/>"
     "</serial>"),
    ("udp-serial-first-connect-source",
     "<serial type='udp'><source host='a'/><source service='3'/></serial>"),
    ("smartcard-two-sources",
     "<smartcard mode='passthrough' type='tcp'><source/><source/></smartcard>"),
    ("target-type-before-sources",
     "<serial type='pty'><source/><source/><target type='x'/></serial>"),
    ("guestfwd-without-address",
     "<channel type='file'><target type='guestfwd' port='1199'/></channel>"),
    ("guestfwd-without-port",
     "<channel type='pty'><target type='guestfwd' address='10.0.2.1'/></channel>"),
    ("guestfwd-port", "<channel type='pty'><target type='guestfwd' address='10.0.2.1'"
     " port='-1'/></channel>"),
    ("serial-port-word", "<serial type='pty'><target port='x'/></serial>"),
    ("serial-port-empty", "<serial type='pty'><target port=''/></serial>"),
    ("serial-port-hex", "<serial type='pty'><target port='0x5'/></serial>"),
    ("serial-port-too-big", "<serial type='pty'><target port='4294967296'/></serial>"),
    ("parallel-port-too-negative",
     "<parallel type='pty'><target port='-4294967296'/></parallel>"),
    # a disk's target is looked for as the disk is validated, after the post-parse
    ("disk-target-after-post-parse",
     "<disk type='file' device='disk'><source file='/a'/></disk>"
     "<controller type='scsi' index='0'/><controller type='scsi' index='0'/>"),
    # a disk is validated target first, source last; one without a target name is read
    # without a bus (so it is not sorted among the others)
    ("disk-source-before-unnamed-target",
     "<disk type='file'><target dev='hdb' bus='ide'/></disk>"
     "<disk type='file'><source file='/b'/><target bus='ide'/></disk>"),
    ("disk-unnamed-target-first",
     "<disk type='file'><source file='/b'/><target bus='ide'/></disk>"
     "<disk type='file'><target dev='hdb' bus='ide'/></disk>"),
    ("disk-unnamed-target-after-busless",
     "<disk type='block' device='cdrom'><target dev='hda'/></disk>"
     "<disk type='block'><target dev='hdb' bus='ide'/></disk>"
     "<disk device='cdrom'><target bus='ide'/></disk>"),
    ("disk-sorted-validation",
     "<disk type='file'><target dev='hdb' bus='ide'/></disk>"
     "<disk type='file'><target dev='hda' bus='ide'/></disk>"),
    ("disk-bus-before-source", "<disk type='file'><target dev='fda' bus='fdc'/></disk>"),
    ("disk-target-before-bus",
     "<disk type='file'><source file='/a'/><target bus='fdc'/></disk>"),
    ("disk-lun-before-bus", _disk("sda", "fdc", device="lun")),
    ("floppy-name", _disk("hda", "fdc", device="floppy")),
    ("harddisk-name", _disk("fdb", "virtio")),
    ("harddisk-name-without-bus", _disk("fdb")),
    ("unknown-disk-name", _disk("xda", "virtio")),
    ("unknown-cdrom-name", _disk("zz", "virtio", device="cdrom")),
    ("disk-unnamed-target-after-its-bus",
     _disk("hda", "ide") + "<disk type='file'><source dev='/x'/><target dev='hdb'/></disk>"
     "<disk type='file'><source file='/b'/><target bus='ide'/></disk>"),
    ("disk-unnamed-target-last-of-its-bus",
     _disk("hda", "ide") + "<disk type='file'><target dev='hdb' bus='ide'/></disk>"
     "<disk type='file'><source file='/b'/><target bus='ide'/></disk>"),
    ("volume-without-pool", "<disk type='volume'><source volume='v' mode='x'/>"
     "<target dev='vda' bus='x'/></disk>"),
    ("volume-without-volume", "<disk type='volume'><source pool='p'/><target dev='vda'/>"
     "</disk>"),
    # a network disk's source: protocol, name, hosts (before the target)
    ("network-disk-without-name", "<disk type='network' device='cdrom'>"
     "<source protocol='http'><host/></source><target dev='hda' bus='x'/></disk>"),
    ("network-disk-unknown-protocol", "<disk type='network'><source protocol='x' name='a'/>"
     "<target dev='vda'/></disk>"),
    ("network-disk-host-without-name", "<disk type='network'><source protocol='http'"
     " name='a'><host port='80'/></source><target dev='vda'/></disk>"),
    ("network-disk-unix-host", "<disk type='network'><source protocol='nbd'>"
     "<host transport='unix'/></source><target dev='vda'/></disk>"),
    ("network-disk-host-transport", "<disk type='network'><source protocol='nbd'>"
     "<host transport='x'/></source><target dev='vda'/></disk>"),
    # a direct interface's source
    ("direct-nic-without-source", "<interface type='direct'/>"),
    ("direct-nic-without-dev",
     "<interface type='direct'><source mode='bridge'/><virtualport/></interface>"),
    ("direct-nic-mode", "<interface type='direct'><source mode='x' dev='eth0'/></interface>"),
    # the interfaces that need a source, the TPMs a backend, memory devices a target
    ("bridge-nic-without-source", "<interface type='bridge'><model type='virtio'/>"
     "<virtualport type='x'/><mac address='bogus'/></interface>"),
    ("network-nic-without-source", "<interface type='network'/>"),
    ("udp-nic-without-source", "<interface type='udp'/>"),
    ("vhostuser-nic-without-source", "<interface type='vhostuser'/>"),
    ("nic-model-before-source", "<interface type='bridge'><model type='a b'/></interface>"),
    ("tpm-without-backend", "<tpm model='tpm-tis'/>"),
    ("memory-device-without-target", "<memory model='dimm'/>"),
    ("lun-of-an-empty-block-drive",
     "<disk type='block' device='lun'><target dev='sdd' bus='scsi'/></disk>"),
    # an interface: model, virtual port, MAC, a virtio NIC's driver, link state, MTU
    ("nic-link-state", "<interface type='user'><link state='x'/><mtu size='x'/>"
     "<driver name='x'/></interface>"),
    ("nic-mtu", "<interface type='user'><mtu size='x'/><model type='e1000'/>"
     "<driver name='x'/></interface>"),
    ("virtio-nic-driver-before-mtu", "<interface type='user'><mtu size='x'/>"
     "<link state='x'/><model type='virtio'/><driver name='x'/></interface>"),
    ("nic-mac-before-link", "<interface type='user'><mac address='bogus'/>"
     "<link state='x'/></interface>"),
    ("virtio-nic-driver-name", "<interface type='user'><model type='virtio'/>"
     "<driver name='x' txmode='y'/></interface>"),
    ("virtio-nic-driver-queues", "<interface type='user'><model type='virtio'/>"
     "<driver txmode='timer' queues='z'/></interface>"),
    # a filesystem's source, then its target, as it is validated
    ("filesystem-without-target",
     "<filesystem type='mount'><source dir='/s'/><target/></filesystem>"),
    ("filesystem-without-source", "<filesystem type='mount'><target dir='/t'/></filesystem>"),
    ("filesystem-without-either", "<filesystem type='mount'/>"),
    ("filesystem-source-before-interfaces",
     "<filesystem type='mount'><target dir='/t'/></filesystem><interface type='x'/>"),
    ("ram-filesystem-without-usage", "<filesystem type='ram'><target dir='/t'/></filesystem>"),
    ("network-disk-socket-without-unix", "<disk type='network'><source protocol='nbd'>"
     "<host socket='/s'/></source><target dev='vda'/></disk>"),
    ("network-disk-socket-on-tcp", "<disk type='network'><source protocol='nbd'>"
     "<host transport='tcp' socket='/s' name='a'/></source><target dev='vda'/></disk>"),
    ("filesystem-after-interfaces",
     "<filesystem type='mount'><source dir='/s'/></filesystem><interface type='x'/>"),
    # an interface's virtual port
    ("virtualport-on-user-nic", "<interface type='user'><virtualport type='802.1Qbg'/>"
     "</interface>"),
    ("virtualport-without-type", "<interface type='direct'><source dev='eth0' mode='bridge'/>"
     "<virtualport/></interface>"),
    ("virtualport-unknown-type", "<interface type='direct'><source dev='eth0'"
     " mode='bridge'/><virtualport type='x'/></interface>"),
    ("virtualport-qbg-incomplete", "<interface type='direct'><source dev='eth0'"
     " mode='bridge'/><virtualport type='802.1Qbg'><parameters managerid='11'"
     " typeidversion='2'/></virtualport></interface>"),
    ("virtualport-qbh-incomplete", "<interface type='direct'><source dev='eth0'"
     " mode='bridge'/><virtualport type='802.1Qbh'/></interface>"),
    ("disk-without-source-after-input", _disk("vda", "virtio").replace(
        "<source file='/var/img/vda.img'/>", "") + "<input type='mouse' bus='lpt'/>"),
    # device addresses: each type's attributes in libvirt's order, then its limits
    ("pci-address-domain-too-large",
     _nics_at("<address type='pci' domain='0x100000000' slot='1'/>")),
    ("pci-address-bus-minus-zero", _nics_at("<address type='pci' bus='-0' slot='1'/>")),
    ("pci-address-slot-trailing-blank", _nics_at("<address type='pci' slot='1 '/>")),
    ("pci-address-multifunction-yes",
     _nics_at("<address type='pci' bus='0x100' multifunction='yes'/>")),
    ("pci-address-function-before-multifunction",
     _nics_at("<address type='pci' function='x' multifunction='yes'/>")),
    ("pci-address-bus-over-ff",
     _nics_at("<address type='pci' bus='0x100' slot='0x28' function='8'/>")),
    ("pci-address-slot-over-1f", _nics_at("<address type='pci' bus='1' slot='0x28'/>")),
    ("pci-address-function-over-7", _nics_at("<address type='pci' slot='1' function='10'/>")),
    ("usb-address-port-too-deep", _nics_at("<address type='usb' port='1.2.3.4.5'/>")),
    ("usb-address-port-trailing-dot", _nics_at("<address type='usb' port='1.'/>")),
    ("usb-address-port-empty", _nics_at("<address type='usb' port=''/>")),
    ("usb-address-port-negative", _nics_at("<address type='usb' port='1.-0'/>")),
    ("usb-address-port-hex", _nics_at("<address type='usb' port='0x1'/>")),
    ("usb-address-port-too-large", _nics_at("<address type='usb' port='4294967296'/>")),
    ("usb-address-port-before-bus", _nics_at("<address type='usb' bus='y' port='1.x'/>")),
    ("usb-address-bus", _nics_at("<address type='usb' port='1' bus='x'/>")),
    ("drive-address-unit-hex", _nics_at("<address type='drive' unit='0x3'/>")),
    ("drive-address-controller-first", _nics_at("<address type='drive' unit='x' controller='y'/>")),
    ("virtio-serial-address-port-negative",
     _nics_at("<address type='virtio-serial' port='-1'/>")),
    ("ccid-address-slot", _nics_at("<address type='ccid' slot='x'/>")),
    ("spapr-vio-address-reg-too-large",
     _nics_at("<address type='spapr-vio' reg='10000000000000000'/>")),
    ("spapr-vio-address-reg-prefix-only", _nics_at("<address type='spapr-vio' reg='0x'/>")),
    ("ccw-address-cssid", _nics_at("<address type='ccw' cssid='x'/>")),
    ("ccw-address-cssid-over-fe",
     _nics_at("<address type='ccw' cssid='0xff' ssid='0x3' devno='0xffff'/>")),
    ("ccw-address-out-of-range-and-partial",
     _nics_at("<address type='ccw' ssid='4' devno='0x10000'/>")),
    ("ccw-address-partial", _nics_at("<address type='ccw' cssid='1' ssid='1'/>")),
    ("ccw-address-devno-alone", _nics_at("<address type='ccw' devno='010'/>")),
    ("isa-address-iobase-too-large", _nics_at("<address type='isa' iobase='100000000'/>")),
    ("isa-address-irq-negative", _nics_at("<address type='isa' irq='-1'/>")),
    ("dimm-address-without-slot", _nics_at("<address type='dimm' base='0'/>")),
    ("dimm-address-slot-hex", _nics_at("<address type='dimm' slot='0x1'/>")),
    ("dimm-address-base", _nics_at("<address type='dimm' slot='1' base='x'/>")),
    # what each device takes: USB devices a USB address (read with them), smartcards a CCID
    # one, host devices their type's (validated), 'unassigned' only host devices (validated
    # first, device by device)
    ("usb-input-at-pci-address", "<input type='tablet' bus='usb'><address type='unassigned'/>"
     "</input>"),
    ("usb-redirdev-at-pci-address", "<controller type='usb'/><redirdev bus='usb'"
     " type='spicevmc'><address type='pci' slot='3'/></redirdev><panic model='bogus'/>"),
    ("usb-serial-at-unassigned-address",
     "<serial type='pty'><target type='usb-serial'/><address type='unassigned'/></serial>"),
    ("smartcard-at-usb-address", "<smartcard mode='host'><address type='usb'/></smartcard>"),
    ("usb-hostdev-before-smartcard-address",
     "<smartcard mode='host'><address type='usb'/></smartcard>"
     "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/><product id='0x2'/>"
     "</source><address type='pci'/></hostdev>"),
    ("pci-hostdev-at-usb-address", "<hostdev mode='subsystem' type='pci'><source><address"
     " domain='0' bus='1' slot='1' function='0'/></source><address type='usb'/></hostdev>"),
    ("scsi-hostdev-at-pci-address", "<hostdev mode='subsystem' type='scsi'><source>"
     "<adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source>"
     "<address type='pci' slot='3'/></hostdev>"),
    ("scsi-host-hostdev-at-drive-address", "<hostdev mode='subsystem' type='scsi_host'>"
     "<source protocol='vhost' wwpn='naa.5123456789abcde0'/><address type='drive'/></hostdev>"),
    ("unassigned-address-validated",
     _nics_at("<address type='unassigned'/>") + "<input type='joystick'/>"),
    ("nvram-at-unassigned-address", "<nvram><address type='unassigned'/></nvram>"),
    ("mdev-hostdev-at-usb-address", "<hostdev mode='subsystem' type='mdev' model='vfio-pci'>"
     "<source><address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source>"
     "<address type='usb'/></hostdev>"),
    ("ccw-mdev-hostdev-at-unassigned-address",
     "<hostdev mode='subsystem' type='mdev' model='vfio-ccw'><source><address"
     " uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source><address type='unassigned'/>"
     "</hostdev>"),
    # an interface of type hostdev is validated as a PCI host device, before the others
    ("hostdev-nic-at-usb-address",
     "<hostdev mode='subsystem' type='usb'><source><vendor id='0x1'/><product id='0x2'/>"
     "</source><address type='pci'/></hostdev><interface type='hostdev'>"
     "<mac address='52:54:00:12:00:0a'/><source><address type='pci' domain='0' bus='1'"
     " slot='1' function='0'/></source><address type='usb'/></interface>"),
    # memory devices: their model, target node and size as read, ...
    ("memory-device-without-model", "<memory><target><node>x</node></target></memory>"),
    ("memory-device-of-unknown-model", _dimm(1024, model=" model='x'")),
    ("memory-device-node-negative", _dimm(1024, "-1")),
    ("memory-device-node-too-large", _dimm(1024, "2147483648")),
    ("memory-device-node-hex", _dimm(1024, "0x0")),
    ("memory-device-node-before-size",
     "<memory model='dimm'><target><size>q</size><node>x</node></target></memory>"),
    ("memory-device-without-size", "<memory model='dimm'><target><node>0</node></target>"
     "</memory>"),
    ("memory-device-empty-size", "<memory model='dimm'><target><size/></target></memory>"),
    ("memory-device-size-invalid", "<memory model='dimm'><target><size>-1</size></target>"
     "</memory>"),
    ("memory-device-size-unit", "<memory model='dimm'><target><size unit='q'>1</size>"
     "</target></memory>"),
    # (scaled to bytes within a signed 64-bit number, then in KiB below 2**53)
    ("memory-device-size-overflow", _dimm(18014398509481984)),
    ("memory-device-size-overflow-no-unit", "<memory model='dimm'><target>"
     "<size>18014398509481984</size></target></memory>"),
    ("memory-device-size-over-signed", _dimm(9007199254740992)),
    ("memory-device-size-in-mib-overflow", "<memory model='dimm'><target>"
     "<size unit='mib'>9007199254740992</size></target></memory>"),
    ("memory-device-size-too-large", "<memory model='dimm'><target>"
     "<size unit='b'>9223372036854775000</size></target></memory>"),
    ("memory-device-size-beyond-64-bits", _dimm(18446744073709551616)),
    # ... their total against the memory size (post-parse, before the devices' checks) ...
    ("memory-devices-exceed-memory", _dimm(524288, "0")),
    ("memory-devices-exceed-memory-on-numa", _dimm(32768, "0") + _dimm(32768) + _dimm(1)),
    ("memory-devices-exceed-before-controllers",
     _dimm(65537) + "<controller type='scsi' index='0'/><controller type='scsi' index='0'/>"),
    ("memory-devices-take-all-memory", _dimm(65536, "0")),
    ("memory-devices-without-memory-size", _dimm(1024)),
    ("memory-devices-exceed-maximum", _dimm(1024, "0")),
    ("maximum-memory-invalid", ""),
    ("maximum-memory-without-slots", ""),
    ("maximum-memory-zero-slots", ""),
    ("maximum-memory-below-memory", ""),
    # ... and the guest NUMA node they name (validated device by device)
    ("memory-device-without-numa", _dimm(32768, "0")),
    ("memory-device-on-missing-node", _dimm(32768, "1")),
    ("memory-device-node-before-redirdev",
     "<redirdev bus='usb' type='spicevmc'/>" + _dimm(1024, "0")),
    # ... then what each model needs: an nvdimm or virtio-pmem its source path, ...
    ("nvdimm-without-source", _dimm(1024, model=" model='nvdimm'")),
    ("nvdimm-source-without-path", "<memory model='nvdimm'><source/><target>"
     "<size unit='KiB'>1024</size></target></memory>"),
    ("nvdimm-empty-path", "<memory model='nvdimm'><source><path/></source><target>"
     "<size unit='KiB'>1024</size></target></memory>"),
    ("nvdimm-path-after-node", _dimm(1024, "2", model=" model='nvdimm'")),
    ("nvdimm-path-before-redirdev",
     "<redirdev bus='usb' type='spicevmc'/>" + _dimm(1024, model=" model='nvdimm'")),
    ("nvdimm-discard", "<memory model='nvdimm' discard='yes'><source><path>/tmp/nv</path>"
     "</source><target><size unit='KiB'>1024</size></target></memory>"),
    ("nvdimm-uuid", "<memory model='nvdimm'><uuid>c2177883-f1bb-47f0-914d-32a22e3a8804"
     "</uuid><source><path>/tmp/nv</path></source><target><size unit='KiB'>1024</size>"
     "</target></memory>"),
    ("virtio-pmem-without-path", _dimm(1024, model=" model='virtio-pmem'")),
    ("virtio-pmem-discard", "<memory model='virtio-pmem' discard='yes'><source><path>/tmp/p"
     "</path></source><target><size unit='KiB'>1024</size></target></memory>"),
    ("virtio-pmem-not-shared", "<memory model='virtio-pmem'><source><path>/tmp/p</path>"
     "</source><target><size unit='KiB'>1024</size></target></memory>"),
    ("virtio-pmem-on-node", "<memory model='virtio-pmem' access='shared'><source><path>/tmp/p"
     "</path></source><target><size unit='KiB'>1024</size><node>0</node></target></memory>"),
    ("nvdimm-ppc64-without-label", "<memory model='nvdimm'><source><path>/tmp/nv</path>"
     "</source><target><size unit='KiB'>1024</size></target></memory>"),
    ("two-redirfilters", "<redirfilter/><redirfilter><usbdev allow='yes'/></redirfilter>"),
    ("redirfilter-rule-without-allow", "<redirfilter><usbdev class='0x08'/></redirfilter>"),
    ("pci-root-with-address",
     "<controller type='pci' model='pci-root' index='300'><address type='pci'/></controller>"),
    ("pci-controller-index-too-high", "<controller type='pci' model='pci-bridge' index='256'/>"),
    ("intel-iommu-with-address", "<iommu model='intel'><address type='pci'/></iommu>"),
    ("iommu-without-model", "<iommu><address type='pci'/></iommu>"),
    ("zpci-address-uid", _nics_at("<address type='pci' slot='1'><zpci uid='x'/></address>")),
    ("zpci-address-fid-negative",
     _nics_at("<address type='pci'><zpci uid='1' fid='-1'/></address>")),
    ("pci-address-limits-before-zpci",
     _nics_at("<address type='pci' slot='0x20'><zpci uid='x'/></address>")),
]


@scenario
def implicit_devices(s: Session) -> None:
    """Each document defined, dumped, started, dumped live and inactive, removed."""
    for n, (name, devices, kwargs) in enumerate(DOCUMENTS):
        xml = _domain(n, name, devices, **kwargs)
        d = s.step(f"define {name}", s.conn.defineXML, xml)
        if d is None:
            continue
        s.step(f"xml {name}", d.XMLDesc, 0)
        if s.step(f"start {name}", d.create) is not None:
            s.step(f"xml live {name}", d.XMLDesc, 0)
            s.step(f"xml inactive {name}", d.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE)
            s.step(f"destroy {name}", d.destroy)
        s.step(f"undefine {name}", d.undefine)


#: the guests some of the refused device sets are for
REFUSED_GUESTS: dict[str, dict[str, str]] = {
    "isa-debug-off-x86": {"virt": "kvm", "arch": "aarch64"},
    **{name: {"extra": _numa()} for name in (
        "memory-device-without-model", "memory-device-of-unknown-model",
        "memory-device-node-negative", "memory-device-node-too-large",
        "memory-device-node-hex", "memory-device-node-before-size",
        "memory-device-without-size", "memory-device-empty-size",
        "memory-device-size-invalid", "memory-device-size-unit",
        "memory-device-size-overflow", "memory-device-size-overflow-no-unit",
        "memory-device-size-over-signed", "memory-device-size-in-mib-overflow",
        "memory-device-size-too-large", "memory-device-size-beyond-64-bits",
        "memory-devices-exceed-memory-on-numa", "memory-devices-take-all-memory",
        "memory-device-on-missing-node", "nvdimm-without-source",
        "nvdimm-source-without-path", "nvdimm-empty-path", "nvdimm-path-after-node",
        "nvdimm-path-before-redirdev", "nvdimm-discard", "nvdimm-uuid",
        "virtio-pmem-without-path", "virtio-pmem-discard", "virtio-pmem-not-shared",
        "virtio-pmem-on-node")},
    "nvdimm-ppc64-without-label": {"extra": _numa(), "arch": "ppc64"},
    "memory-devices-without-memory-size": {"memory": ""},
    "memory-devices-exceed-maximum":
        {"extra": _numa() + "<maxMemory slots='1' unit='MiB'>32</maxMemory>"},
    "maximum-memory-invalid": {"extra": "<maxMemory slots='1'>x</maxMemory>"},
    "maximum-memory-without-slots": {"extra": "<maxMemory unit='GiB'>1</maxMemory>"},
    "maximum-memory-zero-slots": {"extra": "<maxMemory slots='0' unit='GiB'>1</maxMemory>"},
    "maximum-memory-below-memory":
        {"extra": "<maxMemory slots='2' unit='KiB'>65535</maxMemory>"},
}


@scenario
def refused_devices(s: Session) -> None:
    """Device sets libvirt refuses, defined and created."""
    for n, (name, devices) in enumerate(REFUSED):
        xml = _domain(n + 100, name, devices, **REFUSED_GUESTS.get(name, {}))
        s.step(f"define {name}", s.conn.defineXML, xml)
        s.step(f"create {name}", s.conn.createXML, xml, 0)
    # per-device boot orders exclude <os>'s boot devices
    xml = _domain(199, "os-and-device-boot", _disk("vda", "virtio", extra="<boot order='1'/>"))
    xml = xml.replace("</type></os>", "</type><boot dev='hd'/></os>")
    s.step("define os-and-device-boot", s.conn.defineXML, xml)
    # an interface's <mac/> without an address gets a generated one
    xml = _domain(197, "mac-without-address",
                  "<interface type='user'><mac/><model type='virtio'/></interface>")
    d = s.step("define mac-without-address", s.conn.defineXML, xml)
    if d is not None:
        s.step("xml mac-without-address", lambda: re.sub(
            r"<mac address='52:54:00(:[0-9a-f]{2}){3}'/>", "<mac address='52:54:00:...'/>",
            d.XMLDesc(0)))
        s.step("undefine mac-without-address", d.undefine)
    # sysinfo is read after the devices, before the disks' targets are looked for
    for name, devices in (
            ("sysinfo-after-devices", "<controller type='usb' model='x'/>"),
            ("sysinfo-before-disk-target",
             "<disk type='file' device='disk'><source file='/a'/></disk>")):
        xml = _domain(198, name, devices).replace("</os>", "</os><sysinfo/>")
        s.step(f"define {name}", s.conn.defineXML, xml)
