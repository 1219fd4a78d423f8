"""Domain APIs and virsh domain commands, side by side with libvirtd's test driver."""

from __future__ import annotations

import re

import pytest

from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


#: scenarios where testvirtd is known to differ, and why
KNOWN_DIFFERENCES: dict[str, str] = {}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_DIFFERENCES[n], strict=True))
    if n in KNOWN_DIFFERENCES else n
    for n in scenario_names("domains")
])
def test_domain_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


def test_virsh_list_and_dominfo(sidebyside: SideBySide) -> None:
    sidebyside.virsh("list", "--all")
    sidebyside.virsh("suspend", "test")
    # CPU time is the wall clock in the test driver: it cannot match.
    sidebyside.virsh("dominfo", "test", normalise=lambda t: re.sub(r"[\d.]+s\n", "<t>\n", t))
    sidebyside.virsh("list", "--all")
    sidebyside.virsh("dominfo", "nosuchdomain")


def _wallclock(text: str) -> str:
    """Counters the test driver derives from the wall clock cannot match."""
    text = re.sub(r"(CPU time:\s+)[\d.]+s", r"\1<t>", text)
    return re.sub(r"(rd_req|rd_bytes|wr_req|wr_bytes|errs|rx_\w+|tx_\w+)\s+\d+", r"\1 <n>", text)


VIRSH_COMMANDS = [
    ("domstats", "test"), ("domstats", "--state", "test"), ("domstats", "--iothread"),
    ("schedinfo", "test"), ("memtune", "test"), ("blkiotune", "test"), ("numatune", "test"),
    ("vcpucount", "test"), ("vcpupin", "test"), ("emulatorpin", "test"),
    ("iothreadinfo", "test"), ("domtime", "test"), ("domhostname", "test"),
    ("domfsinfo", "test"), ("domifaddr", "test"), ("domblkstat", "test", "vda"),
    ("domifstat", "test", "testnet0"), ("dommemstat", "test"), ("domblkinfo", "test", "vda"),
    ("domblkerror", "test"), ("domcontrol", "test"), ("cpu-stats", "test"), ("perf", "test"),
    ("blkdeviotune", "test", "vda"), ("domiftune", "test", "testnet0"),
    ("metadata", "test", "http://example.org/"), ("desc", "test"),
    ("setmem", "test", "1048576"), ("dominfo", "test"), ("setmaxmem", "test", "9000000"),
    ("setvcpus", "test", "1"), ("vcpucount", "test"),
    # After setvcpus 1, a new IOThread's default affinity is the one current vCPU ("0").
    ("emulatorpin", "test", "0-1"), ("iothreadadd", "test", "3"), ("iothreadinfo", "test"),
    ("iothreadpin", "test", "3", "1"), ("iothreadinfo", "test"), ("iothreaddel", "test", "3"),
    ("iothreadinfo", "test"),
    ("vcpupin", "test", "0", "0"),
    ("desc", "test", "--title", "hello"), ("desc", "test", "--title"),
    ("metadata", "test", "http://example.org/", "--key", "ex", "--set", "<a/>"),
    ("metadata", "test", "http://example.org/"), ("send-key", "test", "KEY_A"),
    ("inject-nmi", "test"), ("domtime", "test", "--time", "1234"), ("domtime", "test"),
    ("set-user-password", "test", "root", "pw"), ("domfsfreeze", "test"),
    ("domfsthaw", "test"), ("domfstrim", "test"),
    ("set-lifecycle-action", "test", "poweroff", "restart"),
    ("memtune", "test", "--hard-limit", "1000000"), ("memtune", "test"),
    ("numatune", "test", "--nodeset", "0"), ("blkiotune", "test", "--weight", "500"),
    ("domiftune", "test", "testnet0", "--inbound", "100"),
    ("perf", "test", "--enable", "cmt"), ("vcpuinfo", "test"),
    ("destroy", "test"), ("domrename", "test", "test2"), ("list", "--all"),
]


def test_virsh_domain_commands(sidebyside: SideBySide) -> None:
    """virsh's domain monitoring and tuning commands print the same against both."""
    failures = []
    for args in VIRSH_COMMANDS:
        try:
            sidebyside.virsh(*args, normalise=_wallclock)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)

