"""Domain XML written back as libvirt writes it: the order of attributes and children per
element kind, the defaults libvirt fills in, the values it normalises and what it drops.

Each document is defined, dumped (live, inactive and secure) and undefined against both
servers.  MAC addresses and UUIDs are given, so nothing random is compared.
"""

from __future__ import annotations

from ..scenario_runner import Session, libvirt, scenario

_HEAD = ("<domain type='test'><name>{name}</name>"
         "<uuid>7c0e5b8a-0000-4000-8000-{n:012d}</uuid>")
_BASE = "<memory unit='MiB'>64</memory><os><type>hvm</type></os>"

#: element kinds, each in an order and with values libvirt writes differently
DOCUMENTS: dict[str, str] = {
    "disks": _BASE + """<devices>
      <disk device='disk' type='file'><address type='pci' slot='4' bus='0' domain='0'
        function='0'/><boot order='1'/><product>P</product><vendor>V</vendor>
        <wwn>0x5000c50015ea71ac</wwn><serial>S1</serial><shareable/>
        <iotune><write_iops_sec>5</write_iops_sec><total_bytes_sec>1000</total_bytes_sec>
        </iotune><target bus='virtio' dev='vda'/><blockio logical_block_size='512'/>
        <geometry secs='3' heads='2' cyls='1'/><source startupPolicy='optional'
        file='/var/lib/img/a.qcow2'/><driver discard='unmap' io='native' cache='none'
        type='qcow2' name='qemu'/></disk>
      <disk type='file' device='cdrom'><target dev='hdc'/></disk>
      <disk type='block'><source dev='/dev/sdb'/><target dev='vdb'/>
        <driver type='raw' name='qemu' cache='default'/></disk>
      <disk type='file' device='floppy'><source file='/f.img'/><target dev='fda'/></disk>
    </devices>""",
    "graphics": _BASE + """<devices>
      <graphics type='vnc'/>
      <graphics type='vnc' port='5901' keymap='de' sharePolicy='ignore'/>
      <graphics type='vnc' autoport='yes' port='5902' listen='127.0.0.1'/>
      <graphics type='vnc'><listen type='network' network='default'/></graphics>
      <graphics type='vnc' port='5903'><listen type='socket' socket='/tmp/vnc.sock'/>
        </graphics>
      <graphics type='spice' port='-1' tlsPort='-1' autoport='yes'><gl enable='no'/>
        <filetransfer enable='no'/><clipboard copypaste='no'/><mouse mode='client'/>
        <streaming mode='filter'/><playback compression='on'/><zlib compression='auto'/>
        <jpeg compression='auto'/><image compression='auto_glz'/>
        <channel name='main' mode='secure'/><listen type='address' address='0.0.0.0'/>
        </graphics>
      <graphics type='spice' tlsPort='5905' defaultMode='secure' passwd='s3cret'/>
      <graphics type='spice'><listen type='none'/></graphics>
      <graphics type='spice' port='-1'/>
      <graphics type='vnc' port='-1' listen='0.0.0.0'/>
      <graphics type='rdp'/>
      <graphics type='sdl' fullscreen='no' xauth='/root/.Xauthority' display=':0'/>
      <graphics type='desktop' fullscreen='yes' display=':1'/>
    </devices>""",
    "video": _BASE + """<devices>
      <video><model type='vga'/></video>
      <video><model type='qxl' heads='2'/></video>
      <video><model type='virtio'/></video>
      <video><model type='bochs'/></video>
      <video><model type='cirrus' vram='8192'/></video>
      <video><model type='vmvga'/></video>
    </devices>""",
    "nics": _BASE + """<devices>
      <interface type='network'><address type='pci' domain='0' bus='0' slot='3'
        function='0'/><boot order='2'/><mtu size='1500'/><link state='up'/>
        <filterref filter='clean-traffic'/><driver queues='2' name='vhost'/>
        <model type='virtio'/><source network='default'/>
        <mac address='52:54:00:aa:00:01'/></interface>
      <interface type='bridge'><model type='e1000'/><source bridge='br0'/>
        <mac address='52:54:00:aa:00:02'/></interface>
      <interface type='user'><mac address='52:54:00:aa:00:03'/></interface>
    </devices>""",
    "chardevs": _BASE + """<devices>
      <controller type='virtio-serial' index='0'/>
      <serial type='tcp'><log append='on' file='/var/log/s.log'/>
        <protocol type='telnet'/><target port='0'/>
        <source service='4555' host='127.0.0.1' mode='bind'/></serial>
      <channel type='unix'><source mode='bind'/>
        <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>
      <channel type='unix'><source mode='connect' path='/tmp/g.sock'/>
        <target port='80' address='10.0.2.1' type='guestfwd'/></channel>
      <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
      <parallel type='file'><target port='0'/><source path='/tmp/par'/></parallel>
    </devices>""",
    "others": _BASE + """<devices>
      <controller type='scsi' model='virtio-scsi' index='0'><driver iothread='1'
        queues='3'/></controller>
      <controller type='usb' model='qemu-xhci' ports='15' index='0'/>
      <input bus='usb' type='tablet'/>
      <sound model='ich9'><codec type='micro'/></sound>
      <watchdog model='i6300esb'/>
      <memballoon model='virtio' autodeflate='on'><stats period='10'/></memballoon>
      <rng model='virtio'><backend model='random'/><rate period='2000' bytes='1234'/></rng>
      <tpm model='tpm-tis'><backend type='passthrough'/></tpm>
      <filesystem><target dir='/mnt'/><source dir='/srv'/></filesystem>
      <hostdev mode='subsystem' type='usb'><source><product id='0x1'/><address device='3'
        bus='1'/><vendor id='0x2'/></source></hostdev>
      <hostdev type='pci' mode='subsystem' managed='yes'><rom bar='on'/>
        <driver name='vfio'/><source><address slot='0' function='0' bus='1'
        domain='0'/></source></hostdev>
      <redirdev bus='usb' type='spicevmc'/>
      <redirdev type='tcp' bus='usb'><source service='4000' host='localhost'
        mode='connect'/></redirdev>
      <panic model='isa'><address type='isa' iobase='0x505'/></panic>
    </devices>""",
    "top_level": """<memory unit='MiB'>64</memory>
      <memtune><min_guarantee>40</min_guarantee><swap_hard_limit unit='M'>30</swap_hard_limit>
        <soft_limit>20</soft_limit><hard_limit unit='G'>1</hard_limit>
        </memtune>
      <blkiotune><device><write_bytes_sec>1</write_bytes_sec><weight>5</weight>
        <path>/dev/sda</path></device><weight>100</weight></blkiotune>
      <memoryBacking><discard/><access mode='shared'/><locked/><hugepages><page size='2'
        unit='M' nodeset='0'/></hugepages></memoryBacking>
      <vcpu>4</vcpu>
      <cputune><emulatorpin cpuset='0-3,^2'/><vcpupin cpuset='1,2,3' vcpu='0'/>
        <shares>2048</shares></cputune>
      <numatune><memory nodeset='0-1,^1' mode='strict'/></numatune>
      <os><smbios mode='host'/><bios rebootTimeout='0' useserial='yes'/>
        <bootmenu timeout='3' enable='yes'/><boot dev='cdrom'/><cmdline>c</cmdline>
        <initrd>/i</initrd><kernel>/k</kernel><nvram>/var/n.fd</nvram>
        <loader>/usr/share/l.fd</loader><type>hvm</type></os>
      <features><vmport state='off'/><hyperv><spinlocks retries='4096' state='on'/>
        <relaxed state='on'/></hyperv><hap/><pae state='on'/><apic/><acpi/></features>
      <cpu match='exact' mode='custom'><feature name='x2apic' policy='require'/>
        <topology threads='1' cores='2' sockets='2'/><model fallback='allow'>core2duo</model>
        <numa><cell memory='64' unit='MiB' cpus='0-3' id='0'/></numa></cpu>
      <clock offset='localtime'><timer tickpolicy='catchup' name='rtc'/>
        <timer present='no' name='hpet'/></clock>
      <pm><suspend-to-disk enabled='no'/><suspend-to-mem enabled='no'/></pm>""",
    "labels_and_cpu": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <cpu match='exact'><model>qemu64</model><frob/></cpu>
      <devices>
        <disk type='block' device='cdrom'><target dev='hdc' bus='ide'/></disk>
        <disk type='file'><source file='/var/lib/img/b.img'>
          <seclabel model='selinux' relabel='no'/></source><target dev='vda'/></disk>
        <controller type='pci' model='pci-root'/>
        <controller type='usb' model='ich9-ehci1'/>
        <interface type='user'><mac address='52:54:00:AA:BB:0C'/></interface>
        <graphics type='vnc' display=':3' xauth='/x' keymap='fi'/>
      </devices>
      <seclabel type='dynamic' model='dac'><label>107:107</label></seclabel>""",
    "device_labels": _BASE + """<devices>
      <disk type='file'><source file='/var/lib/img/c.img'>
        <seclabel model='dac' relabel='yes'/></source><target dev='vda'/></disk>
      <disk type='file'><source file='/var/lib/img/d.img'>
        <seclabel model='dac'><label>107:107</label></seclabel></source>
        <target dev='vdb'/></disk>
      <disk type='file'><source file='/var/lib/img/e.img'><seclabel relabel='yes'/></source>
        <target dev='vdc'/></disk>
      <serial type='file'><source path='/tmp/ser.log'><seclabel model='dac' relabel='no'/>
        </source><target port='0'/></serial>
      <serial type='file'><source path='/tmp/ser2.log'><seclabel model='dac'/></source>
        <target port='1'/></serial>
    </devices>""",
    "threads_and_text": """<description>two
  lines, then blanks  </description><memory unit='MiB'>64</memory>
      <vcpu cpuset='1,2,5-9,^7'>2</vcpu><iothreads>3</iothreads>
      <iothreadids><iothread id='5'/></iothreadids>
      <os><type>hvm</type></os>
      <sysinfo type='fwcfg'><entry name='opt/a' file='/tmp/a.bin'>ignored</entry></sysinfo>
      <devices>
        <interface type='user'><mac address='52:54:00:aa:00:0a'/><model type='e1000'/>
          <filterref filter='clean-traffic'/><driver name='vhost' queues='2'/></interface>
        <interface type='bridge'><source bridge='br0' portgroup='pg'/>
          <mac address='52:54:00:aa:00:0b'/><alias name='net-b'/></interface>
        <graphics type='spice'><listen type='network' network='default'/></graphics>
        <graphics type='spice' listen='127.0.0.1' passwdValidTo='2030-01-01T00:00:00'
          connected='keep'/>
        <graphics type='vnc' passwd='pw' connected='keep'/>
        <smartcard mode='host' type='tcp'><alias name='ua-card'/></smartcard>
        <filesystem type='ram'><source usage='1' units='MiB'/><target dir='/ram'/>
          </filesystem>
      </devices>""",
    "numa_memory": """<os><type>hvm</type></os>
      <maxMemory slots='2' unit='MiB'>2048</maxMemory>
      <cpu><numa><cell cpus='0' memory='128' unit='MiB'/></numa></cpu>
      <devices><memory model='dimm'><target><size unit='MiB'>128</size><node>0</node>
        </target></memory></devices>""",
    "vcpus_and_boot": """<memory unit='MiB'>64</memory>
      <vcpu>4</vcpu><vcpus><vcpu id='2' enabled='yes' order='2'/>
        <vcpu id='0' enabled='yes'/></vcpus>
      <iothreads>1</iothreads><defaultiothread thread_pool_min='1' thread_pool_max='8'/>
      <cputune><iothreadsched iothreads='1' scheduler='fifo' priority='5'/>
        <vcpusched vcpus='0-2,^1' scheduler='rr' priority='9'/></cputune>
      <os><type>hvm</type><bootmenu enable='yes' timeout='5000'/>
        <bios useserial='yes'/></os>
      <devices>
        <disk type='file'><source file='/a'/><target dev='vda'/><boot order='1'/></disk>
        <controller type='scsi' model='virtio-scsi' vectors='4'/>
        <controller type='usb' model='qemu-xhci' ports='8'/>
        <input type='keyboard' bus='usb'><unknown/></input>
        <hostdev mode='subsystem' type='usb'><driver name='vfio'/><source>
          <vendor id='0x1234'/><product id='0xbeef'/></source></hostdev>
        <channel type='qemu-vdagent'><source><clipboard copypaste='yes'/>
          <mouse mode='client'/></source><target type='virtio' name='com.redhat.spice.0'/>
          </channel>
      </devices>""",
    "bootloader": """<memory unit='MiB'>64</memory><bootloader>/usr/bin/pygrub</bootloader>
      <os><type>hvm</type><boot dev='cdrom'/><bootmenu enable='yes'/><kernel>/k</kernel>
      </os>""",
    "attribute_orders": """<memory unit='MiB'>64</memory><vcpu placement='auto'>2</vcpu>
      <iothreads>2</iothreads><iothreadids><iothread thread_pool_max='16' id='1'
        thread_pool_min='8'/></iothreadids>
      <defaultiothread thread_pool_max='32' thread_pool_min='4'/>
      <cputune><emulatorsched priority='99' scheduler='rr'/>
        <cachetune vcpus='0-1'><cache size='3' id='0' unit='MiB' type='both' level='3'/>
        </cachetune></cputune>
      <resource><fibrechannel appid='app'/><partition>/machine</partition></resource>
      <sysinfo type='smbios'><oemStrings><entry>s</entry></oemStrings>
        <system><entry name='manufacturer'>M</entry></system>
        <bios><entry name='vendor'>V</entry></bios></sysinfo>
      <os firmware='efi'><type>hvm</type><firmware><feature name='secure-boot' enabled='yes'/>
        <feature name='enrolled-keys' enabled='no'/></firmware></os>
      <idmap><gid target='1000' count='10' start='0'/><uid count='10' start='0'
        target='1000'/></idmap>
      <features><kvm><poll-control state='on'/><hint-dedicated state='on'/>
        <hidden state='off'/></kvm></features>
      <clock offset='utc'><timer name='rtc' tickpolicy='catchup'><catchup limit='10000'
        slew='120' threshold='123'/></timer></clock>
      <devices>
        <disk type='file'><blockio physical_block_size='4096' logical_block_size='512'/>
          <source file='/a'/><target dev='vda'/><boot loadparm='SYSTEM1' order='1'/></disk>
        <shmem role='peer' name='shm0'><size unit='M'>4</size><model type='ivshmem-plain'/>
          </shmem>
        <serial type='pty'><target port='0' type='isa-serial'><model name='isa-serial'/>
          </target></serial>
        <filesystem type='mount'><driver name='virtiofs' queue='3'/><source dir='/s'>
          <socket>/tmp/s.sock</socket></source><target dir='/t'/>
          <binary path='/usr/libexec/virtiofsd'/></filesystem>
        <graphics type='egl-headless'><gl rendernode='/dev/dri/renderD128'/></graphics>
      </devices>""",
    "more_nets": _BASE + """<devices>
      <interface type='ethernet'><mac address='52:54:00:00:00:01'/><script path='/s'/>
        <target dev='tap3'/><model type='virtio'/><ip prefix='24' address='10.0.0.2'/>
        <route gateway='10.0.0.1' address='10.1.0.0' prefix='16'/></interface>
      <interface type='mcast'><mac address='52:54:00:00:00:02'/>
        <source port='5558' address='230.0.0.1'/></interface>
      <interface type='server'><mac address='52:54:00:00:00:03'/>
        <source port='5558' address='192.168.0.1'/></interface>
      <interface type='udp'><mac address='52:54:00:00:00:04'/>
        <source port='1' address='127.0.0.1'><local port='2' address='127.0.0.1'/></source>
        </interface>
      <interface type='hostdev' managed='yes'><mac address='52:54:00:00:00:05'/><source>
        <address function='0x1' slot='0x00' bus='0x00' domain='0x0000' type='pci'/></source>
        </interface>
      <interface type='network'><mac address='52:54:00:00:00:06'/><source network='default'/>
        <bandwidth><outbound peak='5' average='1'/><inbound burst='3' peak='2' average='1'/>
        </bandwidth><vlan trunk='yes'><tag nativeMode='untagged' id='42'/><tag id='47'/></vlan>
        <tune><sndbuf>1600</sndbuf></tune><link state='down'/><port isolated='yes'/></interface>
      <interface type='direct'><mac address='52:54:00:00:00:07'/>
        <source mode='vepa' dev='eth0'/><virtualport type='802.1Qbh'><parameters profileid='p'/>
        </virtualport></interface>
    </devices>""",
    "more_hostdevs": _BASE + """<devices>
      <hostdev mode='subsystem' type='scsi'>
        <source protocol='iscsi' name='iqn.2014-08.com.example:iscsi-pool/1'>
        <host port='3260' name='example.org'/><auth username='myuser'>
        <secret usage='mycluster_myname' type='iscsi'/></auth></source></hostdev>
      <hostdev mode='subsystem' type='mdev' model='vfio-pci' display='on'><source>
        <address uuid='c2177883-f1bb-47f0-914d-32a22e3a8804'/></source></hostdev>
      <hostdev mode='subsystem' type='scsi_host'>
        <source protocol='vhost' wwpn='naa.5123456789abcde0'/></hostdev>
      <hostdev mode='capabilities' type='storage'><source><block>/dev/sdf1</block></source>
        </hostdev>
    </devices>""",
    "more_misc": _BASE + """<devices>
      <watchdog action='pause' model='ib700'/><memballoon model='none'/><rng model='virtio'>
        <backend model='builtin'/></rng><panic model='pseries'/>
        <crypto model='virtio' type='qemu'><backend queues='2' model='builtin'/></crypto>
        <sound model='ich6'><codec type='duplex'/><codec type='micro'/></sound>
        <audio type='spice' id='1'/><input type='evdev'>
        <source grabToggle='ctrl-ctrl' grab='all' dev='/dev/input/event1' repeat='on'/></input>
        <hub type='usb'/><watchdog model='itco'/>
    </devices>""",
    "more_disks": _BASE + """<devices>
      <disk type='network' device='disk'><driver type='raw' name='qemu'/>
        <source name='pool/image' protocol='rbd'><host port='6789' name='mon1.example.org'/>
        <host name='mon2.example.org'/><snapshot name='snap'/>
        <config file='/etc/ceph/ceph.conf'/><auth username='myuser'>
        <secret usage='mypassid' type='ceph'/></auth></source><target bus='virtio' dev='vdb'/>
        </disk>
      <disk type='volume' device='disk'><source volume='vol' pool='pool' mode='host'/>
        <target dev='vdc'/></disk>
      <disk type='nvme' device='disk'><source index='1' managed='yes' namespace='1' type='pci'>
        <address function='0x0' slot='0x00' bus='0x01' domain='0x0000'/></source>
        <target dev='vdd'/></disk>
      <disk type='file' device='lun'><source file='/a'/><target dev='sda' bus='scsi'/></disk>
      <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
        <source file='/o.qcow2'/><backingStore type='file'><format type='qcow2'/>
        <source file='/b.qcow2'/></backingStore><target dev='vde'/><encryption format='luks'>
        <secret uuid='0a81f5b2-8403-7b23-c8d6-21ccc2f80d6f' type='passphrase'/></encryption>
        </disk>
    </devices>""",
    "features_read_back": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <features><acpi state='off'/><hyperv><relaxed state='on'/><spinlocks state='off'
        retries='1'/><stimer state='off'><direct/></stimer><relaxed state='off'/>
        <tlbflush state='on'><direct state='on'/></tlbflush><vendor_id state='off'/>
        <spinlocks state='on' retries='0x1000'/></hyperv></features>
      <cpu><topology sockets='+1' cores=' 2' threads='1'/></cpu>""",
    "cpu_models": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <cpu><model>qemu64</model></cpu>""",
    "features_more": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <features><capabilities><chown/><kill state='off'/></capabilities>
        <smm state='on'><tseg unit='KiB'>2048</tseg></smm><hyperv><stimer state='on'>
        <direct state='on'/><direct state='off'/></stimer></hyperv></features>
      <cpu><model>qemu64</model><cache level='3' mode='emulate'/>
        <maxphysaddr bits='40' mode='passthrough'/></cpu>""",
    "empty_features": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <features/><cpu mode='custom' match='exact'/>""",
    "empty_feature_groups": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <features><hyperv/><kvm/></features><cpu match='minimum'><topology sockets='1'
      cores='1' threads='1'/></cpu>""",
    "empty_loader_and_nvram": """<memory unit='MiB'>64</memory><os firmware='efi'>
      <type>hvm</type><loader/><nvram/></os>""",
    "smm_off": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <features><smm state='off'><tseg unit='M'>1</tseg></smm></features>""",
    "cpu_maximum_migratable": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <cpu mode='maximum' migratable='on'/>""",
    "cpu_host_model": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <cpu mode='host-model'><model>qemu64</model></cpu>""",
    "xen_boot_not_read": """<memory unit='MiB'>64</memory><os><type>xen</type><boot/>
      <boot dev='tape'/><kernel>/k</kernel></os>""",
    "xen_pv": """<memory unit='MiB'>64</memory><os><type>xen</type><boot dev='fd'/>
      <bootmenu enable='no'/><kernel>/boot/vmlinuz</kernel></os>
      <devices><video/></devices>""",
}


@scenario
def canonical_documents(s: Session) -> None:
    """Each document defined, dumped three ways and undefined."""
    for n, (name, body) in enumerate(DOCUMENTS.items()):
        xml = _HEAD.format(name=name, n=n) + body + "</domain>"
        d = s.step(f"define {name}", s.conn.defineXML, xml)
        if d is None:
            continue
        s.step(f"xml {name}", d.XMLDesc, 0)
        s.step(f"xml inactive {name}", d.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE)
        s.step(f"xml secure {name}", d.XMLDesc, libvirt.VIR_DOMAIN_XML_SECURE)
        s.step(f"undefine {name}", d.undefine)


@scenario
def canonical_running(s: Session) -> None:
    """The same documents started: the live definition is written the same way."""
    for n, (name, body) in enumerate(DOCUMENTS.items()):
        xml = _HEAD.format(name=name, n=n + 100) + body + "</domain>"
        d = s.step(f"create {name}", s.conn.createXML, xml, 0)
        if d is None:
            continue
        s.step(f"xml {name}", d.XMLDesc, 0)
        s.step(f"xml inactive {name}", d.XMLDesc, libvirt.VIR_DOMAIN_XML_INACTIVE)
        s.step(f"destroy {name}", d.destroy)


#: documents libvirt's parser refuses for what their elements say
REFUSED: dict[str, str] = {
    "boot_order_twice": _BASE + """<devices><disk type='file'><source file='/a'/>
      <target dev='vda'/><boot order='1'/></disk><interface type='user'>
      <mac address='52:54:00:aa:00:21'/><boot order='1'/></interface></devices>""",
    "boot_order_and_os_boot": """<memory unit='MiB'>64</memory><os><type>hvm</type>
      <boot dev='hd'/></os><devices><disk type='file'><source file='/a'/>
      <target dev='vda'/><boot order='1'/></disk></devices>""",
    "cpu_feature_policy": _BASE + """<cpu><model>qemu64</model>
      <feature policy='sometimes' name='x2apic'/></cpu>""",
    "cpu_feature_without_name": _BASE + """<cpu><model>qemu64</model>
      <feature policy='require'/><feature name='x2apic' policy='sometimes'/></cpu>
      <devices><disk type='file'><source file='/a'/><address/></disk></devices>""",
    "cpu_features_without_model": _BASE + """<cpu><feature policy='require'/></cpu>""",
    "tcp_serial_without_host": _BASE + """<devices><serial type='tcp'>
      <source mode='bind' service='4555'/></serial></devices>""",
    "tcp_channel_without_service": _BASE + """<devices><channel type='tcp'>
      <source mode='connect' host='h'/><target type='guestfwd' address='10.0.2.1'
      port='1'/></channel></devices>""",
    "timer_without_name": _BASE + """<clock offset='utc'><timer present='no'/></clock>""",
    "boot_without_dev": """<memory unit='MiB'>64</memory><os><type>hvm</type><boot/></os>""",
    "required_in_parse_order": """<memory unit='MiB'>64</memory><os><type>hvm</type><boot/>
      </os><clock offset='utc'><timer present='no'/></clock><features><hyperv><relaxed/>
      </hyperv></features><cpu><topology cores='1' threads='1'/></cpu>""",
    "devices_without_required": _BASE + """<devices><sound/><graphics/></devices>""",
    "bridge_without_bridge": _BASE + """<devices><interface type='bridge'>
      <mac address='52:54:00:aa:00:31'/><source/></interface></devices>""",
    "tcp_redirdev_without_source": _BASE + """<devices>
      <controller type='usb' model='qemu-xhci'/><redirdev bus='usb' type='tcp'/></devices>""",
    # the CPU element is read attribute by attribute, then model, vendor, topology, features
    "cpu_feature_without_name_and_topology": _BASE + """<cpu><model>qemu64</model>
      <feature policy='require'/><topology sockets='1' cores='1'/></cpu>""",
    "cpu_topology_before_features": _BASE + """<cpu><feature policy='sometimes' name='a'/>
      <topology sockets='x' cores='1' threads='1'/></cpu>""",
    "cpu_mode_before_match": _BASE + """<cpu check='bogus' match='bogus' mode='bogus'>
      <model>qemu64</model></cpu>""",
    "cpu_migratable_of_custom": _BASE + """<cpu migratable='on' match='x'/>""",
    "cpu_migratable_value": _BASE + """<cpu migratable='x'/>""",
    "cpu_match_before_check": _BASE + """<cpu check='bogus' match='bogus'/>""",
    "cpu_fallback_before_vendor": _BASE + """<cpu><model fallback='sometimes'>qemu64</model>
      <vendor>Intel</vendor><topology sockets='0'/></cpu>""",
    "cpu_vendor_without_model": _BASE + """<cpu><vendor>Intel</vendor>
      <feature name='a'/></cpu>""",
    "cpu_zero_dies": _BASE + """<cpu><topology sockets='1' dies='0' cores='1'
      threads='1'/></cpu>""",
    "cpu_feature_twice": _BASE + """<cpu><model>qemu64</model><feature name='a'/>
      <feature name='a' policy='disable'/><cache mode='x'/></cpu>""",
    "cpu_two_caches": _BASE + """<cpu><model>qemu64</model><cache mode='emulate'/>
      <cache mode='emulate'/></cpu>""",
    "cpu_cache_without_mode": _BASE + """<cpu><model>qemu64</model><cache level='3'/>
      </cpu>""",
    # features are read in document order, each one in full
    "hyperv_spinlocks_without_retries": _BASE + """<features><hyperv>
      <spinlocks state='on'/><relaxed/></hyperv></features>""",
    "hyperv_spinlocks_few_retries": _BASE + """<features><hyperv>
      <spinlocks state='on' retries='4094'/><vendor_id state='on'/></hyperv></features>""",
    "hyperv_spinlocks_before_kvm": _BASE + """<features><hyperv>
      <spinlocks state='on' retries='99999999999'/></hyperv><kvm><hidden state='x'/></kvm>
      </features>""",
    "feature_before_hyperv": _BASE + """<features><apic eoi='bogus'/><hyperv>
      <spinlocks state='on'/></hyperv></features>""",
    "unknown_feature_after_hyperv": _BASE + """<features><hyperv>
      <vendor_id state='on' value='0123456789abc'/></hyperv><bogus/></features>""",
    "hyperv_unknown_enlightenment": _BASE + """<features><hyperv mode='custom'>
      <relaxed state='on'/><emsr_bitmap state='on'/></hyperv></features>""",
    "hyperv_stimer_child": _BASE + """<features><hyperv><stimer state='on'><indirect/>
      </stimer></hyperv></features>""",
    "kvm_dirty_ring_size": _BASE + """<features><kvm><dirty-ring state='on' size='1000'/>
      </kvm></features>""",
    "feature_state_unknown": _BASE + """<features><pmu state='default'/></features>""",
    # the sections outside the devices, in libvirt's reading order
    "genid_before_os_type": """<genid>x</genid><memory unit='MiB'>64</memory>
      <os><type>bogus</type></os>""",
    "title_after_os_type": """<title>a
      b</title><memory unit='MiB'>64</memory><os><type>bogus</type></os>""",
    "title_with_newline": _BASE + """<title>a
      b</title><seclabel type='x'/>""",
    "seclabel_before_memory": """<memory>x</memory><os><type>hvm</type></os>
      <seclabel type='x'/>""",
    "seclabels_without_models": _BASE + """<seclabel model='dac'/><seclabel type='none'/>""",
    "seclabels_of_one_model": _BASE + """<seclabel model='dac' type='dynamic'/>
      <seclabel type='dynamic'/><seclabel model='dac' type='none'/>""",
    "seclabels_both_without_model": _BASE + """<seclabel type='static'><label>a</label>
      </seclabel><seclabel type='dynamic'/>""",
    "static_seclabel_without_label": _BASE + """<seclabel type='static' model='selinux'/>
      <memtune><hard_limit>x</hard_limit></memtune>""",
    "memory_slots": """<memory unit='MiB'>64</memory><maxMemory slots='x'
      unit='MiB'>1024</maxMemory><os><type>hvm</type></os>""",
    "hugepage_without_size": _BASE + """<memoryBacking><hugepages><page unit='M'/>
      </hugepages></memoryBacking><memtune><hard_limit>x</hard_limit></memtune>""",
    "memtune_before_vcpu": _BASE + """<vcpu current='x'>2</vcpu><memtune>
      <soft_limit>1</soft_limit><hard_limit>-1</hard_limit></memtune>""",
    "vcpu_current": _BASE + """<vcpu current='x'>2</vcpu>""",
    "vcpus_before_iothreads": _BASE + """<vcpus><vcpu id='0'/></vcpus>
      <iothreads>x</iothreads>""",
    "iothreads_count": _BASE + """<iothreads>-1</iothreads><cpu mode='x'/>""",
    "iothread_zero_id": _BASE + """<iothreadids><iothread id='0'/></iothreadids>
      <defaultiothread thread_pool_min='x'/>""",
    "cputune_before_cpu": _BASE + """<cputune><iothreadsched iothreads='1'
      scheduler='fifo'/></cputune><cpu mode='x'/>""",
    "vcpusched_without_vcpus": _BASE + """<cputune><vcpusched scheduler='rr'
      priority='1'/></cputune>""",
    "vcpupin_without_vcpu": _BASE + """<cputune><vcpusched scheduler='x'/>
      <vcpupin cpuset='1'/></cputune>""",
    "vcpupin_without_cpuset": _BASE + """<cputune><vcpupin vcpu='0'/></cputune>""",
    "emulatorpin_without_cpuset": _BASE + """<cputune><emulatorpin/></cputune>""",
    "iothreadpin_unknown_thread": _BASE + """<iothreads>2</iothreads><iothreadids>
      <iothread id='5'/></iothreadids><cputune><iothreadpin iothread='2'/>
      <iothreadpin iothread='3' cpuset='1'/></cputune>""",
    "cputune_shares": _BASE + """<cputune><period>-1</period><shares>x</shares>
      </cputune>""",
    "emulatorsched_scheduler": _BASE + """<cputune><emulatorsched scheduler='deadline'/>
      </cputune>""",
    "numa_cell_without_memory": """<os><type>hvm</type></os><cpu><numa><cell cpus='0'/>
      </numa></cpu>""",
    "numa_cell_cpus": """<os><type>hvm</type></os><cpu><numa><cell cpus='x'
      memory='64' unit='MiB'/></numa></cpu>""",
    "numa_cell_twice": """<os><type>hvm</type></os><cpu><numa><cell cpus='0' memory='64'
      unit='MiB'/><cell id='0' cpus='1' memory='64' unit='MiB'/></numa></cpu>""",
    "cpu_before_numatune": _BASE + """<numatune><memory mode='x'/></numatune>
      <cpu><model fallback='x'>qemu64</model></cpu>""",
    "memnode_without_cells": _BASE + """<numatune><memnode cellid='0' mode='strict'
      nodeset='0'/></numatune><features><bogus/></features>""",
    "numa_without_cells": """<memory unit='MiB'>64</memory><os><type>hvm</type></os>
      <cpu><numa/></cpu><numatune><memory mode='x'/></numatune>""",
    "loader_without_path": """<memory unit='MiB'>64</memory><os><type>hvm</type><loader
      type='pflash'/></os><devices><video><model type='vga' primary='yes'/></video>
      <video><model type='vga' primary='yes'/></video></devices>""",
    "nvram_without_loader": """<memory unit='MiB'>64</memory><os><type>xen</type>
      <nvram>/n</nvram></os>""",
    "loader_after_device_validation": """<memory unit='MiB'>64</memory><os><type>hvm</type>
      <loader/></os><devices><disk type='file' device='floppy'><source file='/a'/>
      <target dev='fda' bus='ide'/></disk></devices>""",
    "numatune_before_features": _BASE + """<features><bogus/></features><numatune>
      <memory mode='fast'/></numatune>""",
    "lifecycle_action": _BASE + """<on_reboot>restart</on_reboot>
      <on_poweroff>reboot</on_poweroff><pm><suspend-to-mem enabled='x'/></pm>""",
    "pm_before_clock": _BASE + """<clock offset='x'/><pm><suspend-to-disk
      enabled='maybe'/></pm>""",
    "perf_event_name": _BASE + """<clock offset='x'/><perf><event name='x'/></perf>""",
    "perf_event_enabled": _BASE + """<perf><event name='cmt'/></perf>""",
    "idmap_numbers": """<memory unit='MiB'>64</memory><os><type>exe</type><init>/sbin/init</init>
      </os><idmap><uid start='0' target='1000' count='10'/><gid start='x' target='1000'
      count='10'/></idmap>""",
    "idmap_without_gid": """<memory unit='MiB'>64</memory><os><type>exe</type>
      <init>/sbin/init</init></os><idmap><uid start='0' target='1000' count='10'/>
      </idmap><keywrap><cipher name='x' state='on'/></keywrap>""",
    "idmap_pairs_after_validation": """<memory unit='MiB'>64</memory><os><type>exe</type>
      <init>/sbin/init</init></os><idmap><gid start='0' target='1000' count='10'/>
      </idmap><devices><disk type='file'><source file='/a'/></disk></devices>""",
    "idmap_pairs": """<memory unit='MiB'>64</memory><os><type>exe</type>
      <init>/sbin/init</init></os><idmap><gid start='0' target='1000' count='10'/>
      </idmap>""",
    "clock_before_os_boot": """<memory unit='MiB'>64</memory><os><type>hvm</type><boot/>
      </os><clock offset='gmt'/>""",
    "boot_unknown_device": """<memory unit='MiB'>64</memory><os><type>hvm</type>
      <boot dev='tape'/></os>""",
    "timer_unknown_name": _BASE + """<clock offset='utc'><timer name='x'/></clock>""",
    "keywrap_after_devices": _BASE + """<keywrap><cipher name='x' state='on'/></keywrap>
      <devices><sound/></devices>""",
    "keywrap_cipher": _BASE + """<keywrap><cipher name='aes'/></keywrap>""",
    "memory_after_device_reading": """<os><type>hvm</type></os><devices>
      <controller type='usb' model='ich9-uhci1'/></devices>""",
    "memory_before_post_parse": """<os><type>hvm</type></os><devices>
      <controller type='scsi' index='0'/><controller type='scsi' index='0'/></devices>""",
    # CPU and node sets: numbers below 16384, libvirt's grammar, wherever a set is read
    **{f"cpuset_{n}": _BASE + f"<vcpu cpuset='{text}'>2</vcpu>" for n, text in enumerate(
        ("16384", "0-4294967295", "abc", "", "1,,2", "^2-3", "3-1", "-1", "1" * 5000))},
    "vcpupin_cpuset": _BASE + """<vcpu>2</vcpu><cputune><vcpupin vcpu='0'
      cpuset='0-2147483647'/></cputune>""",
    "emulatorpin_cpuset": _BASE + """<cputune><emulatorpin cpuset='x'/></cputune>""",
    "iothreadpin_cpuset": _BASE + """<iothreads>1</iothreads><cputune>
      <iothreadpin iothread='1' cpuset='99999'/></cputune>""",
    "vcpusched_vcpus": _BASE + """<vcpu>2</vcpu><cputune><vcpusched vcpus='0-99999'
      scheduler='fifo' priority='1'/></cputune>""",
    "numatune_nodeset": _BASE + """<numatune><memory nodeset='0-4294967295'/></numatune>""",
    "memnode_nodeset": _BASE + """<vcpu>2</vcpu><cpu><numa><cell id='0' cpus='0-1'
      memory='1024'/></numa></cpu><numatune><memnode cellid='0' nodeset='16384'/>
      </numatune>""",
    "numa_cell_cpus_range": _BASE + """<vcpu>2</vcpu><cpu><numa><cell id='0' cpus='0-65536'
      memory='1024'/></numa></cpu>""",
    # the cells' CPUs against <vcpu>: their number, then their highest id, before numatune
    "numa_cpus_exceed_vcpus": _BASE + """<vcpu>2</vcpu><cpu><numa><cell cpus='0-1'
      memory='1024'/><cell cpus='1' memory='1024'/></numa></cpu>""",
    "numa_cpus_exceed_default_vcpu": _BASE + """<cpu><numa><cell cpus='0-1' memory='1024'/>
      </numa></cpu>""",
    "numa_cpu_ids_exceed_vcpus": _BASE + """<vcpu>3</vcpu><cpu><numa><cell cpus='0'
      memory='1024'/><cell cpus='3' memory='1024'/></numa></cpu>""",
    "numa_cpu_ids_empty_cell": _BASE + """<vcpu>3</vcpu><cpu><numa><cell cpus='0,^0'
      memory='1024'/></numa></cpu>""",
    "numa_cells_overlap_by_id": _BASE + """<vcpu>4</vcpu><cpu><numa><cell id='1' cpus='2-3'
      memory='1024'/><cell id='0' cpus='3' memory='x'/></numa></cpu>""",
    "numa_cells_overlap_before_memory": _BASE + """<vcpu>4</vcpu><cpu><numa><cell cpus='0'
      memory='1024'/><cell cpus='1' memory='1024'/><cell cpus='0-1' memory='x'/></numa>
      </cpu>""",
    "numa_cpus_before_numatune": _BASE + """<cpu><numa><cell cpus='1' memory='1024'/>
      </numa></cpu><numatune><memory mode='x'/></numatune>""",
    "numa_cpus_after_cells": _BASE + """<cpu><numa><cell cpus='0-3' memory='1024'/>
      <cell cpus='4' memory='1024' memAccess='x'/></numa></cpu>""",
    "memory_overflow": """<memory unit='KiB'>18014398509481984</memory><os><type>hvm</type>
      </os>""",
    "memory_too_large": """<memory unit='b'>9223372036854775000</memory><os><type>hvm</type>
      </os>""",
    "memory_beyond_64_bits": """<memory>18446744073709551616</memory><os><type>hvm</type>
      </os>""",
    "current_memory_overflow": _BASE + """<currentMemory
      unit='GiB'>17179869184</currentMemory>""",
    "maximum_memory_overflow": _BASE + """<maxMemory slots='2'
      unit='T'>8388608</maxMemory>""",
    "numa_cell_memory_overflow": _BASE + """<cpu><numa><cell cpus='0' memory='8388608'
      unit='TiB'/></numa></cpu>""",
    "memory_trailing_blank": """<memory unit='MiB'>64 </memory><os><type>hvm</type></os>""",
    "memory_hex": """<memory>0x10000</memory><os><type>hvm</type></os>""",
    "memory_number_before_unit": """<memory unit='q'>x</memory><os><type>hvm</type></os>""",
    "current_memory_leading_blank": _BASE + """<currentMemory
      unit='MiB'> +1</currentMemory>""",
    "memory_empty": """<memory unit='MiB'></memory><os><type>hvm</type></os>""",
    "current_memory_empty": _BASE + """<currentMemory/>""",
    "memory_unit_unknown": """<memory unit='q'>64</memory><os><type>hvm</type></os>""",
    "hugepages_nodeset": """<memory unit='MiB'>64</memory><memoryBacking><hugepages>
      <page size='2048' nodeset='0-4294967295'/></hugepages></memoryBacking>
      <os><type>hvm</type></os>""",
    "current_vcpus_above_maximum": _BASE + "<vcpu current='3'>2</vcpu>",
}

#: documents refused for their names: (name, the rest of the document)
REFUSED_NAMES: dict[str, str] = {
    # a name with a slash is refused after the post-parse, before the devices' validation
    "slash_after_post_parse": _BASE + """<devices><controller type='scsi' index='0'/>
      <controller type='scsi' index='0'/></devices>""",
    "slash_before_validation": _BASE + """<devices><disk type='file'><source file='/a'/>
      </disk></devices>""",
    "slash_after_keywrap": _BASE + """<keywrap><cipher name='x' state='on'/></keywrap>""",
}


@scenario
def refused_documents(s: Session) -> None:
    """Definitions refused with libvirt's error (code, domain and message)."""
    for n, (name, body) in enumerate(REFUSED.items()):
        xml = _HEAD.format(name=name, n=n + 200) + body + "</domain>"
        s.step(f"define {name}", s.conn.defineXML, xml)
    for n, (name, body) in enumerate(REFUSED_NAMES.items()):
        xml = _HEAD.format(name=f"{name}/1", n=n + 300) + body + "</domain>"
        s.step(f"define {name}", s.conn.defineXML, xml)
