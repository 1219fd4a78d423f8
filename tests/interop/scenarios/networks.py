"""Network APIs of the test driver, side by side (definition, lifecycle, update, lists, events).

Lists of several networks are compared sorted: libvirt keeps networks in a hash table whose
seed is random per process, so the order it lists them in differs from run to run.
"""

from __future__ import annotations

import json
from typing import Any

from ..scenario_runner import Session, jsonable, libvirt, scenario

UUID1 = "0a0b0c0d-1111-2222-3333-444444444441"
UUID2 = "0a0b0c0d-1111-2222-3333-444444444442"

ISOLATED = f"""<network>
  <name>net1</name>
  <uuid>{UUID1}</uuid>
  <bridge name='virbr1'/>
  <ip address='192.168.100.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='192.168.100.2' end='192.168.100.254'/>
      <host mac='52:54:00:00:00:01' name='one' ip='192.168.100.11'/>
    </dhcp>
  </ip>
</network>"""

TRANSIENT = f"""<network>
  <name>tnet</name>
  <uuid>{UUID2}</uuid>
  <forward mode='route'/>
  <bridge name='virbr2' stp='off'/>
  <ip address='10.0.2.1' prefix='24'/>
</network>"""

#: every part of a network definition the parser keeps (as libvirt 9.0 knows them)
FULL = """<network ipv6='yes' trustGuestRxFilters='no'>
  <name>full</name>
  <uuid>11111111-2222-3333-4444-555555555555</uuid>
  <title>Full net</title>
  <description>Every part &amp; more</description>
  <metadata><app:foo xmlns:app="http://example.org/app">bar</app:foo></metadata>
  <forward mode='nat' dev='eth0'>
    <nat ipv6='yes'><address start='1.2.3.4' end='1.2.3.10'/><port start='500' end='1000'/></nat>
    <interface dev='eth0'/>
  </forward>
  <bridge name='virbr9' stp='off' delay='5' macTableManager='libvirt' zone='trusted'/>
  <mtu size='9000'/>
  <mac address='52:54:00:AB:CD:EF'/>
  <domain name='example.com' localOnly='yes'/>
  <dns enable='yes' forwardPlainNames='no'>
    <forwarder addr='8.8.8.8'/>
    <forwarder domain='example.org'/>
    <forwarder domain='example.net' addr='8.8.4.4'/>
    <txt name='example' value='example value'/>
    <srv service='name' protocol='tcp' domain='test-domain-name' target='.' port='1024'
         priority='10' weight='10'/>
    <srv service='ldap' protocol='udp'/>
    <host ip='192.168.122.2'><hostname>myhost</hostname><hostname>myhostalias</hostname></host>
  </dns>
  <bandwidth><inbound average='1000' peak='5000' burst='1024'/>
    <outbound average='128' peak='256' burst='256'/></bandwidth>
  <vlan trunk='yes'><tag id='42'/><tag id='47' nativeMode='untagged'/></vlan>
  <port isolated='yes'/>
  <ip address='192.168.122.1' netmask='255.255.255.0' localPtr='yes'>
    <tftp root='/var/lib/tftp'/>
    <dhcp>
      <range start='192.168.122.100' end='192.168.122.254'><lease expiry='1' unit='hours'/></range>
      <host mac='00:16:3E:77:e2:ed' name='foo.example.com' ip='192.168.122.10'>
        <lease expiry='0'/></host>
      <host name='bar' ip='192.168.122.11'/>
      <bootp file='pxelinux.0' server='192.168.122.1'/>
    </dhcp>
  </ip>
  <ip family='ipv6' address='2001:db8:ca2:2:0:0:0:1' prefix='64'>
    <dhcp>
      <range start='2001:db8:ca2:2::100' end='2001:db8:ca2:2::1ff'/>
      <host id='0:4:7e:7d:f0:7d:a8:bc:c5:d2:13:32:11:ed:16:ea:84:63' name='paul'
            ip='2001:db8:ca2:2:3::1'/>
    </dhcp>
  </ip>
  <ip address='10.24.10.1' prefix='24'/>
  <route address='192.168.222.0' prefix='24' gateway='192.168.122.2'/>
  <route family='ipv6' address='2001:db8:ac10:fc00::' prefix='64' gateway='2001:db8:ca2:2::2'
         metric='2'/>
  <portgroup name='engineering' default='yes' trustGuestRxFilters='yes'>
    <virtualport type='802.1Qbh'><parameters profileid='test'/></virtualport>
    <bandwidth><inbound average='1000' peak='5000' burst='5120'/></bandwidth>
  </portgroup>
  <portgroup name='sales'><vlan><tag id='99'/></vlan></portgroup>
</network>"""

#: forward modes other than nat, each with what it allows
FORWARDS = {
    "fw-route": """<network><name>fw-route</name><forward mode='route' dev='eth1'/>
        <ip address='10.1.0.1' prefix='16'/></network>""",
    "fw-open": """<network><name>fw-open</name><forward mode='open'/>
        <bridge name='br-open' delay='3'/><ip address='10.2.0.1' prefix='16'/></network>""",
    "fw-bridge": """<network><name>fw-bridge</name><forward mode='bridge'/>
        <bridge name='br0'/></network>""",
    "fw-bridge-ifs": """<network><name>fw-bridge-ifs</name><forward mode='bridge'>
        <interface dev='eth1'/><interface dev='eth2'/></forward></network>""",
    "fw-private": """<network><name>fw-private</name><forward mode='private' dev='eth3'>
        <interface dev='eth3'/><interface dev='eth4'/></forward></network>""",
    "fw-vepa": """<network><name>fw-vepa</name><forward mode='vepa'>
        <interface dev='eth5'/></forward>
        <virtualport type='802.1Qbg'><parameters managerid='11' typeid='1193047'
         typeidversion='2'/></virtualport></network>""",
    "fw-passthrough": """<network><name>fw-passthrough</name><forward mode='passthrough'>
        <pf dev='eth6'/></forward></network>""",
    "fw-hostdev": """<network><name>fw-hostdev</name><forward mode='hostdev' managed='yes'>
        <driver name='vfio'/>
        <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x1'/>
        <address type='pci' domain='0' bus='4' slot='0' function='2'/></forward></network>""",
    "fw-hostdev-pf": """<network><name>fw-hostdev-pf</name><forward mode='hostdev'>
        <pf dev='eth7'/></forward></network>""",
    "fw-none": """<network><name>fw-none</name><forward/>
        <ip address='192.168.50.1' prefix='24'/></network>""",
    "isolated-bare": """<network><name>isolated-bare</name></network>""",
    "ip-forms": """<network><name>ip-forms</name>
        <ip address='172.16.0.1'/><ip address='10.9.0.1' netmask='255.255.0.0'/>
        <ip family='ipv4' address='192.0.2.1' prefix='28'/>
        <ip family='ipv6' address='fd00:0:0:0::1'/><ip family='ipv6' address='FD01::1' prefix='48'/>
        </network>""",
    "dns-forms": """<network><name>dns-forms</name><dns enable='no'/></network>""",
    "dns-plain": """<network><name>dns-plain</name><dns forwardPlainNames='yes'>
        <txt name='t' value='v'/></dns></network>""",
    "nat-forms": """<network><name>nat-forms</name><forward mode='nat'>
        <nat><port start='1024' end='65535'/></nat></forward>
        <ip address='10.5.0.1' prefix='24'/></network>""",
    "nat-empty": """<network><name>nat-empty</name><forward mode='nat'><nat/></forward>
        <ip address='10.6.0.1' prefix='24'/></network>""",
    "bridge-attrs": """<network><name>bridge-attrs</name>
        <bridge name='br9' stp='on' delay='0' macTableManager='kernel'/></network>""",
    "escapes": """<network><name>esc&amp;'quote'</name><bridge name="b&quot;r'"/></network>""",
}

#: definitions the parser refuses, each with what it says
BAD = {
    "not xml": "<network><name>x</name>",
    "wrong root": "<domain><name>x</name></domain>",
    "no name": "<network><uuid>" + UUID1 + "</uuid></network>",
    "empty name": "<network><name></name></network>",
    "slash in name": "<network><name>a/b</name></network>",
    "bad uuid": "<network><name>x</name><uuid>nope</uuid></network>",
    "bad ipv6 attr": "<network ipv6='maybe'><name>x</name></network>",
    "bad trust": "<network trustGuestRxFilters='x'><name>x</name></network>",
    "bad forward": "<network><name>x</name><forward mode='warp'/></network>",
    "nat no ip": "<network><name>x</name><forward mode='nat'/></network>",
    "route no ip": "<network><name>x</name><forward mode='route'/></network>",
    "nat two ifs": """<network><name>x</name><forward mode='nat'><interface dev='a'/>
        <interface dev='b'/></forward><ip address='10.0.0.1' prefix='8'/></network>""",
    "open dev": """<network><name>x</name><forward mode='open' dev='eth0'/>
        <ip address='10.0.0.1' prefix='8'/></network>""",
    "bridge in private": """<network><name>x</name><forward mode='private' dev='e'/>
        <bridge name='b'/></network>""",
    "stp in bridge": """<network><name>x</name><forward mode='bridge'/>
        <bridge name='b' stp='on'/></network>""",
    "bridge and dev": """<network><name>x</name><forward mode='bridge' dev='e'/>
        <bridge name='b'/></network>""",
    "mtu in bridge": """<network><name>x</name><forward mode='bridge'/><bridge name='b'/>
        <mtu size='1500'/></network>""",
    "bad delay": "<network><name>x</name><bridge name='b' delay='soon'/></network>",
    "bad mac table": "<network><name>x</name><bridge macTableManager='x'/></network>",
    "bad mac": "<network><name>x</name><mac address='zz'/></network>",
    "multicast mac": "<network><name>x</name><mac address='01:00:00:00:00:01'/></network>",
    "bad mtu": "<network><name>x</name><mtu size='big'/></network>",
    "ip no address": "<network><name>x</name><ip netmask='255.0.0.0'/></network>",
    "ip bad address": "<network><name>x</name><ip address='300.1.1.1'/></network>",
    "ip bad netmask": "<network><name>x</name><ip address='10.0.0.1' netmask='x'/></network>",
    "ip v6 in v4": "<network><name>x</name><ip address='fd00::1'/></network>",
    "ip both": """<network><name>x</name>
        <ip address='10.0.0.1' netmask='255.0.0.0' prefix='8'/></network>""",
    "ip v4 prefix": "<network><name>x</name><ip address='10.0.0.1' prefix='33'/></network>",
    "ip v6 netmask": """<network><name>x</name>
        <ip family='ipv6' address='fd00::1' netmask='255.0.0.0'/></network>""",
    "ip v6 family v4": "<network><name>x</name><ip family='ipv6' address='10.0.0.1'/></network>",
    "ip v6 prefix": """<network><name>x</name>
        <ip family='ipv6' address='fd00::1' prefix='129'/></network>""",
    "ip family": "<network><name>x</name><ip family='ipx' address='10.0.0.1'/></network>",
    "range outside": """<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>
        <range start='10.0.1.2' end='10.0.1.9'/></dhcp></ip></network>""",
    "range reversed": """<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>
        <range start='10.0.0.9' end='10.0.0.2'/></dhcp></ip></network>""",
    "range no start": """<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>
        <range end='10.0.0.9'/></dhcp></ip></network>""",
    "host no ip": """<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>
        <host mac='52:54:00:00:00:01'/></dhcp></ip></network>""",
    "host no mac or name": """<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>
        <host ip='10.0.0.5'/></dhcp></ip></network>""",
    "host bad mac": """<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>
        <host mac='52:54:00' ip='10.0.0.5'/></dhcp></ip></network>""",
    "host bad name": """<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>
        <host name='-x' ip='10.0.0.5'/></dhcp></ip></network>""",
    "short lease": """<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp>
        <range start='10.0.0.2' end='10.0.0.9'><lease expiry='1'/></range></dhcp></ip>
        </network>""",
    "tftp v6": """<network><name>x</name><ip family='ipv6' address='fd00::1' prefix='64'>
        <tftp root='/t'/></ip></network>""",
    "dns host no ip": """<network><name>x</name><dns><host><hostname>a</hostname></host></dns>
        </network>""",
    "dns txt no name": "<network><name>x</name><dns><txt value='v'/></dns></network>",
    "dns srv no service": "<network><name>x</name><dns><srv protocol='tcp'/></dns></network>",
    "dns disabled extra": """<network><name>x</name><dns enable='no'><txt name='a' value='b'/>
        </dns></network>""",
    "forwarder empty": "<network><name>x</name><dns><forwarder/></dns></network>",
    "route unreachable": """<network><name>x</name><ip address='10.0.0.1' prefix='24'/>
        <route address='192.168.1.0' prefix='24' gateway='172.16.0.1'/></network>""",
    "portgroup no name": "<network><name>x</name><portgroup/></network>",
    "nat in route": """<network><name>x</name><forward mode='route'><nat/></forward>
        <ip address='10.0.0.1' prefix='8'/></network>""",
    "pf twice": """<network><name>x</name><forward mode='passthrough'><pf dev='a'/>
        <pf dev='b'/></forward></network>""",
    "if twice": """<network><name>x</name><forward mode='bridge'><interface dev='a'/>
        <interface dev='a'/></forward></network>""",
    "dev mismatch": """<network><name>x</name><forward mode='bridge' dev='a'>
        <interface dev='b'/></forward></network>""",
}


#: more definitions, accepted or refused (one-off checks of the parser and formatter)
CORNER_CASES = {
 "localOnly": "<network><name>x</name><domain name='a' localOnly='x'/></network>",
 "localOnly default": "<network><name>x</name><domain name='a' localOnly='default'/></network>",
 "domain register": "<network><name>x</name><domain name='a' register='yes'/></network>",
 "dns enable": "<network><name>x</name><dns enable='x'/></network>",
 "dns fpn": "<network><name>x</name><dns forwardPlainNames='x'/></network>",
 "localPtr": "<network><name>x</name><ip address='10.0.0.1' localPtr='x'/></network>",
 "port isolated": "<network><name>x</name><port isolated='x'/></network>",
 "nat ipv6": "<network><name>x</name><forward><nat ipv6='x'/></forward><ip address='10.0.0.1'/></network>",
 "pg trust": "<network><name>x</name><portgroup name='a' trustGuestRxFilters='x'/></network>",
 "trust default": "<network trustGuestRxFilters='default'><name>x</name></network>",
 "trust YES": "<network trustGuestRxFilters='YES'><name>x</name></network>",
 "ipv6 YES": "<network ipv6='YES'><name>x</name></network>",
 "ipv6 no": "<network ipv6='no'><name>x</name></network>",
 "meta empty": "<network><name>x</name><metadata/></network>",
 "meta nons": "<network><name>x</name><metadata><a>b</a><c:d xmlns:c='u1'><e f='1'/><g/></c:d><c:h xmlns:c='u1'/><i:j xmlns:i='u2' k='&quot;&amp;'>t&amp;<l/></i:j></metadata></network>",
 "meta blank": "<network><name>x</name><metadata>\n  </metadata></network>",
 "pg empty": "<network><name>x</name><portgroup name='a'/></network>",
 "pg default YES": "<network><name>x</name><portgroup name='a' default='YES'/></network>",
 "vlan none": "<network><name>x</name><vlan/></network>",
 "vlan bad": "<network><name>x</name><vlan><tag id='5000'/></vlan></network>",
 "vlan single trunk": "<network><name>x</name><vlan trunk='yes'><tag id='5'/></vlan></network>",
 "vlan two": "<network><name>x</name><vlan><tag id='5'/><tag id='6'/></vlan></network>",
 "vlan trunk no": "<network><name>x</name><vlan trunk='no'><tag id='5'/></vlan></network>",
 "vlan native": "<network><name>x</name><vlan><tag nativeMode='tagged' id='5'/></vlan></network>",
 "bw empty": "<network><name>x</name><bandwidth/></network>",
 "bw noavg": "<network><name>x</name><bandwidth><inbound peak='5'/></bandwidth></network>",
 "bw floor": "<network><name>x</name><bandwidth><inbound average='5' floor='3'/></bandwidth></network>",
 "bw bad": "<network><name>x</name><bandwidth><outbound average='x'/></bandwidth></network>",
 "vport notype": "<network><name>x</name><virtualport><parameters profileid='a'/></virtualport></network>",
 "vport ovs": "<network><name>x</name><virtualport type='openvswitch'/></network>",
 "vport ovs2": "<network><name>x</name><virtualport type='openvswitch'><parameters profileid='p' interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/></virtualport></network>",
 "route none": "<network><name>x</name><ip address='10.0.0.1' prefix='24'/><route address='192.168.1.0' prefix='24'/></network>",
 "route nm": "<network><name>x</name><ip address='10.0.0.1' prefix='24'/><route address='192.168.1.0' netmask='255.255.255.0' gateway='10.0.0.2'/></network>",
 "range bad start": "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='zz' end='10.0.0.5'/></dhcp></ip></network>",
 "range netaddr": "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.0' end='10.0.0.5'/></dhcp></ip></network>",
 "range bcast": "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.255'/></dhcp></ip></network>",
 "range big": "<network><name>x</name><ip address='10.0.0.1' prefix='8'><dhcp><range start='10.0.0.2' end='10.1.0.5'/></dhcp></ip></network>",
 "bootp nofile": "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.5'/><bootp server='1.2.3.4'/></dhcp></ip></network>",
 "bootp only": "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><bootp file='f'/></dhcp></ip></network>",
 "host v6 mac": "<network><name>x</name><ip family='ipv6' address='fd00::1' prefix='64'><dhcp><host mac='52:54:00:00:00:01' name='a' ip='fd00::5'/></dhcp></ip></network>",
 "ip weird": "<network><name>x</name><ip address='10.1'/><ip address='0x0a.0.0.2' netmask='255.255.0.0'/><ip family='ipv6' address='::ffff:1.2.3.4'/></network>",
 "two dhcp": "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><range start='10.0.0.2' end='10.0.0.5'/></dhcp></ip><ip address='10.1.0.1' prefix='24'><dhcp><range start='10.1.0.2' end='10.1.0.5'/></dhcp></ip></network>",
 "mac upper": "<network><name>x</name><mac address='52:54:00:AB:CD:EF'/><bridge name='b'/></network>",
 "mtu neg": "<network><name>x</name><mtu size='-1'/></network>",
 "delay neg": "<network><name>x</name><bridge delay='-1'/></network>",
 "stp weird": "<network><name>x</name><bridge stp='maybe'/></network>",
 "title": "<network><name>x</name><title>t</title><description>d</description></network>",
 "pci bad": "<network><name>x</name><forward mode='hostdev'><address type='pci' domain='0x0000' bus='0x04' slot='0x40' function='0x1'/></forward></network>",
 "addr type": "<network><name>x</name><forward mode='hostdev'><address type='usb'/></forward></network>",
 "drv bad": "<network><name>x</name><forward mode='hostdev'><driver name='foo'/><pf dev='a'/></forward></network>",
 "dns srv bad": "<network><name>x</name><dns><srv service='a' protocol='tcp' target='t' port='x'/></dns></network>",
 "name spaces": "<network><name> sp </name></network>",

 "prefix bad": "<network><name>x</name><ip address='10.0.0.1' prefix='x'/></network>",
 "prefix neg": "<network><name>x</name><ip address='10.0.0.1' prefix='-1'/></network>",
 "host digit name": "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><host name='1abc' ip='10.0.0.5'/></dhcp></ip></network>",
 "host mac short": "<network><name>x</name><ip address='10.0.0.1' prefix='24'><dhcp><host mac='1:2:3:4:5:6' ip='10.0.0.5'/></dhcp></ip></network>",
 "uuid spaces": "<network><name>x</name><uuid> 0a0b0c0d 1111-2222-3333-444444444449 </uuid></network>",
 "uuid empty": "<network><name>x</name><uuid></uuid></network>",
 "route v6 nm": "<network><name>x</name><ip family='ipv6' address='fd00::1' prefix='64'/><route family='ipv6' address='fd01::' netmask='255.0.0.0' gateway='fd00::2'/></network>",
 "route not net": "<network><name>x</name><ip address='10.0.0.1' prefix='24'/><route address='192.168.1.5' prefix='24' gateway='10.0.0.2'/></network>",
 "route metric": "<network><name>x</name><ip address='10.0.0.1' prefix='24'/><route address='192.168.1.0' prefix='24' gateway='10.0.0.2' metric='0'/></network>",
 "nat addr reversed": "<network><name>x</name><forward><nat><address start='1.2.3.9' end='1.2.3.4'/></nat></forward><ip address='10.0.0.1'/></network>",
 "nat port bad": "<network><name>x</name><forward><nat><port start='9' end='5'/></nat></forward><ip address='10.0.0.1'/></network>",
 "forwarder bad": "<network><name>x</name><dns><forwarder addr='x.y'/></dns></network>",
 "srv long": "<network><name>x</name><dns><srv service='" + "a" * 500 + "' protocol='tcp'/></dns></network>",
 "txt line": "<network><name>x</name><dns><txt name='a' value='b&#10;c'/></dns></network>",
 "dns hostname space": "<network><name>x</name><dns><host ip='10.0.0.9'><hostname> </hostname></host></dns></network>",
 "mac trailing": "<network><name>x</name><mac address='52:54:00:00:00:01 junk'/></network>",
 "vport bad param": "<network><name>x</name><virtualport type='802.1Qbh'><parameters managerid='5'/></virtualport></network>",
 "vport bad uuid": "<network><name>x</name><virtualport type='openvswitch'><parameters interfaceid='zz'/></virtualport></network>",
}


def _sorted(value: Any) -> Any:
    return sorted(jsonable(value), key=json.dumps)


def _lists(s: Session, label: str) -> None:
    c = s.conn
    s.step(f"numOfNetworks {label}", c.numOfNetworks)
    s.step(f"numOfDefinedNetworks {label}", c.numOfDefinedNetworks)
    s.step(f"listNetworks {label}", c.listNetworks, mask=_sorted)
    s.step(f"listDefinedNetworks {label}", c.listDefinedNetworks, mask=_sorted)
    s.step(f"listAllNetworks {label}", c.listAllNetworks, 0, mask=_sorted)


def _state(s: Session, net: Any, label: str) -> None:
    s.step(f"isActive {label}", net.isActive)
    s.step(f"isPersistent {label}", net.isPersistent)
    s.step(f"autostart {label}", net.autostart)
    s.step(f"bridgeName {label}", net.bridgeName)
    s.step(f"XMLDesc {label}", net.XMLDesc, 0)


@scenario
def lists_and_filters(s: Session) -> None:
    c = s.conn
    _lists(s, "initial")
    for flags in (1, 2, 4, 8, 16, 32, 3, 12, 48, 6, 64, 1 << 20):
        s.step(f"listAllNetworks flags {flags}", c.listAllNetworks, flags, mask=_sorted)
    net = s.step("define", c.networkDefineXML, ISOLATED)
    _lists(s, "after define")
    s.step("setAutostart", net.setAutostart, 1)
    for flags in (16, 32, 17, 18):
        s.step(f"listAllNetworks autostart {flags}", c.listAllNetworks, flags, mask=_sorted)
    s.step("create", net.create)
    _lists(s, "after create")
    s.step("createXML", c.networkCreateXML, TRANSIENT)
    _lists(s, "with transient")
    for flags in (4, 8, 9, 10):
        s.step(f"listAllNetworks persistence {flags}", c.listAllNetworks, flags, mask=_sorted)
    s.step("destroy default", c.networkLookupByName("default").destroy)
    _lists(s, "default stopped")
    s.events()


@scenario
def define_and_lifecycle(s: Session) -> None:
    c = s.conn
    net = s.step("define", c.networkDefineXML, ISOLATED)
    _state(s, net, "defined")
    s.step("lookupByUUIDString", c.networkLookupByUUIDString, UUID1)
    s.step("UUIDString", net.UUIDString)
    s.step("create", net.create)
    _state(s, net, "started")
    s.step("create again", net.create)
    s.step("undefine active", net.undefine)
    s.step("setAutostart 1", net.setAutostart, 1)
    s.step("autostart after set", net.autostart)
    s.step("setAutostart 5", net.setAutostart, 5)
    s.step("autostart after 5", net.autostart)
    s.step("setAutostart 0", net.setAutostart, 0)
    s.step("destroy", net.destroy)
    _state(s, net, "stopped")
    s.step("destroy again", net.destroy)
    s.step("undefine", net.undefine)
    s.step("lookup after undefine", c.networkLookupByName, "net1")
    s.step("undefine again", net.undefine)
    s.step("create gone", net.create)
    s.step("destroy gone", net.destroy)
    s.step("XMLDesc gone", net.XMLDesc, 0)
    s.step("isActive gone", net.isActive)
    s.step("autostart gone", net.autostart)
    s.step("setAutostart gone", net.setAutostart, 1)
    s.step("bridgeName gone", net.bridgeName)
    s.events()


@scenario
def define_flags(s: Session) -> None:
    c = s.conn
    s.step("defineXMLFlags 0", c.networkDefineXMLFlags, ISOLATED, 0)
    s.step("defineXMLFlags validate", c.networkDefineXMLFlags, TRANSIENT,
           libvirt.VIR_NETWORK_DEFINE_VALIDATE)
    s.step("defineXMLFlags bad flag", c.networkDefineXMLFlags, ISOLATED, 2)
    invalid = "<network><name>v</name><bogus/><bridge stp='maybe'/></network>"
    s.step("defineXMLFlags validate invalid", c.networkDefineXMLFlags, invalid,
           libvirt.VIR_NETWORK_DEFINE_VALIDATE)
    s.step("defineXMLFlags invalid without validate", c.networkDefineXMLFlags, invalid, 0)
    s.step("createXMLFlags validate invalid", c.networkCreateXMLFlags,
           invalid.replace(">v<", ">w<"), 1)
    s.step("defineXMLFlags validate bad root", c.networkDefineXMLFlags, "<pool/>",
           libvirt.VIR_NETWORK_DEFINE_VALIDATE)
    s.step("createXMLFlags validate", c.networkCreateXMLFlags, TRANSIENT, 1)
    s.step("createXMLFlags bad flag", c.networkCreateXMLFlags, TRANSIENT, 2)
    s.step("XMLDesc flag inactive", c.networkLookupByName("net1").XMLDesc, 1)
    s.step("XMLDesc flag 2", c.networkLookupByName("net1").XMLDesc, 2)
    s.events()


@scenario
def transient(s: Session) -> None:
    c = s.conn
    net = s.step("createXML", c.networkCreateXML, TRANSIENT)
    _state(s, net, "transient")
    s.step("setAutostart transient", net.setAutostart, 1)
    s.step("autostart transient", net.autostart)
    s.step("undefine transient", net.undefine)
    s.step("create running transient", net.create)
    s.step("createXML again", c.networkCreateXML, TRANSIENT)
    s.step("destroy", net.destroy)
    s.step("lookup after destroy", c.networkLookupByName, "tnet")
    s.step("createXMLFlags 0", c.networkCreateXMLFlags, TRANSIENT, 0)
    s.step("define over transient", c.networkDefineXML, TRANSIENT)
    _state(s, c.networkLookupByName("tnet"), "made persistent")
    s.step("destroy persistent", c.networkLookupByName("tnet").destroy)
    _state(s, c.networkLookupByName("tnet"), "stopped persistent")
    s.events()


@scenario
def name_and_uuid_clashes(s: Session) -> None:
    c = s.conn
    s.step("define", c.networkDefineXML, ISOLATED)
    s.step("define same name other uuid", c.networkDefineXML,
           ISOLATED.replace(UUID1, UUID2))
    s.step("define same uuid other name", c.networkDefineXML,
           ISOLATED.replace("net1", "net1b"))
    s.step("createXML same uuid other name", c.networkCreateXML,
           ISOLATED.replace("net1", "net1b"))
    s.step("createXML default name", c.networkCreateXML,
           "<network><name>default</name></network>")
    s.step("createXML default uuid active", c.networkCreateXML,
           "<network><name>default</name><uuid>dd8fe884-6c02-601e-7551-cca97df1c5df</uuid>"
           "</network>")
    s.step("createXML over inactive persistent", c.networkCreateXML,
           ISOLATED.replace("virbr1", "virbr7"))
    net = c.networkLookupByName("net1")
    _state(s, net, "created over persistent")
    s.step("destroy", net.destroy)
    _state(s, net, "after destroy")
    s.step("redefine inactive", c.networkDefineXML, ISOLATED.replace("virbr1", "virbr8"))
    _state(s, net, "redefined")
    s.step("create", net.create)
    s.step("redefine active", c.networkDefineXML, ISOLATED.replace("virbr1", "virbr6"))
    _state(s, net, "redefined while active")
    s.step("destroy again", net.destroy)
    _state(s, net, "destroyed after redefine")
    s.step("create again", net.create)
    _state(s, net, "restarted after redefine")
    s.events()


@scenario
def no_uuid_and_no_bridge(s: Session) -> None:
    c = s.conn
    net = s.step("define without uuid", c.networkDefineXML,
                 "<network><name>nouuid</name></network>")
    s.note("uuid is 36 characters", len(net.UUIDString()))
    s.step("bridgeName without bridge", net.bridgeName)
    s.step("XMLDesc without uuid", net.XMLDesc, 0,
           mask=lambda x: x.replace(net.UUIDString(), "UUID"))
    s.step("undefine", net.undefine)
    s.events()


@scenario
def xml_formats(s: Session) -> None:
    c = s.conn
    net = s.step("define full", c.networkDefineXML, FULL)
    if net is not None:
        s.step("XMLDesc full", net.XMLDesc, 0)
        s.step("bridgeName full", net.bridgeName)
        s.step("create full", net.create)
        s.step("XMLDesc full active", net.XMLDesc, 0)
    for name, xml in FORWARDS.items():
        net = s.step(f"define {name}", c.networkDefineXML, xml)
        if net is not None:
            s.step(f"XMLDesc {name}", net.XMLDesc, 0,
                   mask=lambda x, n=net: x.replace(n.UUIDString(), "UUID"))
            s.step(f"bridgeName {name}", net.bridgeName)
    s.events()


@scenario
def xml_corner_cases(s: Session) -> None:
    c = s.conn
    for name, xml in CORNER_CASES.items():
        net = s.step(f"define {name}", c.networkDefineXML, xml)
        if net is not None:
            s.step(f"XMLDesc {name}", net.XMLDesc, 0,
                   mask=lambda x, n=net: x.replace(n.UUIDString(), "UUID"))
            s.step(f"undefine {name}", net.undefine)
    s.events()


@scenario
def xml_errors(s: Session) -> None:
    c = s.conn
    for name, xml in BAD.items():
        s.step(f"define {name}", c.networkDefineXML, xml)
    s.step("create not xml", c.networkCreateXML, BAD["not xml"])
    s.step("create bad forward", c.networkCreateXML, BAD["bad forward"])
    _lists(s, "after errors")
    s.events()


# ---------------------------------------------------------------------------- update

CMD_MODIFY = 1
CMD_DELETE = 2
CMD_ADD_LAST = 3
CMD_ADD_FIRST = 4
LIVE = 1
CONFIG = 2

SEC_IP_DHCP_HOST = 4
SEC_IP_DHCP_RANGE = 5
SEC_FORWARD_INTERFACE = 7
SEC_PORTGROUP = 9
SEC_DNS_HOST = 10
SEC_DNS_TXT = 11
SEC_DNS_SRV = 12

HOST10 = "<host mac='00:16:3e:77:e2:ed' name='foo.example.com' ip='192.168.122.10'/>"


@scenario
def update_sections(s: Session) -> None:
    net = s.conn.networkLookupByName("default")
    for section in range(14):
        for command in range(6):
            s.step(f"section {section} command {command}", net.update, command, section, -1,
                   HOST10, 0)
    s.step("XMLDesc", net.XMLDesc, 0)


@scenario
def update_dhcp_hosts(s: Session) -> None:
    net = s.conn.networkLookupByName("default")

    def upd(label: str, command: int, xml: str, index: int = -1, flags: int = 0) -> None:
        s.step(label, net.update, command, SEC_IP_DHCP_HOST, index, xml, flags)

    upd("add last", CMD_ADD_LAST, HOST10)
    upd("add first", CMD_ADD_FIRST, "<host mac='00:16:3e:00:00:02' name='b' ip='192.168.122.12'/>")
    upd("add duplicate mac", CMD_ADD_LAST,
        "<host mac='00:16:3E:77:E2:ED' name='c' ip='192.168.122.13'/>")
    upd("add duplicate name", CMD_ADD_LAST, "<host name='b' ip='192.168.122.14'/>")
    upd("add duplicate ip", CMD_ADD_LAST, "<host name='d' ip='192.168.122.12'/>")
    upd("add name only", CMD_ADD_LAST, "<host name='e' ip='192.168.122.15'/>")
    upd("add v6 ip in v4", CMD_ADD_LAST, "<host name='f' ip='2001:db8::5'/>")
    upd("add no ip", CMD_ADD_LAST, "<host name='g'/>")
    upd("add nothing", CMD_ADD_LAST, "<host ip='192.168.122.16'/>")
    upd("add bad mac", CMD_ADD_LAST, "<host mac='zz' ip='192.168.122.16'/>")
    upd("add multicast", CMD_ADD_LAST, "<host mac='01:00:5e:00:00:01' ip='192.168.122.16'/>")
    upd("add bad name", CMD_ADD_LAST, "<host name='_x' ip='192.168.122.16'/>")
    upd("add bad ip", CMD_ADD_LAST, "<host name='h' ip='nope'/>")
    upd("add bad id", CMD_ADD_LAST, "<host id='xyz' name='h' ip='192.168.122.16'/>")
    upd("add with lease", CMD_ADD_LAST,
        "<host mac='00:16:3e:00:00:09' ip='192.168.122.19'><lease expiry='2' unit='hours'/>"
        "</host>")
    s.step("XMLDesc after adds", net.XMLDesc, 0)
    upd("modify by mac", CMD_MODIFY,
        "<host mac='00:16:3e:77:e2:ed' name='foo2' ip='192.168.122.20'/>")
    upd("modify by ip", CMD_MODIFY, "<host name='bee' ip='192.168.122.12'/>")
    upd("modify missing", CMD_MODIFY, "<host name='zzz' ip='192.168.122.99'/>")
    upd("modify missing no mac", CMD_MODIFY, "<host name='zzz' ip='192.168.122.98'/>")
    s.step("XMLDesc after modify", net.XMLDesc, 0)
    upd("delete by name", CMD_DELETE, "<host name='bee'/>")
    upd("delete by ip", CMD_DELETE, "<host ip='192.168.122.15'/>")
    upd("delete partial mismatch", CMD_DELETE, "<host name='foo2' ip='192.168.122.21'/>")
    upd("delete empty", CMD_DELETE, "<host/>")
    upd("delete missing", CMD_DELETE, "<host mac='00:11:22:33:44:55'/>")
    upd("delete by mac upper", CMD_DELETE, "<host mac='00:16:3E:77:E2:ED'/>")
    upd("wrong element", CMD_ADD_LAST, "<range start='192.168.122.2' end='192.168.122.3'/>")
    upd("not xml", CMD_ADD_LAST, "<host")
    upd("index 0", CMD_ADD_LAST, "<host name='i0' ip='192.168.122.30'/>", 0)
    upd("index 1", CMD_ADD_LAST, "<host name='i1' ip='192.168.122.31'/>", 1)
    upd("index -5", CMD_ADD_LAST, "<host name='i2' ip='192.168.122.32'/>", -5)
    s.step("XMLDesc after deletes", net.XMLDesc, 0)


@scenario
def update_ranges_and_others(s: Session) -> None:
    c = s.conn
    net = s.step("define", c.networkDefineXML, FULL)
    if net is None:
        return

    def upd(label: str, command: int, section: int, xml: str, index: int = -1,
            flags: int = 0) -> None:
        s.step(label, net.update, command, section, index, xml, flags)

    r = SEC_IP_DHCP_RANGE
    upd("range add", CMD_ADD_LAST, r, "<range start='192.168.122.20' end='192.168.122.30'/>")
    upd("range add first", CMD_ADD_FIRST, r,
        "<range start='192.168.122.40' end='192.168.122.50'/>")
    upd("range add duplicate", CMD_ADD_LAST, r,
        "<range start='192.168.122.20' end='192.168.122.30'/>")
    upd("range modify", CMD_MODIFY, r, "<range start='192.168.122.20' end='192.168.122.30'/>")
    upd("range outside", CMD_ADD_LAST, r, "<range start='10.0.0.2' end='10.0.0.3'/>")
    upd("range v6 in v4", CMD_ADD_LAST, r, "<range start='2001:db8::2' end='2001:db8::3'/>")
    upd("range v6 index", CMD_ADD_LAST, r,
        "<range start='2001:db8:ca2:2::300' end='2001:db8:ca2:2::3ff'/>", 1)
    upd("range index 2 multi dhcp", CMD_ADD_LAST, r,
        "<range start='10.24.10.2' end='10.24.10.9'/>", 2)
    upd("range bad index", CMD_ADD_LAST, r,
        "<range start='192.168.122.2' end='192.168.122.3'/>", 7)
    upd("range delete", CMD_DELETE, r, "<range start='192.168.122.40' end='192.168.122.50'/>")
    upd("range delete missing", CMD_DELETE, r,
        "<range start='192.168.122.41' end='192.168.122.50'/>")
    upd("range no end", CMD_ADD_LAST, r, "<range start='192.168.122.41'/>")
    upd("range lease", CMD_ADD_LAST, r,
        "<range start='192.168.122.60' end='192.168.122.70'><lease expiry='5'/></range>")
    f = SEC_FORWARD_INTERFACE
    upd("iface add", CMD_ADD_LAST, f, "<interface dev='eth9'/>")
    upd("iface add first", CMD_ADD_FIRST, f, "<interface dev='eth8'/>")
    upd("iface add dup", CMD_ADD_LAST, f, "<interface dev='eth9'/>")
    upd("iface modify", CMD_MODIFY, f, "<interface dev='eth9'/>")
    upd("iface no dev", CMD_ADD_LAST, f, "<interface/>")
    upd("iface delete", CMD_DELETE, f, "<interface dev='eth0'/>")
    upd("iface delete missing", CMD_DELETE, f, "<interface dev='eth0'/>")
    p = SEC_PORTGROUP
    upd("pg add", CMD_ADD_LAST, p, "<portgroup name='ops'><vlan><tag id='5'/></vlan></portgroup>")
    upd("pg add first", CMD_ADD_FIRST, p, "<portgroup name='dev'/>")
    upd("pg add dup", CMD_ADD_LAST, p, "<portgroup name='ops'/>")
    upd("pg add second default", CMD_ADD_LAST, p, "<portgroup name='qa' default='yes'/>")
    upd("pg modify", CMD_MODIFY, p, "<portgroup name='ops' trustGuestRxFilters='no'/>")
    upd("pg modify default", CMD_MODIFY, p, "<portgroup name='engineering' default='yes'/>")
    upd("pg modify missing", CMD_MODIFY, p, "<portgroup name='nope'/>")
    upd("pg delete", CMD_DELETE, p, "<portgroup name='sales'/>")
    upd("pg delete missing", CMD_DELETE, p, "<portgroup name='sales'/>")
    upd("pg no name", CMD_ADD_LAST, p, "<portgroup/>")
    h = SEC_DNS_HOST
    upd("dns host add", CMD_ADD_LAST, h,
        "<host ip='192.168.122.3'><hostname>h3</hostname></host>")
    upd("dns host add first", CMD_ADD_FIRST, h,
        "<host ip='2001:db8::3'><hostname>h6</hostname></host>")
    upd("dns host add dup ip", CMD_ADD_LAST, h,
        "<host ip='192.168.122.3'><hostname>other</hostname></host>")
    upd("dns host add same name", CMD_ADD_LAST, h,
        "<host ip='192.168.122.4'><hostname>h3</hostname></host>")
    upd("dns host add no name", CMD_ADD_LAST, h, "<host ip='192.168.122.5'/>")
    upd("dns host add empty name", CMD_ADD_LAST, h,
        "<host ip='192.168.122.5'><hostname></hostname></host>")
    upd("dns host add bad ip", CMD_ADD_LAST, h, "<host ip='x'><hostname>a</hostname></host>")
    upd("dns host modify", CMD_MODIFY, h, "<host ip='192.168.122.3'><hostname>a</hostname></host>")
    upd("dns host delete by name", CMD_DELETE, h, "<host><hostname>h6</hostname></host>")
    upd("dns host delete many", CMD_DELETE, h, "<host><hostname>h3</hostname></host>")
    upd("dns host delete missing", CMD_DELETE, h, "<host ip='10.10.10.10'/>")
    upd("dns host delete nothing", CMD_DELETE, h, "<host/>")
    t = SEC_DNS_TXT
    upd("txt add", CMD_ADD_LAST, t, "<txt name='t1' value='v1'/>")
    upd("txt add first", CMD_ADD_FIRST, t, "<txt name='t0' value='v0'/>")
    upd("txt add dup", CMD_ADD_LAST, t, "<txt name='t1' value='v2'/>")
    upd("txt add no value", CMD_ADD_LAST, t, "<txt name='t2'/>")
    upd("txt add bad name", CMD_ADD_LAST, t, "<txt name='a b' value='v'/>")
    upd("txt modify", CMD_MODIFY, t, "<txt name='t1' value='changed'/>")
    upd("txt modify no value", CMD_MODIFY, t, "<txt name='t1'/>")
    upd("txt delete", CMD_DELETE, t, "<txt name='t0'/>")
    upd("txt delete missing", CMD_DELETE, t, "<txt name='t0'/>")
    upd("txt no name", CMD_DELETE, t, "<txt/>")
    v = SEC_DNS_SRV
    upd("srv add", CMD_ADD_LAST, v, "<srv service='sip' protocol='udp' target='sip.example' "
        "port='5060' priority='1' weight='2'/>")
    upd("srv add first", CMD_ADD_FIRST, v, "<srv service='xmpp' protocol='tcp'/>")
    upd("srv add dup", CMD_ADD_LAST, v, "<srv service='sip' protocol='udp'/>")
    upd("srv add no protocol", CMD_ADD_LAST, v, "<srv service='a'/>")
    upd("srv add bad service", CMD_ADD_LAST, v, "<srv service='a.b' protocol='tcp'/>")
    upd("srv add port no target", CMD_ADD_LAST, v, "<srv service='c' protocol='tcp' port='5'/>")
    upd("srv add bad port", CMD_ADD_LAST, v,
        "<srv service='c' protocol='tcp' target='t' port='70000'/>")
    upd("srv delete", CMD_DELETE, v, "<srv service='xmpp'/>")
    upd("srv delete many", CMD_DELETE, v, "<srv protocol='udp'/>")
    upd("srv delete missing", CMD_DELETE, v, "<srv service='nope'/>")
    s.step("XMLDesc after updates", net.XMLDesc, 0)


@scenario
def update_live_and_config(s: Session) -> None:
    c = s.conn
    net = s.step("define", c.networkDefineXML, ISOLATED)
    add = "<host mac='52:54:00:00:00:02' name='two' ip='192.168.100.12'/>"

    def upd(label: str, xml: str, flags: int, command: int = CMD_ADD_LAST) -> None:
        s.step(label, net.update, command, SEC_IP_DHCP_HOST, -1, xml, flags)

    upd("live on inactive", add, LIVE)
    upd("current on inactive", add, 0)
    s.step("XMLDesc inactive", net.XMLDesc, 0)
    upd("bad flag", add, 4)
    s.step("create", net.create)
    upd("config on active", add.replace("two", "three").replace(".12", ".13")
        .replace(":02", ":03"), CONFIG)
    s.step("XMLDesc after config update", net.XMLDesc, 0)
    upd("live on active", add.replace("two", "four").replace(".12", ".14")
        .replace(":02", ":04"), LIVE)
    s.step("XMLDesc after live update", net.XMLDesc, 0)
    upd("both", add.replace("two", "five").replace(".12", ".15").replace(":02", ":05"),
        LIVE | CONFIG)
    s.step("XMLDesc after both", net.XMLDesc, 0)
    upd("current on active", add.replace("two", "six").replace(".12", ".16")
        .replace(":02", ":06"), 0)
    s.step("destroy", net.destroy)
    s.step("XMLDesc after destroy", net.XMLDesc, 0)
    s.step("create again", net.create)
    s.step("XMLDesc after restart", net.XMLDesc, 0)
    t = s.step("createXML transient", c.networkCreateXML, TRANSIENT)
    if t is not None:
        s.step("transient config", t.update, CMD_ADD_LAST, SEC_DNS_TXT, -1,
               "<txt name='a' value='b'/>", CONFIG)
        s.step("transient live", t.update, CMD_ADD_LAST, SEC_DNS_TXT, -1,
               "<txt name='a' value='b'/>", LIVE)
        s.step("transient XMLDesc", t.XMLDesc, 0)
    s.step("update gone", c.networkLookupByName("default").update, CMD_ADD_LAST,
           SEC_DNS_TXT, -1, "<txt name='a' value='b'/>", 0)
    s.step("update dns on default", c.networkLookupByName("default").update, CMD_ADD_LAST,
           SEC_DNS_TXT, -1, "<txt name='a' value='b'/>", 0)
    s.step("XMLDesc default after dns", c.networkLookupByName("default").XMLDesc, 0)
    s.events()


@scenario
def not_in_test_driver(s: Session) -> None:
    c = s.conn
    net = c.networkLookupByName("default")
    s.step("DHCPLeases", net.DHCPLeases)
    s.step("DHCPLeases mac", net.DHCPLeases, "52:54:00:00:00:01")
    s.step("listAllPorts", net.listAllPorts)
    s.step("portLookupByUUIDString", net.portLookupByUUIDString,
           "0a0b0c0d-1111-2222-3333-444444444449")
    s.step("portCreateXML", net.portCreateXML,
           "<networkport><owner><name>x</name>"
           "<uuid>0a0b0c0d-1111-2222-3333-444444444449</uuid></owner>"
           "<mac address='52:54:00:00:00:09'/></networkport>")


@scenario
def events_per_network(s: Session) -> None:
    c = s.conn
    seen: list[list[Any]] = []
    net = s.step("define", c.networkDefineXML, ISOLATED)
    cb = s.step("register for net1", c.networkEventRegisterAny, net,
                libvirt.VIR_NETWORK_EVENT_ID_LIFECYCLE,
                lambda _c, n, ev, detail, _o: seen.append([n.name(), ev, detail]), None,
                mask=lambda v: isinstance(v, int))
    s.step("create", net.create)
    s.step("start default", c.networkLookupByName("default").destroy)
    s.step("destroy", net.destroy)
    s.events()
    s.note("events of net1 only", seen)
    s.step("register bad id", c.networkEventRegisterAny, None, 5,
           lambda *a: None, None)
    if isinstance(cb, int):
        s.step("deregister", c.networkEventDeregisterAny, cb)
        s.step("deregister again", c.networkEventDeregisterAny, cb)
