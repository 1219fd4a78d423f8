"""Host interface APIs of the test driver, side by side (lists, lookups, XML, lifecycle,
transactions)."""

from __future__ import annotations

from ..scenario_runner import Session, libvirt, scenario

ETH1 = """<interface type='ethernet' name='eth1'>
  <start mode='onboot'/>
  <mac address='aa:bb:cc:dd:ee:ff'/>
  <mtu size='1492'/>
  <protocol family='ipv4'>
    <ip address='192.168.0.5' prefix='24'/>
    <route gateway='192.168.0.1'/>
  </protocol>
</interface>"""

BRIDGE = """<interface type='bridge' name='br0'>
  <start mode='onboot'/>
  <protocol family='ipv4'><dhcp/></protocol>
  <protocol family='ipv6'><autoconf/><ip address='fe80::1' prefix='64'/></protocol>
  <bridge stp='off' delay='0.01'>
    <interface type='ethernet' name='eth0'><mac address='ab:bb:cc:dd:ee:ff'/></interface>
    <interface type='ethernet' name='eth2'/>
  </bridge>
</interface>"""

BOND = """<interface type='bond' name='bond0'>
  <start mode='none'/>
  <protocol family='ipv4'><ip address='192.168.50.7' prefix='24'/></protocol>
  <bond mode='active-backup'>
    <miimon freq='100' updelay='10' carrier='ioctl'/>
    <interface type='ethernet' name='eth3'><mac address='ab:bb:cc:dd:ee:01'/></interface>
    <interface type='ethernet' name='eth4'><mac address='ab:bb:cc:dd:ee:02'/></interface>
  </bond>
</interface>"""

VLAN = """<interface type='vlan' name='eth0.42'>
  <start mode='hotplug'/>
  <protocol family='ipv4'><dhcp peerdns='no'/></protocol>
  <vlan tag='42'><interface name='eth0'/></vlan>
</interface>"""


# libvirtd lists objects in its hash table's order, which a random seed decides: lists are
# compared sorted.
def _names(ifaces: list) -> list:  # type: ignore[type-arg]
    return sorted([i.name(), i.MACString()] for i in ifaces)


@scenario
def lists_and_lookups(s: Session) -> None:
    c = s.conn
    s.step("listAllInterfaces", c.listAllInterfaces, mask=_names)
    s.step("listAllInterfaces active", c.listAllInterfaces,
           libvirt.VIR_CONNECT_LIST_INTERFACES_ACTIVE, mask=_names)
    s.step("listAllInterfaces inactive", c.listAllInterfaces,
           libvirt.VIR_CONNECT_LIST_INTERFACES_INACTIVE, mask=_names)
    s.step("listAllInterfaces both", c.listAllInterfaces, 3, mask=_names)
    s.step("listAllInterfaces bad flag", c.listAllInterfaces, 4)
    s.step("listInterfaces", c.listInterfaces, mask=sorted)
    s.step("listDefinedInterfaces", c.listDefinedInterfaces, mask=sorted)
    s.step("numOfInterfaces", c.numOfInterfaces)
    s.step("numOfDefinedInterfaces", c.numOfDefinedInterfaces)
    s.step("lookup by name", c.interfaceLookupByName, "eth1", mask=lambda i: i.MACString())
    s.step("lookup by missing name", c.interfaceLookupByName, "eth9")
    s.step("lookup by MAC", c.interfaceLookupByMACString, "aa:bb:cc:dd:ee:ff",
           mask=lambda i: [i.name(), i.MACString()])
    s.step("lookup by MAC in capitals", c.interfaceLookupByMACString, "AA:BB:CC:DD:EE:FF",
           mask=lambda i: [i.name(), i.MACString()])
    s.step("lookup by missing MAC", c.interfaceLookupByMACString, "00:11:22:33:44:55")
    iface = c.interfaceLookupByName("eth1")
    s.step("XMLDesc", iface.XMLDesc)
    s.step("XMLDesc inactive", iface.XMLDesc, libvirt.VIR_INTERFACE_XML_INACTIVE)
    s.step("XMLDesc bad flag", iface.XMLDesc, 2)
    s.step("isActive", iface.isActive)
    s.step("name", iface.name)
    s.step("MACString", iface.MACString)


@scenario
def lifecycle(s: Session) -> None:
    c = s.conn
    iface = c.interfaceLookupByName("eth1")
    s.step("create running", iface.create)
    s.step("create flags", iface.create, 1)
    s.step("destroy flags", iface.destroy, 1)
    s.step("destroy", iface.destroy)
    s.step("isActive after destroy", iface.isActive)
    s.step("destroy again", iface.destroy)
    s.step("listInterfaces", c.listInterfaces, mask=sorted)
    s.step("listDefinedInterfaces", c.listDefinedInterfaces, mask=sorted)
    s.step("numOfDefinedInterfaces", c.numOfDefinedInterfaces)
    s.step("XMLDesc stopped", iface.XMLDesc)
    s.step("create", iface.create)
    s.step("undefine running", iface.undefine)
    s.step("listAllInterfaces", c.listAllInterfaces, mask=_names)
    s.step("destroy gone", iface.destroy)
    s.step("undefine gone", iface.undefine)
    s.step("XMLDesc gone", iface.XMLDesc)
    s.step("isActive gone", iface.isActive)
    s.step("define", c.interfaceDefineXML, ETH1, mask=lambda i: [i.name(), i.MACString()])
    s.step("isActive defined", c.interfaceLookupByName("eth1").isActive)
    s.step("define again", c.interfaceDefineXML, ETH1, mask=lambda i: i.name())
    s.step("define flags", c.interfaceDefineXML, ETH1, 1, mask=lambda i: i.name())
    s.step("listAllInterfaces", c.listAllInterfaces, mask=_names)


@scenario
def definitions(s: Session) -> None:
    c = s.conn
    for name, xml in (("bridge", BRIDGE), ("bond", BOND), ("vlan", VLAN)):
        iface = s.step(f"define {name}", c.interfaceDefineXML, xml,
                       mask=lambda i: [i.name(), i.MACString()])
        if iface is not None:
            s.step(f"XMLDesc {name}", iface.XMLDesc)
            s.step(f"isActive {name}", iface.isActive)
    s.step("listAllInterfaces", c.listAllInterfaces, mask=_names)
    s.step("listDefinedInterfaces", c.listDefinedInterfaces, mask=sorted)
    s.step("create bridge", c.interfaceLookupByName("br0").create)
    s.step("listInterfaces", c.listInterfaces, mask=sorted)
    for label, xml in (
        ("no type", "<interface name='x'/>"),
        ("no name", "<interface type='ethernet'/>"),
        ("bad type", "<interface type='tunnel' name='t0'/>"),
        ("wrong root", "<network><name>x</name></network>"),
        ("not XML", "nope"),
        ("bad start mode", "<interface type='ethernet' name='e9'><start mode='later'/>"
                           "</interface>"),
        ("bridge without bridge", "<interface type='bridge' name='br9'/>"),
        ("vlan without tag", "<interface type='vlan' name='v9'><vlan/></interface>"),
        ("bad mtu", "<interface type='ethernet' name='e9'><mtu size='big'/></interface>"),
    ):
        s.step(f"define {label}", c.interfaceDefineXML, xml)


@scenario
def transactions(s: Session) -> None:
    c = s.conn
    s.step("changeCommit without a transaction", c.changeCommit)
    s.step("changeRollback without a transaction", c.changeRollback)
    s.step("changeBegin flags", c.changeBegin, 1)
    s.step("changeBegin", c.changeBegin)
    s.step("changeBegin again", c.changeBegin)
    s.step("define in transaction", c.interfaceDefineXML, BRIDGE, mask=lambda i: i.name())
    s.step("destroy eth1 in transaction", c.interfaceLookupByName("eth1").destroy)
    s.step("listAllInterfaces", c.listAllInterfaces, mask=_names)
    s.step("changeRollback flags", c.changeRollback, 1)
    s.step("changeRollback", c.changeRollback)
    s.step("listAllInterfaces after rollback", c.listAllInterfaces, mask=_names)
    s.step("isActive eth1 after rollback", c.interfaceLookupByName("eth1").isActive)
    s.step("changeBegin", c.changeBegin)
    s.step("define bond", c.interfaceDefineXML, BOND, mask=lambda i: i.name())
    s.step("undefine eth1", c.interfaceLookupByName("eth1").undefine)
    s.step("changeCommit flags", c.changeCommit, 1)
    s.step("changeCommit", c.changeCommit)
    s.step("listAllInterfaces after commit", c.listAllInterfaces, mask=_names)
    s.step("changeRollback after commit", c.changeRollback)
