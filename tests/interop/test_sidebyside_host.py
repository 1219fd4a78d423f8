"""Host and connection APIs and virsh's host commands, side by side with libvirtd's test driver
(also the secret and nwfilter APIs, which the test driver lacks)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemons.testvirtd import protocol as P

from . import peers
from ._testvirtd import ROOT, Testvirtd
from .peers import RealLibvirtd
from .rawcalls import RawCall, compare
from .sidebyside import SideBySide, scenario_names

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("name", scenario_names("host"))
def test_host_scenario(sidebyside: SideBySide, name: str) -> None:
    sidebyside.scenario(name)


VIRSH_COMMANDS = [
    ("nodeinfo",), ("nodememstats",), ("nodecpustats",), ("nodecpustats", "--cpu", "0"),
    ("nodecpustats", "--cpu", "-2"), ("nodecpumap",), ("freecell",), ("freecell", "--all"),
    ("freecell", "1"), ("freecell", "5"), ("freepages",), ("freepages", "--all"),
    ("freepages", "--cellno", "0", "--pagesize", "4"), ("sysinfo",), ("capabilities",),
    ("domcapabilities",), ("cpu-models", "x86_64"), ("cpu-models", "ppc64"),
    ("cpu-models", "aarch64"), ("cpu-models", "sparc"), ("cpu-models", "amd64"),
    ("version",), ("version", "--daemon"), ("hostname",), ("maxvcpus",),
    ("maxvcpus", "--type", "test"), ("node-memory-tune",),
    ("node-memory-tune", "--shm-pages-to-scan", "10"), ("nodesuspend", "mem", "60"),
    ("allocpages", "4", "10"), ("secret-list",), ("secret-dumpxml", "nosuch"),
    ("nwfilter-list",), ("nwfilter-dumpxml", "nosuch"), ("nwfilter-binding-list",),
    ("pool-capabilities",), ("hypervisor-cpu-compare", "/dev/null"),
]


def test_virsh_host_commands(sidebyside: SideBySide) -> None:
    """virsh's host commands print the same against both."""
    failures = []
    for args in VIRSH_COMMANDS:
        try:
            sidebyside.virsh(*args)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


def test_virsh_uri(sidebyside: SideBySide) -> None:
    sidebyside.virsh("uri")


def test_virsh_cpu_models_read_only(sidebyside: SideBySide) -> None:
    sidebyside.virsh("cpu-models", "x86_64", readonly=True)
    sidebyside.virsh("sysinfo", readonly=True)
    sidebyside.virsh("freecell", "--all", readonly=True)


_IDENTITY = [P.TypedParam("user-name", (7, "bob"))]

#: what libvirtd's dispatcher and the API entry points check before the test driver runs
RAW_CALLS: list[RawCall] = [
    ("NODE_GET_CPU_STATS", (-1, 0, 0)), ("NODE_GET_CPU_STATS", (-1, 2, 0)),
    ("NODE_GET_CPU_STATS", (-1, 10, 0)), ("NODE_GET_CPU_STATS", (-1, 17, 0)),
    ("NODE_GET_CPU_STATS", (-1, -1, 0)), ("NODE_GET_CPU_STATS", (-2, 4, 0)),
    ("NODE_GET_CPU_STATS", (5, 4, 1)),
    ("NODE_GET_CELLS_FREE_MEMORY", (0, 0)), ("NODE_GET_CELLS_FREE_MEMORY", (0, -1)),
    ("NODE_GET_CELLS_FREE_MEMORY", (0, 1025)), ("NODE_GET_CELLS_FREE_MEMORY", (-5, 2)),
    ("NODE_GET_CELLS_FREE_MEMORY", (1, 5)), ("NODE_GET_CELLS_FREE_MEMORY", (2, 5)),
    ("NODE_GET_FREE_MEMORY", ()),
    ("NODE_GET_FREE_PAGES", ([], 0, 0, 0)), ("NODE_GET_FREE_PAGES", ([4], 0, 0, 0)),
    ("NODE_GET_FREE_PAGES", ([4], 0, 1, 0)), ("NODE_GET_FREE_PAGES", ([4], 0, 1, 1)),
    ("NODE_GET_FREE_PAGES", ([4, 8], 0, 1000, 0)), ("NODE_GET_FREE_PAGES", ([4], -1, 1, 0)),
    ("CONNECT_GET_SYSINFO", (0,)), ("CONNECT_GET_SYSINFO", (2,)), ("CONNECT_IS_SECURE", ()),
    ("CONNECT_GET_CPU_MODEL_NAMES", ("x86_64", 0, 0)),
    ("CONNECT_GET_CPU_MODEL_NAMES", ("ppc64", 1, 0)),
    ("CONNECT_GET_CPU_MODEL_NAMES", ("s390", 1, 0)),
    ("CONNECT_GET_CPU_MODEL_NAMES", ("s390", 1, 4)),
    ("CONNECT_GET_CPU_MODEL_NAMES", ("none", 1, 0)),
    ("CONNECT_GET_CPU_MODEL_NAMES", ("mips", 1, 0)),
    ("CONNECT_SET_IDENTITY", ([], 0)), ("CONNECT_SET_IDENTITY", ([], 1)),
    ("CONNECT_SET_IDENTITY", (_IDENTITY, 0xFFFF)),
    ("CONNECT_SET_IDENTITY", ([P.TypedParam("user-name", (1, 5))], 0)),
    ("CONNECT_SET_IDENTITY", ([P.TypedParam("unix-user-id", (3, 5))], 0)),
    ("CONNECT_SET_IDENTITY", (_IDENTITY * 2, 0)),
    ("CONNECT_SET_IDENTITY", ([P.TypedParam("bogus", (7, "x"))], 0)),
    ("CONNECT_SECRET_EVENT_REGISTER_ANY", (0, None)),
    ("CONNECT_SECRET_EVENT_REGISTER_ANY", (1, None)),
    ("CONNECT_SECRET_EVENT_REGISTER_ANY", (2, None)),
    ("CONNECT_SECRET_EVENT_REGISTER_ANY", (-1, None)),
    ("CONNECT_SECRET_EVENT_DEREGISTER_ANY", (5,)),
    ("CONNECT_COMPARE_CPU", ("<cpu/>", 0)), ("NODE_GET_SEV_INFO", (0, 0)),
]


def test_raw_host_calls(sidebyside: SideBySide) -> None:
    """Arguments libvirt's client library would not send get the same answers."""
    real_path, tvd_path = sidebyside.real.unix_path, sidebyside.tvd.unix_path
    assert real_path and tvd_path
    differences = compare(real_path, tvd_path, RAW_CALLS)
    assert not differences, "\n".join(differences)


# ------------------------------------------------------------------ secure and encrypted


_SECURITY_PROBE = """
import json, sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
out = {}
for name, uri, ro in json.loads(sys.argv[1]):
    conn = libvirt.openReadOnly(uri) if ro else libvirt.open(uri)
    out[name] = [conn.isSecure(), conn.isEncrypted()]
    conn.close()
print(json.dumps(out))
"""


def _security(uris: list[tuple[str, str, bool]]) -> dict[str, list[int]]:
    proc = subprocess.run([peers.find_system_python(), "-c", _SECURITY_PROBE, json.dumps(uris)],
                          capture_output=True, text=True, timeout=60, env=peers.client_env())
    assert proc.returncode == 0, peers.describe(proc)
    result: dict[str, list[int]] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    done = subprocess.run([sys.executable, "-m", "netrpc.cli.certs", "--out", str(out), "--host",
                           "127.0.0.1", "--client", "admin"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return out


class TlsLibvirtd(RealLibvirtd):
    tls_port: int = 0


@pytest.fixture(scope="module")
def tls_libvirtd(pki: Path, libvirtd_binary: str,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsLibvirtd]:
    workdir = peers.short_workdir(tmp_path_factory.mktemp("lvd-tls"))
    port = peers.free_tcp_port()
    daemon = TlsLibvirtd(workdir, config={
        "listen_tls": "1", "tls_port": json.dumps(str(port)), "auth_tls": '"none"',
        "key_file": json.dumps(str(pki / "serverkey.pem")),
        "cert_file": json.dumps(str(pki / "servercert.pem")),
        "ca_file": json.dumps(str(pki / "cacert.pem")),
    })
    daemon.tls_port = port
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def tls_testvirtd(pki: Path) -> Iterator[tuple[Testvirtd, int]]:
    daemon = Testvirtd("--listen", "tls://127.0.0.1:0", "--pki", str(pki)).start()
    try:
        port = next(int(line.split("test+tls://127.0.0.1:")[1].split("/")[0])
                    for line in daemon.lines if "test+tls://127.0.0.1:" in line)
        yield daemon, port
    finally:
        daemon.stop()


def test_secure_and_encrypted_per_transport(
    tls_libvirtd: TlsLibvirtd, tls_testvirtd: tuple[Testvirtd, int], pki: Path
) -> None:
    """isSecure and isEncrypted: unix (read-write and read-only) and TLS are secure, plain TCP
    is not; only TLS is encrypted.  libvirtd's test driver calls every connection secure and
    the client weighs its transport: testvirtd must answer the same."""
    results = []
    for daemon, tls_port in ((tls_libvirtd, tls_libvirtd.tls_port), tls_testvirtd):
        results.append(_security([
            ("unix", daemon.uri_unix, False), ("unix-ro", daemon.uri_ro, True),
            ("tcp", daemon.uri_tcp, False),
            ("tls", f"test+tls://127.0.0.1:{tls_port}/default?pkipath={pki}", False),
        ]))
    theirs, ours = results
    assert theirs == {"unix": [1, 0], "unix-ro": [1, 0], "tcp": [0, 0], "tls": [1, 1]}
    assert ours == theirs


# ------------------------------------------------------------------ forwarded identity


_IDENTITY_HOLDER = """
import json, sys, libvirt
libvirt.registerErrorHandler(lambda *a: None, None)
conn = libvirt.open(sys.argv[1])
conn.setIdentity(json.loads(sys.argv[2]))
print("ready", flush=True)
sys.stdin.read()
"""

IDENTITIES = [
    {"user-name": "bob"},
    {},
    {"user-name": "bob", "unix-user-id": 4242, "group-name": "staff", "unix-group-id": 50,
     "process-id": 77, "process-time": 12345, "sasl-user-name": "sam",
     "x509-distinguished-name": "CN=me", "selinux-context": "u:r:t:s0"},
    {"unix-user-id": 2**32 + 5, "unix-group-id": 2**32 - 1},
]


def _client_info_after(server: peers.Endpoints, uri: str, identity: dict[str, object]) -> str:
    """virt-admin's client-info of a connection that forwarded *identity* (its id, time and
    port masked)."""
    with subprocess.Popen([peers.find_system_python(), "-c", _IDENTITY_HOLDER, uri,
                           json.dumps(identity)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True, env=peers.client_env()) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert holder.stdout.readline() == "ready\n"
            servers = peers.run_virt_admin(server.uri_admin, "srv-list", check=True).stdout
            name = next(line.split()[1] for line in servers.splitlines()[2:]
                        if line.strip() and line.split()[1] != "admin")
            listing = peers.run_virt_admin(server.uri_admin, "client-list", name, check=True)
            newest = max(int(line.split()[0]) for line in listing.stdout.splitlines()[2:]
                         if line.strip())
            info = peers.run_virt_admin(server.uri_admin, "client-info", name, str(newest),
                                        check=True).stdout
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
    info = re.sub(r"(id|connection_time)\s*:.*", r"\1: <masked>", info)
    return re.sub(r"(sock_addr\s*: 127\.0\.0\.1):\d+", r"\1:<port>", info)


@pytest.mark.parametrize("transport", ["unix", "tcp"])
def test_forwarded_identity_shown_to_admin_clients(sidebyside: SideBySide,
                                                   transport: str) -> None:
    """After setIdentity, virt-admin's client-info shows the forwarded identity (only what it
    names), as libvirtd shows it."""
    for identity in IDENTITIES:
        shown = [_client_info_after(server, getattr(server, f"uri_{transport}"), identity)
                 for server in (sidebyside.real, sidebyside.tvd)]
        assert shown[1] == shown[0], identity


# ------------------------------------------------------------------ baseline CPU


def _cpu(model: str, arch: str = "x86_64", extra: str = "") -> str:
    return f"<cpu><arch>{arch}</arch><model>{model}</model>{extra}</cpu>"


_MODELS = ("Snowridge", "Icelake-Server", "Cascadelake-Server", "Skylake-Client", "Broadwell",
           "Haswell", "IvyBridge", "SandyBridge", "Westmere", "Nehalem", "EPYC", "EPYC-Rome",
           "Opteron_G5", "Opteron_G4", "Dhyana", "Penryn")

BASELINE_CALLS: list[RawCall] = [
    ("CONNECT_BASELINE_CPU", ([_cpu(a), _cpu(b)], 0))
    for i, a in enumerate(_MODELS) for b in _MODELS[i + 1:]
] + [
    ("CONNECT_BASELINE_CPU", (cpus, flags)) for cpus, flags in (
        ([_cpu("Nehalem")], 0), ([_cpu("Nehalem")], 1), ([_cpu("Nehalem")], 2),
        ([_cpu("Nehalem", extra="<feature name='aes'/>"), _cpu("Westmere")], 0),
        ([_cpu("Haswell"), _cpu("Broadwell"), _cpu("Skylake-Client")], 0),
        ([_cpu("Skylake-Client-IBRS", extra="<vendor>Intel</vendor><feature name='ds'/>"
               "<feature name='vmx'/><feature name='invtsc'/>")], 0),
        ([_cpu("Skylake-Client-IBRS", extra="<vendor>Intel</vendor><feature name='ds'/>")], 1),
        ([_cpu("Nehalem", extra="<vendor>Intel</vendor>"),
          _cpu("Opteron_G3", extra="<vendor>AMD</vendor>")], 0),
        ([_cpu("Nehalem", extra="<vendor>AMD</vendor>")], 0),
        ([_cpu("Nehalem", extra="<vendor>Foo</vendor>")], 0),
        ([_cpu("Nehalem"), _cpu("Westmere", extra="<vendor>AMD</vendor>")], 0),
        ([_cpu("EPYC")], 1), ([_cpu("EPYC"), _cpu("EPYC-Rome")], 1),
        ([_cpu("Dhyana", extra="<vendor>Hygon</vendor>")], 0),
        ([_cpu("Skylake-Client-noTSX-IBRS")], 0), ([_cpu("cpu64-rhel6")], 0),
        ([_cpu("Icelake-Server", extra="<feature name='sha-ni'/><feature name='cldemote'/>"),
          _cpu("Snowridge")], 0),
        ([_cpu("pentium", "i686")], 0), ([_cpu("486"), _cpu("EPYC")], 1), ([_cpu("Foo")], 0),
        ([_cpu("Nehalem", extra="<feature name='bogus'/>")], 0),
        ([_cpu("Nehalem", extra="<feature name='aes'/><feature name='aes'/>")], 0),
        ([_cpu("Nehalem", extra="<feature name='pclmulqdq'/>")], 0),
        ([_cpu("Nehalem", "ppc64")], 0), ([_cpu("POWER8", "ppc64"), _cpu("POWER9", "ppc64")], 0),
        ([_cpu("POWER8", "ppc64le")], 1), ([_cpu("cortex-a57", "aarch64"),
                                            _cpu("cortex-a53", "aarch64")], 0),
        ([_cpu("z13", "s390x")], 0), ([_cpu("Nehalem"), _cpu("POWER8", "ppc64")], 0),
        ([_cpu("Nehalem", "sparc")], 0), ([_cpu("Nehalem", "bogus")], 0),
        (["<cpu><arch>x86_64</arch></cpu>"], 0), (["<cpu/>"], 0), ([""], 0), (["foo"], 0),
        (["<domain/>"], 0), (["<cpu mode='host-model'><arch>x86_64</arch></cpu>"], 0),
        ([], 0),
    )
]


def test_raw_baseline_cpu(sidebyside: SideBySide) -> None:
    """baselineCPU: libvirt's CPU map and model choice (every pair of a range of x86
    models), vendors, features, other architectures and refused definitions."""
    real_path, tvd_path = sidebyside.real.unix_path, sidebyside.tvd.unix_path
    assert real_path and tvd_path
    differences = compare(real_path, tvd_path, BASELINE_CALLS)
    assert not differences, "\n".join(differences)


def test_virsh_cpu_baseline(sidebyside: SideBySide, tmp_path: Path) -> None:
    two = tmp_path / "two.xml"
    two.write_text(f"<cpus>{_cpu('Haswell')}{_cpu('Snowridge')}</cpus>")
    caps = tmp_path / "caps.xml"
    caps.write_text(f"<capabilities><host>{_cpu('Westmere')}</host></capabilities>")
    for args in (("cpu-baseline", str(two)), ("cpu-baseline", str(two), "--features"),
                 ("cpu-baseline", str(caps)), ("cpu-baseline", str(two), "--migratable")):
        sidebyside.virsh(*args)
