"""testvirtd over TLS with real libvirt clients: virsh 9.0 and libvirt-python.

The PKI is made by the ``netrpc-certs`` command, testvirtd runs as a subprocess with
``--listen tls://127.0.0.1:0 --pki DIR``, and clients connect with
``test+tls://127.0.0.1:PORT/default?pkipath=DIR``. go-libvirt is not exercised over TLS:
the packaged version has no TLS dialer (pinned by
tests/interop/test_reference_libvirtd.py::test_go_libvirt_dialers).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import peers
from ._testvirtd import ROOT, Testvirtd

pytestmark = pytest.mark.interop


def netrpc_certs(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("netrpc-certs")
    argv = [exe] if exe else [sys.executable, "-m", "netrpc.cli.certs"]
    return subprocess.run(
        [*argv, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@dataclass(frozen=True)
class Pki:
    server: Path  # CA + server cert (127.0.0.1, localhost) + client "admin"
    bob: Path  # client "bob" of the same CA, a directory of its own
    foreign: Path  # client "admin" of another CA; trusts our CA for the server


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    base = tmp_path_factory.mktemp("tls")
    out, bob, other, foreign = base / "pki", base / "bob", base / "other", base / "foreign"
    done = netrpc_certs(
        "--out", str(out), "--host", "127.0.0.1", "--host", "localhost", "--client", "admin"
    )
    assert done.returncode == 0, done.stderr
    assert "server DN: O=netrpc,CN=127.0.0.1\n" in done.stdout
    assert "client admin DN: O=netrpc,CN=admin\n" in done.stdout
    done = netrpc_certs("--ca-dir", str(out), "--out", str(bob), "--client", "bob")
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("client bob DN: O=netrpc,CN=bob\n")
    done = netrpc_certs("--out", str(other), "--host", "127.0.0.1", "--client", "admin")
    assert done.returncode == 0, done.stderr
    foreign.mkdir()
    for name in ("clientcert.pem", "clientkey.pem"):
        shutil.copy2(other / name, foreign / name)
    (foreign / "cacert.pem").write_bytes(
        (out / "cacert.pem").read_bytes() + (other / "cacert.pem").read_bytes()
    )
    dn = netrpc_certs("--query-dn", str(bob / "clientcert.pem"))
    assert dn.stdout == "O=netrpc,CN=bob\n"
    return Pki(server=out, bob=bob, foreign=foreign)


class TlsTestvirtd:
    def __init__(self, daemon: Testvirtd) -> None:
        self.daemon = daemon
        ports = [
            int(m.group(1))
            for line in daemon.lines
            if (m := re.search(r"test\+tls://127\.0\.0\.1:(\d+)/", line))
        ]
        assert len(ports) == 1, daemon.lines
        self.port = ports[0]

    def uri(self, pkipath: Path) -> str:
        return f"test+tls://127.0.0.1:{self.port}/default?pkipath={pkipath}"

    def log(self) -> str:
        return "".join(self.daemon.stderr)

    def wait_log(self, pattern: str, timeout: float = 10.0) -> str:
        """The daemon's stderr once it matches *pattern* (it is read by a thread)."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.log()):
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} in the daemon's log: {self.log()!r}")
            time.sleep(0.05)
        return self.log()


@pytest.fixture(scope="module")
def tls_daemon(pki: Pki) -> Iterator[TlsTestvirtd]:
    daemon = Testvirtd("--listen", "tls://127.0.0.1:0", "--pki", str(pki.server),
                       "--keep-state").start()
    try:
        yield TlsTestvirtd(daemon)
    finally:
        code = daemon.stop()
        assert code in (0, None), "".join(daemon.stderr)


@pytest.fixture(scope="module")
def dn_daemon(pki: Pki) -> Iterator[TlsTestvirtd]:
    daemon = Testvirtd(
        "--listen",
        "tls://127.0.0.1:0",
        "--pki",
        str(pki.server),
        "--tls-allowed-dn",
        "O=netrpc,CN=admin",
        "--keep-state",
    ).start()
    try:
        yield TlsTestvirtd(daemon)
    finally:
        code = daemon.stop()
        assert code in (0, None), "".join(daemon.stderr)


def virsh(uri: str, *args: str) -> subprocess.CompletedProcess[str]:
    return peers.run_virsh(uri, *args)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, peers.describe(done)
    return done.stdout


def test_ready_text_names_the_tls_uri(tls_daemon: TlsTestvirtd) -> None:
    assert (
        f"  virsh -c test+tls://127.0.0.1:{tls_daemon.port}/default"
        "    (client certificates: add ?pkipath=DIR)"
    ) in tls_daemon.daemon.lines


def test_virsh_list_dominfo_destroy_start(
    virsh_path: str, tls_daemon: TlsTestvirtd, pki: Pki
) -> None:
    uri = tls_daemon.uri(pki.server)
    listing = ok(virsh(uri, "list", "--all"))
    assert re.search(r"^ 1\s+test\s+running\s*$", listing, re.M), listing
    info = ok(virsh(uri, "dominfo", "test"))
    assert re.search(r"^Name:\s+test$", info, re.M)
    assert re.search(r"^State:\s+running$", info, re.M)
    assert ok(virsh(uri, "destroy", "test")).strip() == "Domain 'test' destroyed"
    assert ok(virsh(uri, "domstate", "test")).strip() == "shut off"
    assert re.search(r"^ -\s+test\s+shut off\s*$", ok(virsh(uri, "list", "--all")), re.M)
    assert ok(virsh(uri, "start", "test")).strip() == "Domain 'test' started"
    assert ok(virsh(uri, "domstate", "test")).strip() == "running"


def test_virsh_client_from_another_ca_refused(
    virsh_path: str, tls_daemon: TlsTestvirtd, pki: Pki
) -> None:
    done = virsh(tls_daemon.uri(pki.foreign), "list", "--all")
    assert done.returncode != 0
    assert done.stdout == ""
    assert "error: failed to connect to the hypervisor" in done.stderr
    assert "error: Unable to read TLS confirmation: Input/output error" in done.stderr
    tls_daemon.wait_log(
        r"testvirtd: TLS handshake with 127\.0\.0\.1:\d+ failed: TLS handshake failed: "
        r"CERTIFICATE_VERIFY_FAILED"
    )
    # The daemon keeps serving.
    assert "test" in ok(virsh(tls_daemon.uri(pki.server), "list", "--name"))


def test_virsh_dn_allow_list(virsh_path: str, dn_daemon: TlsTestvirtd, pki: Pki) -> None:
    assert " test " in ok(virsh(dn_daemon.uri(pki.server), "list", "--all"))
    done = virsh(dn_daemon.uri(pki.bob), "list", "--all")
    assert done.returncode != 0
    assert "error: Unable to read TLS confirmation: Input/output error" in done.stderr
    dn_daemon.wait_log(
        r"testvirtd: TLS handshake with 127\.0\.0\.1:\d+ failed: client's distinguished name "
        r"'O=netrpc,CN=bob' is not on the list of allowed clients \(tls_allowed_dn_list\)"
    )
    assert "'O=netrpc,CN=admin'" not in dn_daemon.log()


PY_TLS = """
import sys, libvirt
conn = libvirt.open(sys.argv[1])
print(conn.getLibVersion())
print(",".join(sorted(d.name() for d in conn.listAllDomains())))
conn.close()
"""


def test_libvirt_python_over_tls(system_python: str, tls_daemon: TlsTestvirtd, pki: Pki) -> None:
    done = peers.run_system_python("-c", PY_TLS, tls_daemon.uri(pki.server))
    assert done.returncode == 0, peers.describe(done)
    version, domains = done.stdout.splitlines()
    assert int(version) >= 9000000
    assert domains == "test"


def test_libvirt_python_refused_by_dn_list(
    system_python: str, dn_daemon: TlsTestvirtd, pki: Pki
) -> None:
    done = peers.run_system_python("-c", PY_TLS, dn_daemon.uri(pki.bob))
    assert done.returncode != 0
    assert "Unable to read TLS confirmation" in done.stderr


def test_testvirtd_without_pki_files_exits_2() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemons.testvirtd",
            "--listen",
            "tls://127.0.0.1:0",
            "--pki",
            "/nonexistent",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "testvirtd: error: /nonexistent/cacert.pem: cannot read CA certificate file: "
        "No such file or directory\n"
    )


@pytest.fixture(scope="session")
def virsh_path(virsh: str) -> str:
    return virsh
