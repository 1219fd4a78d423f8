"""Snapshots, checkpoints and managed save images are kept in ``--state`` files: what a saved
instance had, a loaded one has (tree, current ones, XML), and the saved form of a domain's
snapshots is worked out again only after they change."""

from __future__ import annotations

from pathlib import Path

from daemons.testvirtd.domains.saving import DomainSaving
from daemons.testvirtd.hypervisor import Hypervisor
from daemons.testvirtd.persist import StateFile


def _populated() -> Hypervisor:
    hv = Hypervisor()
    ref = hv.domains.lookup_by_name("test")
    hv.snapshots.create_xml(ref, "<domainsnapshot><name>a</name><description>x &amp; y"
                                 "</description></domainsnapshot>", 0)
    hv.snapshots.create_xml(ref, "<domainsnapshot><name>b</name></domainsnapshot>", 0)
    hv.snapshots.revert(ref, "a", 0)
    hv.snapshots.create_xml(ref, "<domainsnapshot><name>c</name></domainsnapshot>", 8)
    other = hv.domains.define_xml("<domain type='test'><name>o</name><memory>1024</memory>"
                                  "<os><type>hvm</type></os><devices><disk type='file' "
                                  "device='disk'><source file='/o.img'/><target dev='vda'/>"
                                  "</disk></devices></domain>")
    hv.domains.create(other)
    hv.snapshots.checkpoint_create_xml(other, "<domaincheckpoint><name>k1</name>"
                                              "</domaincheckpoint>", 0)
    hv.snapshots.checkpoint_create_xml(other, "<domaincheckpoint><name>k2</name>"
                                              "</domaincheckpoint>", 0)
    DomainSaving(hv.domains).managed_save(other)
    return hv


def _view(hv: Hypervisor) -> dict[str, object]:
    test, other = hv.domains.lookup_by_name("test"), hv.domains.lookup_by_name("o")
    snaps = hv.snapshots
    return {
        "names": snaps.list_names(test, 1024),
        "current": snaps.current(test),
        "xml": [snaps.get_xml_desc(test, n) for n in ("a", "b", "c")],
        "children": snaps.list_children(test, "a", 1),
        "checkpoints": snaps.list_checkpoints(other, 2),
        "checkpoint xml": [snaps.checkpoint_get_xml_desc(other, n) for n in ("k1", "k2")],
        "managed save": [hv.domains.has_managed_save_image(d) for d in (test, other)],
        "state": hv.domains.get_state(test),
    }


def test_saved_and_loaded(tmp_path: Path) -> None:
    path = str(tmp_path / "state.json")
    with _populated() as hv:
        hv.save(path)
        before = _view(hv)
    with Hypervisor.load(path) as loaded:
        assert _view(loaded) == before
        # the loaded tree takes changes as the original would
        test = loaded.domains.lookup_by_name("test")
        loaded.snapshots.delete(test, "a", 1)
        assert loaded.snapshots.num(test) == 0


def test_state_file_encoding_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with _populated() as hv:
        state = StateFile(hv, str(path))
        state.save_now()
        with Hypervisor.load(str(path)) as loaded:
            assert _view(loaded) == _view(hv)


def test_saved_form_follows_changes() -> None:
    with _populated() as hv:
        test = hv.domains.lookup_by_name("test")
        with hv.domains.access(test) as d:
            first = d.moments.dump()
            assert d.moments.dump() is first  # kept while nothing changes
        hv.snapshots.list_names(test, 0)
        with hv.domains.access(test) as d:
            assert d.moments.dump() is first  # reading changes nothing
        hv.snapshots.delete(test, "b", 0)
        with hv.domains.access(test) as d:
            assert d.moments.dump() != first
