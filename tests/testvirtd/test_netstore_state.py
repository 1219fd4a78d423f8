"""Networks, pools and volumes survive a state file as they are: both definitions of a
network or pool whose configuration changed while it ran, sizes, transience, autostart,
volume definitions and data."""

from __future__ import annotations

from pathlib import Path

from daemons.testvirtd.hypervisor import Hypervisor

NET = """<network><name>n1</name><uuid>0a0b0c0d-1111-2222-3333-444444444441</uuid>
<bridge name='virbr1'/><ip address='10.1.0.1' prefix='24'><dhcp>
<range start='10.1.0.2' end='10.1.0.9'/></dhcp></ip></network>"""
POOL = """<pool type='dir'><name>p1</name><uuid>0a0b0c0d-5555-6666-7777-888888888881</uuid>
<target><path>/p1</path><permissions><mode>0700</mode></permissions></target></pool>"""


def _describe(hv: Hypervisor) -> dict[str, object]:
    nets = hv.networks
    storage = hv.storage
    out: dict[str, object] = {}
    for ref in nets.list_all():
        out[f"net {ref.name}"] = (nets.get_xml_desc(ref), nets.is_active(ref),
                                  nets.is_persistent(ref), nets.get_autostart(ref))
    for ref in storage.list_all_pools():
        info = storage.pool_get_info(ref)
        vols = []
        if storage.pool_is_active(ref):
            vols = [(storage.vol_get_xml_desc(v), storage.vol_get_info(v))
                    for v in storage.pool_list_all_volumes(ref)]
        out[f"pool {ref.name}"] = (storage.pool_get_xml_desc(ref), info,
                                   storage.pool_is_persistent(ref),
                                   storage.pool_get_autostart(ref), vols)
    return out


def test_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Hypervisor(storage_dir=str(tmp_path / "vols")) as hv:
        nets, storage = hv.networks, hv.storage
        n1 = nets.define_xml(NET)
        nets.create(n1)
        # a configuration change while it runs: the next definition differs
        nets.update(n1, 3, 4, -1, "<host mac='52:54:00:00:00:01' ip='10.1.0.5'/>", 2)
        nets.set_autostart(n1, True)
        nets.create_xml(NET.replace("n1", "n2").replace("441<", "442<")
                        .replace("virbr1", "virbr2").replace("10.1.", "10.2."))
        p1 = storage.pool_define_xml(POOL)
        storage.pool_create(p1)
        vol = storage.vol_create_xml(
            p1, "<volume><name>v</name><capacity unit='M'>4</capacity>"
                "<allocation>1024</allocation><target><format type='qcow2'/></target></volume>")
        with storage.vol_open(vol, write=True) as data:
            data.write_at(4096, b"payload")
        storage.pool_set_autostart(p1, True)
        storage.pool_define_xml(POOL.replace("/p1<", "/p1-next<"))
        before = _describe(hv)
        hv.save(str(state))
    with Hypervisor.load(str(state), storage_dir=str(tmp_path / "vols")) as hv:
        assert _describe(hv) == before
        n1 = hv.networks.lookup_by_name("n1")
        hv.networks.destroy(n1)
        p1 = hv.storage.pool_lookup_by_name("p1")
        vol = hv.storage.vol_lookup_by_name(p1, "v")
        with hv.storage.vol_open(vol) as data:
            assert data.read_at(4096, 7) == b"payload"
