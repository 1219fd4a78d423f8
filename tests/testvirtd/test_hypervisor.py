"""The in-memory test hypervisor against the behaviour of libvirt's test:///default."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from daemons.testvirtd.domxml import VirtError
from daemons.testvirtd.hypervisor import (
    DomainLifecycleEvent,
    DomainRef,
    Event,
    Hypervisor,
    MonitorEvent,
    StateFileError,
)

TEST_UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
FOO = (
    "<domain type='test'><name>foo</name><uuid>11111111-2222-3333-4444-555555555555</uuid>"
    "<memory>65536</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>"
)


@pytest.fixture
def hv() -> Iterator[Hypervisor]:
    with Hypervisor(hostname="vm") as h:
        yield h


def record(hv: Hypervisor) -> list[tuple[str, int, int, int]]:
    seen: list[tuple[str, int, int, int]] = []

    def cb(ev: Event) -> None:
        if isinstance(ev, DomainLifecycleEvent):
            seen.append((ev.dom.name, ev.dom.id, ev.event, ev.detail))

    hv.subscribe(cb)
    return seen


def err_fields(exc: VirtError) -> tuple[int, int, str | None, str | None, str | None]:
    return exc.code, exc.domain, exc.message, exc.str1, exc.str2


def test_node_and_connection(hv: Hypervisor) -> None:
    assert hv.host.get_type() == "TEST"
    assert hv.host.get_version() == 2
    assert hv.host.get_lib_version() == 9000000
    info = hv.host.node_get_info()
    assert (
        info.model,
        info.memory,
        info.cpus,
        info.mhz,
        info.nodes,
        info.sockets,
        info.cores,
        info.threads,
    ) == ("i686", 3145728, 16, 1400, 2, 2, 2, 2)
    assert hv.host.get_hostname() == "vm"


def test_default_domain(hv: Hypervisor) -> None:
    ref = hv.domains.lookup_by_name("test")
    assert ref == DomainRef("test", bytes.fromhex(TEST_UUID.replace("-", "")), 1)
    assert hv.domains.lookup_by_uuid(TEST_UUID) == ref
    assert hv.domains.lookup_by_uuid(ref.uuid) == ref
    assert hv.domains.lookup_by_id(1) == ref
    info = hv.domains.get_info(ref)
    assert (info.state, info.max_mem, info.memory, info.nr_virt_cpu) == (1, 8388608, 2097152, 2)
    assert hv.domains.get_state(ref) == (1, 0)
    assert hv.domains.get_os_type(ref) == "linux"
    assert hv.domains.is_persistent(ref)
    assert hv.domains.is_active(ref)
    assert not hv.domains.is_updated(ref)
    assert not hv.domains.get_autostart(ref)
    assert not hv.domains.has_managed_save_image(ref)
    assert hv.snapshots.num(ref) == 0
    assert "<domain type='test' id='1'>" in hv.domains.get_xml_desc(ref)
    assert hv.domains.get_xml_desc(ref, 2).startswith("<domain type='test'>\n")


def test_lookup_miss(hv: Hypervisor) -> None:
    for call in (
        lambda: hv.domains.lookup_by_name("nope"),
        lambda: hv.domains.lookup_by_id(99),
        lambda: hv.domains.lookup_by_uuid("6695eb01-f6a4-8304-79aa-97f2502e1930"),
    ):
        with pytest.raises(VirtError) as ei:
            call()
        assert err_fields(ei.value) == (42, 12, "Domain not found", "Domain not found", None)
        assert (ei.value.level, ei.value.int1, ei.value.int2) == (2, -1, -1)


def test_lifecycle_states_ids_events(hv: Hypervisor) -> None:
    ev = record(hv)
    t = hv.domains.lookup_by_name("test")
    hv.domains.suspend(t)
    assert hv.domains.get_state(t) == (3, 1)
    with pytest.raises(VirtError) as ei:
        hv.domains.suspend(t)
    assert err_fields(ei.value) == (
        1,
        12,
        "internal error: domain 'test' not running",
        "internal error: %s",
        "domain 'test' not running",
    )
    hv.domains.resume(t)
    assert hv.domains.get_state(t) == (1, 5)
    with pytest.raises(VirtError) as ei:
        hv.domains.resume(t)
    assert ei.value.message == "internal error: domain 'test' not paused"
    hv.domains.reboot(t)
    assert hv.domains.get_state(t) == (1, 1)
    assert hv.domains.ref(t).id == 1
    hv.domains.shutdown(t)
    assert hv.domains.get_state(t) == (5, 1)
    assert hv.domains.ref(t).id == -1
    with pytest.raises(VirtError) as ei:
        hv.domains.shutdown(t)
    assert (ei.value.code, ei.value.domain) == (1, 12)
    with pytest.raises(VirtError) as ei:
        hv.domains.destroy(t)
    assert err_fields(ei.value) == (
        55,
        20,
        "Requested operation is not valid: domain is not running",
        "Requested operation is not valid: %s",
        "domain is not running",
    )
    assert hv.domains.create(t).id == 2
    with pytest.raises(VirtError) as ei:
        hv.domains.create(t)
    assert err_fields(ei.value)[:3] == (1, 12, "internal error: Domain 'test' is already running")
    hv.domains.destroy(t)
    assert hv.domains.get_state(t) == (5, 2)
    assert hv.domains.create(t).id == 3
    assert ev == [
        ("test", 1, 3, 0),
        ("test", 1, 4, 0),
        ("test", -1, 5, 0),
        ("test", 2, 2, 0),
        ("test", -1, 5, 1),
        ("test", 3, 2, 0),
    ]


def test_define_redefine_undefine(hv: Hypervisor) -> None:
    ev = record(hv)
    foo = hv.domains.define_xml(FOO)
    assert foo.id == -1
    assert hv.domains.get_state(foo) == (5, 0)
    hv.domains.define_xml(FOO.replace("65536", "131072"))
    hv.domains.create(foo)
    hv.domains.define_xml(FOO.replace("65536", "262144"))
    assert "131072" in hv.domains.get_xml_desc(foo, 0)
    assert "262144" in hv.domains.get_xml_desc(foo, 2)
    hv.domains.undefine(foo)
    assert hv.domains.is_active(foo)
    assert not hv.domains.is_persistent(foo)
    hv.domains.destroy(foo)
    with pytest.raises(VirtError) as ei:
        hv.domains.get_state(foo)
    assert ei.value.message == (
        "Domain not found: no domain with matching uuid "
        "'11111111-2222-3333-4444-555555555555' (foo)"
    )
    assert ev == [
        ("foo", -1, 0, 0),
        ("foo", -1, 0, 1),
        ("foo", 2, 2, 0),
        ("foo", 2, 0, 1),
        ("foo", 2, 1, 0),
        ("foo", -1, 5, 1),
    ]


def test_define_conflicts_and_xml_errors(hv: Hypervisor) -> None:
    cases = {
        "<domain type='test'><name>test</name><memory>1</memory><os><type>hvm</type></os>"
        "</domain>": (
            9,
            20,
            "operation failed: domain 'test' already exists with uuid " + TEST_UUID,
        ),
        f"<domain type='test'><name>zz</name><uuid>{TEST_UUID}</uuid><memory>1</memory>"
        "<os><type>hvm</type></os></domain>": (
            9,
            20,
            f"operation failed: domain 'test' is already defined with uuid {TEST_UUID}",
        ),
        "<domain type='test'><memory>1</memory><os><type>hvm</type></os></domain>": (
            21,
            20,
            "missing name information",
        ),
        "<domain><name>x</name><memory>1</memory><os><type>hvm</type></os></domain>": (
            1,
            20,
            "internal error: missing domain type attribute",
        ),
        "<domain type='bogus'><name>x</name><memory>1</memory><os><type>hvm</type></os></domain>": (
            67,
            20,
            "unsupported configuration: invalid domain type bogus",
        ),
        "<foo/>": (27, 5, "XML error: expecting root element of 'domain', not 'foo'"),
        "<domain type='test'><name>x</name><memory>1</memory></domain>": (
            27,
            20,
            "XML error: an os <type> must be specified",
        ),
        "<domain type='test'><name>x</name><os><type>hvm</type></os></domain>": (
            27,
            20,
            "XML error: Memory size must be specified via <memory> or in the <numa> configuration",
        ),
        "<domain type='test'><name>x</name><uuid>zz</uuid><memory>1</memory>"
        "<os><type>hvm</type></os></domain>": (1, 20, "internal error: malformed uuid element"),
        "": (35, 20, "(domain_definition):1: Document is empty\n(null)\n^"),
    }
    for xml, expected in cases.items():
        with pytest.raises(VirtError) as ei:
            hv.domains.define_xml(xml)
        assert (ei.value.code, ei.value.domain, ei.value.message) == expected, xml


@pytest.mark.parametrize(
    "xml",
    [
        "<domain",
        "<!DOCTYPE d [<!ENTITY a 'b'>]><domain type='test'><name>&a;</name></domain>",
        "<!DOCTYPE d SYSTEM 'file:///etc/passwd'><domain/>",
        "<domain>" + "x" * (1024 * 1024) + "</domain>",
    ],
)
def test_unsafe_or_malformed_xml_rejected(hv: Hypervisor, xml: str) -> None:
    with pytest.raises(VirtError) as ei:
        hv.domains.define_xml(xml)
    assert (ei.value.code, ei.value.domain) == (35, 20)
    assert ei.value.message is not None
    assert ei.value.message.startswith("(domain_definition):")


def test_transient_domains(hv: Hypervisor) -> None:
    ev = record(hv)
    bar = hv.domains.create_xml(FOO.replace("foo", "bar"))
    assert bar.id == 2
    assert not hv.domains.is_persistent(bar)
    with pytest.raises(VirtError) as ei:
        hv.domains.create_xml(FOO.replace("foo", "bar"))
    assert ei.value.message == "Requested operation is not valid: domain 'bar' is already active"
    with pytest.raises(VirtError) as ei:
        hv.domains.create_xml(FOO, 1)
    assert (ei.value.code, ei.value.domain, ei.value.str1, ei.value.str2, ei.value.int1) == (
        8,
        12,
        "testDomainCreateXML",
        "flags",
        0,
    )
    hv.domains.shutdown(bar)
    with pytest.raises(VirtError):
        hv.domains.lookup_by_name("bar")
    assert ev == [("bar", 2, 2, 0), ("bar", -1, 5, 0)]


def test_list_all_domain_flags(hv: Hypervisor) -> None:
    hv.domains.define_xml(FOO)
    names = lambda flags: sorted(d.name for d in hv.domains.list_all(flags))  # noqa: E731
    assert names(0) == names(3) == ["foo", "test"]
    assert names(1) == names(16) == ["test"]
    assert names(2) == names(64) == ["foo"]
    assert names(8) == names(32) == names(128) == names(1024) == names(256) == []
    assert names(4) == names(512) == names(2048) == names(8192) == ["foo", "test"]
    hv.domains.suspend("6695eb01f6a4830479aa97f2502e193f")
    assert names(32) == ["test"]


def test_networks_and_pools(hv: Hypervisor) -> None:
    net = hv.networks.lookup_by_name("default")
    assert [n.name for n in hv.networks.list_all(3)] == ["default"]
    assert hv.networks.is_active(net)
    assert hv.networks.is_persistent(net)
    assert hv.networks.get_bridge_name(net) == "virbr0"
    with pytest.raises(VirtError) as ei:
        hv.networks.lookup_by_name("x")
    assert err_fields(ei.value) == (
        43,
        12,
        "Network not found: no network with matching name 'x'",
        "Network not found: %s",
        "no network with matching name 'x'",
    )
    with pytest.raises(VirtError) as ei:
        hv.networks.get_xml_desc(net, 1)
    assert ei.value.message == "unsupported flags (0x1) in function testNetworkGetXMLDesc"
    hv.networks.destroy(net)
    assert hv.networks.list_all(2) == []
    assert len(hv.networks.list_all(1)) == 1
    pool = hv.storage.pool_lookup_by_name("default-pool")
    info = hv.storage.pool_get_info(pool)
    assert (info.state, info.capacity, info.allocation, info.available) == (
        2,
        107374182400,
        0,
        107374182400,
    )
    assert [p.name for p in hv.storage.list_all_pools(64)] == ["default-pool"]
    assert hv.storage.list_all_pools(128) == []
    with pytest.raises(VirtError) as ei:
        hv.storage.pool_lookup_by_name("x")
    assert ei.value.message == "Storage pool not found: no storage pool with matching name 'x'"


def test_volumes(hv: Hypervisor) -> None:
    pool = hv.storage.pool_lookup_by_name("default-pool")
    v1 = hv.storage.vol_create_xml(
        pool, "<volume><name>v1.img</name><capacity unit='M'>10</capacity></volume>"
    )
    assert v1.key == "/default-pool/v1.img"
    info = hv.storage.vol_get_info(v1)
    assert (info.type, info.capacity, info.allocation) == (0, 10485760, 10485760)
    assert hv.storage.pool_get_info(pool).available == 107374182400 - 10485760
    assert hv.storage.vol_lookup_by_path("/default-pool/v1.img") == v1
    assert hv.storage.vol_lookup_by_key("/default-pool/v1.img") == v1
    assert "<format type='raw'/>" in hv.storage.vol_get_xml_desc(v1)
    with pytest.raises(VirtError) as ei:
        hv.storage.vol_create_xml(
            pool, "<volume><name>v1.img</name><capacity>1</capacity></volume>"
        )
    assert ei.value.message == "operation failed: storage vol already exists"
    with pytest.raises(VirtError) as ei:
        hv.storage.vol_create_xml(pool, "<volume><name>v3</name></volume>")
    assert (ei.value.code, ei.value.domain, ei.value.message) == (
        27,
        18,
        "XML error: missing capacity element",
    )
    with pytest.raises(VirtError) as ei:
        hv.storage.vol_create(pool, "big", 1 << 40)
    assert ei.value.message == "internal error: Not enough free space in pool for volume 'big'"
    hv.storage.vol_delete(v1)
    assert hv.storage.pool_list_volumes(pool) == []
    with pytest.raises(VirtError) as ei:
        hv.storage.vol_get_info(v1)
    assert ei.value.code == 50


def test_volume_data_is_sparse(hv: Hypervisor) -> None:
    pool = hv.storage.pool_lookup_by_name("default-pool")
    vol = hv.storage.vol_create(pool, "sparse.img", 512 * 1024 * 1024)
    with hv.storage.vol_open(vol, write=True) as data:
        data.write_at(0, b"A" * 4096)
        data.write_at(300 * 1024 * 1024, b"B" * 8192)
        regions = list(data.data_regions())
        assert data.read_at(300 * 1024 * 1024, 4) == b"BBBB"
        assert data.read_at(4096, 4) == b"\0" * 4
    assert sum(length for _, length, _ in regions) == 512 * 1024 * 1024
    assert sum(length for _, length, is_data in regions if is_data) < 16 * 1024 * 1024
    assert regions[0][0] == 0
    assert regions[0][2]
    assert os.stat(hv.storage.vol_backing_file(vol)).st_blocks * 512 < 16 * 1024 * 1024


def test_monitor_events_and_subscription(hv: Hypervisor) -> None:
    got: list[Event] = []
    token = hv.subscribe(got.append)
    t = hv.domains.lookup_by_name("test")
    hv.domains.monitor_stop(t)
    assert hv.domains.get_state(t) == (3, 0)
    hv.domains.monitor_cont(t)
    hv.unsubscribe(token)
    hv.domains.suspend(t)
    kinds = [
        (e.event, e.data)
        if isinstance(e, MonitorEvent)
        else (e.event, e.detail)
        if isinstance(e, DomainLifecycleEvent)
        else None
        for e in got
    ]
    assert kinds == [("STOP", None), (3, 0), ("RESUME", None), (4, 0)]


def test_callbacks_may_reenter_and_threads(hv: Hypervisor) -> None:
    states: list[tuple[int, int]] = []

    def cb(ev: Event) -> None:
        if isinstance(ev, DomainLifecycleEvent):
            states.append(hv.domains.get_state(ev.dom))

    hv.subscribe(cb)
    t = hv.domains.lookup_by_name("test")

    def worker() -> None:
        for _ in range(50):
            try:
                hv.domains.suspend(t)
                hv.domains.resume(t)
            except VirtError:
                pass

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert states
    assert hv.domains.get_state(t)[0] in (1, 3)


def test_save_and_load(tmp_path: os.PathLike[str], hv: Hypervisor) -> None:
    path = os.path.join(tmp_path, "state.json")
    foo = hv.domains.define_xml(FOO)
    hv.domains.create(foo)
    pool = hv.storage.pool_lookup_by_name("default-pool")
    vol = hv.storage.vol_create(pool, "v", 4096)
    with hv.storage.vol_open(vol, write=True) as data:
        data.write_at(0, b"hello")
    hv.save(path)
    shutil.copy(hv.storage.vol_backing_file(vol), os.path.join(tmp_path, "keep"))
    store = os.path.join(tmp_path, "vols")
    os.mkdir(store)
    shutil.copy(
        hv.storage.vol_backing_file(vol),
        os.path.join(store, os.path.basename(hv.storage.vol_backing_file(vol))),
    )
    with Hypervisor.load(path, storage_dir=store) as hv2:
        assert hv2.domains.ref(foo).id == 2
        assert hv2.domains.get_xml_desc(foo) == hv.domains.get_xml_desc(foo)
        assert hv2.domains.create_xml(FOO.replace("foo", "n").replace("5555<", "5556<")).id == 3
        with hv2.storage.vol_open(hv2.storage.vol_lookup_by_name(pool, "v")) as data:
            assert data.read_at(0, 5) == b"hello"
    with open(path) as fh:
        assert json.load(fh)["format"] == "testvirtd-state"


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"format": "testvirtd-state"}',
        b'{"format": "testvirtd-state", "version": 1}',
    ],
)
def test_corrupt_state_file(tmp_path: os.PathLike[str], content: bytes) -> None:
    path = os.path.join(tmp_path, "state.json")
    with open(path, "wb") as fh:
        fh.write(content)
    with pytest.raises(StateFileError, match=r"state\.json: "):
        Hypervisor.load(path)
    with open(path, "rb") as fh:
        assert fh.read() == content


def test_qemu_flavour() -> None:
    with Hypervisor(flavour="qemu") as hv:
        assert hv.host.get_type() == "QEMU"
        caps = hv.host.get_capabilities()
        assert "<domain type='kvm'/>" in caps
        assert "<domain type='qemu'/>" in caps
        ref = hv.domains.define_xml(FOO.replace("type='test'", "type='kvm'"))
        assert "<type arch='x86_64'>hvm</type>" in hv.domains.get_xml_desc(ref)
        with pytest.raises(VirtError) as ei:
            hv.domains.define_xml(FOO.replace("foo", "f2").replace("5555<", "5556<"))
        assert ei.value.code == 67


# ------------------------------------------------------------------------------ interop

REAL_PY = "/usr/bin/python3"


def real(script: str) -> str:
    proc = subprocess.run(
        [
            REAL_PY,
            "-c",
            "import libvirt\nlibvirt.registerErrorHandler("
            "lambda *a: None, None)\nc = libvirt.open('test:///default')\n" + script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout


def _have_libvirt() -> bool:
    try:
        subprocess.run([REAL_PY, "-c", "import libvirt"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


needs_real = pytest.mark.skipif(not _have_libvirt(), reason="python3-libvirt not installed")


@pytest.mark.interop
@needs_real
def test_interop_test_domain_xml_and_capabilities(hv: Hypervisor) -> None:
    out = json.loads(
        real(
            "import json; d = c.lookupByName('test')\n"
            "print(json.dumps([d.XMLDesc(0), d.XMLDesc(2), c.getCapabilities(), d.info()[:4],"
            " d.state(), c.getInfo(), c.getVersion(), c.getLibVersion(),"
            " c.networkLookupByName('default').XMLDesc(0),"
            " c.storagePoolLookupByName('default-pool').XMLDesc(0)]))"
        )
    )
    t = hv.domains.lookup_by_name("test")
    assert out[0] == hv.domains.get_xml_desc(t, 0)
    assert out[1] == hv.domains.get_xml_desc(t, 2)
    assert out[2] == hv.host.get_capabilities()
    info = hv.domains.get_info(t)
    assert out[3] == [info.state, info.max_mem, info.memory, info.nr_virt_cpu]
    assert out[4] == list(hv.domains.get_state(t))
    node = hv.host.node_get_info()
    assert out[5] == [
        node.model,
        node.memory // 1024,
        node.cpus,
        node.mhz,
        node.nodes,
        node.sockets,
        node.cores,
        node.threads,
    ]
    assert (out[6], out[7]) == (hv.host.get_version(), hv.host.get_lib_version())
    assert out[8] == hv.networks.get_xml_desc(hv.networks.lookup_by_name("default"))
    assert out[9] == hv.storage.pool_get_xml_desc(hv.storage.pool_lookup_by_name("default-pool"))


RICH = """<domain type='kvm'>
<name>rich</name><uuid>f6d61a12-7cec-4cd9-b618-d995d670905b</uuid><title>T</title>
<description>D &amp; x</description>
<memory unit='MiB'>512</memory><vcpu current='1'>2</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/><boot dev='hd'/></os>
<features><acpi/><apic/></features><cpu mode='host-passthrough'/>
<clock offset='localtime'/><on_reboot>destroy</on_reboot>
<devices>
<emulator>/usr/bin/qemu-system-x86_64</emulator>
<interface type='network'><mac address='52:54:00:98:9e:d0'/><source network='default'/>
<model type='virtio'/></interface>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='/var/lib/x.qcow2'/><target dev='vda' bus='virtio'/></disk>
<serial type='pty'/>
<graphics type='vnc' port='-1'/>
</devices>
<unknownelem foo='bar'/>
</domain>"""


@pytest.mark.interop
@needs_real
def test_interop_defined_domain_xml(hv: Hypervisor) -> None:
    out = json.loads(
        real(
            f"import json; d = c.defineXML({RICH!r}); d.create()\n"
            "print(json.dumps([d.XMLDesc(0), d.XMLDesc(2), d.info()[:4]]))"
        )
    )
    ref = hv.domains.define_xml(RICH)
    hv.domains.create(ref)
    assert out[0] == hv.domains.get_xml_desc(ref, 0)
    assert out[1] == hv.domains.get_xml_desc(ref, 2)
    info = hv.domains.get_info(ref)
    assert out[2] == [info.state, info.max_mem, info.memory, info.nr_virt_cpu]


@pytest.mark.interop
@needs_real
def test_interop_error_fields(hv: Hypervisor) -> None:
    script = """import json
def e(f):
    try:
        f(); return None
    except libvirt.libvirtError as x:
        return list(x.err)
d = c.lookupByName('test')
r = [e(lambda: c.lookupByName('nope')), e(d.resume), e(d.create)]
d.destroy()
r += [e(d.destroy), e(d.suspend), e(d.shutdown), e(lambda: d.XMLDesc(4)),
      e(lambda: c.defineXML("<foo/>")), e(lambda: c.defineXML("<domain type='test'/>"))]
print(json.dumps(r))
"""
    expected = json.loads(real(script))
    t = hv.domains.lookup_by_name("test")
    calls = [
        lambda: hv.domains.lookup_by_name("nope"),
        lambda: hv.domains.resume(t),
        lambda: hv.domains.create(t),
    ]
    ours = []
    for call in calls:
        with pytest.raises(VirtError) as ei:
            call()
        ours.append(ei.value)
    hv.domains.destroy(t)
    for call in (
        lambda: hv.domains.destroy(t),
        lambda: hv.domains.suspend(t),
        lambda: hv.domains.shutdown(t),
        lambda: hv.domains.get_xml_desc(t, 4),
        lambda: hv.domains.define_xml("<foo/>"),
        lambda: hv.domains.define_xml("<domain type='test'/>"),
    ):
        with pytest.raises(VirtError) as ei:
            call()
        ours.append(ei.value)
    got = [
        [e.code, e.domain, e.message, e.level, e.str1, e.str2, e.str3, e.int1, e.int2] for e in ours
    ]
    assert got == expected


@pytest.mark.parametrize(("element", "what"), [
    ("<vcpu>16385</vcpu>", "at most 16384 vCPUs are supported (16385 given)"),
    ("<vcpu>4294967295</vcpu>", "at most 16384 vCPUs are supported (4294967295 given)"),
    ("<iothreads>16385</iothreads>", "at most 16384 IOThreads are supported (16385 given)"),
    ("<iothreads>4294967295</iothreads>",
     "at most 16384 IOThreads are supported (4294967295 given)"),
])
def test_counts_no_reply_can_carry_are_refused(hv: Hypervisor, element: str,
                                               what: str) -> None:
    # libvirtd makes room for them all at once (and dies on 2**32 - 1); nothing could report
    # more than 16384 of either
    xml = FOO.replace("<vcpu>1</vcpu>", element)
    with pytest.raises(VirtError) as err:
        hv.domains.define_xml(xml)
    assert err_fields(err.value)[:3] == (67, 20, f"unsupported configuration: {what}")


def test_the_most_iothreads_and_vcpus_are_reported_at_once(hv: Hypervisor) -> None:
    from daemons.testvirtd.domains.tuning import DomainTuning
    xml = FOO.replace("<vcpu>1</vcpu>", "<vcpu>16384</vcpu><iothreads>16384</iothreads>")
    foo = hv.domains.define_xml(xml)
    started = time.monotonic()
    infos = DomainTuning(hv.domains).iothread_info(foo, 0)
    assert len(infos) == 16384
    assert infos[-1] == (16384, list(range(16384)))
    assert time.monotonic() - started < 5
