"""The XML layer's attribute readers and the reading order of <cpu> and <features>
(side by side with libvirtd: tests/interop/scenarios/domainxml.py)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest

from daemons.testvirtd.domcanon import c_number
from daemons.testvirtd.domsections import prop_enum, prop_int, prop_uint
from daemons.testvirtd.domxml import VirtError, parse_domain_xml


@pytest.mark.parametrize(("text", "base", "expected"), [
    ("12", 10, 12), (" +7", 10, 7), ("-3", 10, -3), ("0x10", 10, None), ("1_0", 10, None),
    ("0x10", 0, 16), ("010", 0, 8), ("0", 0, 0), ("09", 0, None), ("", 10, None),
])
def test_c_number(text: str, base: int, expected: int | None) -> None:
    assert c_number(text, base) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("5", 5), (" 5", 5), ("+5", 5), ("4294967295", 4294967295),
    ("4294967296", "'4294967296'. Expected non-negative integer value"),
    ("-0", "'-0'. Expected non-negative integer value"),
    ("x", "'x'. Expected non-negative integer value"),
])
def test_prop_uint(value: str, expected: int | str) -> None:
    elem = ET.Element("topology", {"cores": value})
    if isinstance(expected, int):
        assert prop_uint(elem, "cores") == expected
        return
    with pytest.raises(VirtError) as caught:
        prop_uint(elem, "cores")
    assert caught.value.message == (
        f"XML error: Invalid value for attribute 'cores' in element 'topology': {expected}")


def test_prop_readers_required_and_zero() -> None:
    elem = ET.Element("cache", {"level": "x", "sockets": "0"})
    with pytest.raises(VirtError, match="Missing required attribute 'mode' in element"):
        prop_enum(elem, "mode", frozenset({"emulate"}), required=True)
    with pytest.raises(VirtError, match=r"'x'\. Expected integer value"):
        prop_int(elem, "level")
    with pytest.raises(VirtError, match="'sockets' in element 'cache': Zero is not permitted"):
        prop_uint(elem, "sockets", nonzero=True)


def _refusal(body: str) -> tuple[int, int, str]:
    with pytest.raises(VirtError) as caught:
        parse_domain_xml("<domain type='test'><name>r</name><memory>1024</memory><os>"
                         f"<type>hvm</type></os>{body}</domain>")
    return caught.value.code, caught.value.domain, caught.value.message


@pytest.mark.parametrize(("body", "expected"), [
    # the topology is read before the features
    ("<cpu><model>qemu64</model><feature policy='require'/><topology sockets='1'/></cpu>",
     (27, 5, "XML error: Missing required attribute 'cores' in element 'topology'")),
    # the mode before the match
    ("<cpu match='x' mode='x'/>",
     (67, 31, "unsupported configuration: Invalid mode attribute 'x'")),
    # features in document order, each read in full
    ("<features><hyperv><spinlocks state='on'/></hyperv><bogus/></features>",
     (27, 5, "XML error: Missing required attribute 'retries' in element 'spinlocks'")),
    ("<features><bogus/><hyperv><spinlocks state='on'/></hyperv></features>",
     (67, 20, "unsupported configuration: unexpected feature 'bogus'")),
    ("<features><hyperv><spinlocks state='on' retries='0xffe'/></hyperv></features>",
     (27, 20, "XML error: HyperV spinlock retry count must be at least 4095")),
    # the CPU tuning before the CPU
    ("<cputune><emulatorsched scheduler='rr'/></cputune><cpu mode='x'/>",
     (27, 5, "XML error: Missing required attribute 'priority' in element 'emulatorsched'")),
])
def test_reading_order(body: str, expected: tuple[int, int, str]) -> None:
    assert _refusal(body) == expected


def test_numa_cells_compared_in_bounded_time() -> None:
    """16384 cells of one vCPU each, the last sharing one: each cell is compared with those
    before it by its vCPUs, not cell by cell (which took half a minute)."""
    cells = "".join(f"<cell id='{n}' cpus='{n}' memory='1'/>" for n in range(16384))
    cells += "<cell id='16384' cpus='7,9' memory='1'/>"
    started = time.monotonic()
    assert _refusal(f"<vcpu>16384</vcpu><cpu><numa>{cells}</numa></cpu>") == (
        67, 20, "unsupported configuration: NUMA cells 16384 and 7 have overlapping vCPU ids")
    assert time.monotonic() - started < 5
