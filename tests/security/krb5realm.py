"""A private Kerberos realm for tests: files in a temporary directory, a KDC on 127.0.0.1.

::

    with KerberosRealm.create(tmp_path / "krb5", hosts=["localhost"]) as realm:
        realm.add_user("fred", "secret123")
        realm.kinit("fred", "secret123")       # a ticket cache in realm.ccache
        env = realm.env()                      # KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME ...

The realm is ``NETRPC.TEST``; the KDC listens on a free port of 127.0.0.1 only (UDP and TCP),
the service keytab holds ``libvirt/<host>`` for every host given.  :meth:`close` (or leaving
the ``with`` block) stops the KDC.  Needs MIT Kerberos' ``krb5kdc``, ``kdb5_util``,
``kadmin.local`` and ``kinit`` (Debian: krb5-kdc, krb5-admin-server, krb5-user).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REALM = "NETRPC.TEST"
SERVICE = "libvirt"

_TOOLS = {
    "krb5kdc": ("/usr/sbin/krb5kdc", "krb5kdc"),
    "kdb5_util": ("/usr/sbin/kdb5_util", "kdb5_util"),
    "kadmin.local": ("/usr/sbin/kadmin.local", "kadmin.local"),
    "kinit": ("/usr/bin/kinit", "kinit"),
}


class RealmUnavailable(RuntimeError):
    """The MIT Kerberos tools are missing or the KDC did not start."""


def find_tool(name: str) -> str:
    """Path of an MIT Kerberos tool, or RealmUnavailable."""
    for candidate in _TOOLS[name]:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    raise RealmUnavailable(f"{name} not found (install krb5-kdc, krb5-admin-server, krb5-user)")


def _free_port() -> int:
    # A port free for both UDP and TCP on 127.0.0.1.
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RealmUnavailable("no free port for the KDC")


@dataclass
class KerberosRealm:
    """A running private realm (see the module docs)."""

    directory: Path
    port: int
    hosts: tuple[str, ...]
    process: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)

    @property
    def krb5_conf(self) -> Path:
        """The client/library configuration (``KRB5_CONFIG``)."""
        return self.directory / "krb5.conf"

    @property
    def kdc_conf(self) -> Path:
        """The KDC's configuration (``KRB5_KDC_PROFILE``)."""
        return self.directory / "kdc.conf"

    @property
    def keytab(self) -> Path:
        """The service keytab with ``libvirt/<host>`` for every host."""
        return self.directory / "libvirt.keytab"

    @property
    def ccache(self) -> Path:
        """The ticket cache :meth:`kinit` fills."""
        return self.directory / "ccache"

    def env(self, *, ccache: Path | None = None) -> dict[str, str]:
        """Environment for clients and servers of this realm."""
        return {
            "KRB5_CONFIG": str(self.krb5_conf),
            "KRB5_KDC_PROFILE": str(self.kdc_conf),
            "KRB5CCNAME": f"FILE:{ccache or self.ccache}",
            "KRB5_KTNAME": f"FILE:{self.keytab}",
            "KRB5RCACHEDIR": str(self.directory / "rcache"),
        }

    # ------------------------------------------------------------------ set-up

    @classmethod
    def create(cls, directory: Path, *, hosts: Sequence[str] = ("localhost",)) -> KerberosRealm:
        """Write the configuration, create the database and start the KDC.

        :raises RealmUnavailable: when a tool is missing or the KDC does not come up.
        """
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "db").mkdir(exist_ok=True)
        (directory / "rcache").mkdir(exist_ok=True)
        realm = cls(directory=directory, port=_free_port(), hosts=tuple(hosts))
        realm._write_config()
        try:
            realm._run(
                find_tool("kdb5_util"), "create", "-s", "-r", REALM, "-P", "master-key-pw"
            )
            for host in realm.hosts:
                realm.kadmin(f"addprinc -randkey {SERVICE}/{host}")
                realm.kadmin(f"ktadd -k {realm.keytab} {SERVICE}/{host}")
            realm._start_kdc()
        except BaseException:
            realm.close()
            raise
        return realm

    def _write_config(self) -> None:
        d = self.directory
        domain_realm = "\n".join(f"  {host} = {REALM}" for host in self.hosts)
        self.krb5_conf.write_text(
            "[libdefaults]\n"
            f"  default_realm = {REALM}\n"
            "  dns_lookup_kdc = false\n"
            "  dns_lookup_realm = false\n"
            "  rdns = false\n"
            "  dns_canonicalize_hostname = false\n"
            "  udp_preference_limit = 1\n"
            f"  default_ccache_name = FILE:{self.ccache}\n"
            "[realms]\n"
            f"  {REALM} = {{\n"
            f"    kdc = 127.0.0.1:{self.port}\n"
            "  }\n"
            "[domain_realm]\n"
            f"{domain_realm}\n"
        )
        self.kdc_conf.write_text(
            "[kdcdefaults]\n"
            f"  kdc_listen = 127.0.0.1:{self.port}\n"
            f"  kdc_tcp_listen = 127.0.0.1:{self.port}\n"
            "[realms]\n"
            f"  {REALM} = {{\n"
            f"    database_name = {d}/db/principal\n"
            f"    key_stash_file = {d}/db/stash\n"
            f"    acl_file = {d}/db/kadm5.acl\n"
            "    max_life = 10h 0m 0s\n"
            "    supported_enctypes = aes256-cts-hmac-sha1-96:normal "
            "aes128-cts-hmac-sha1-96:normal\n"
            "  }\n"
            "[logging]\n"
            f"  kdc = FILE:{d}/kdc.log\n"
        )
        (d / "db" / "kadm5.acl").write_text("")

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KRB5")}
        env.update(self.env())
        return env

    def _run(self, *argv: str, input: bytes | None = None) -> str:
        proc = subprocess.run(
            argv, input=input, capture_output=True, env=self._base_env(), timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise RealmUnavailable(
                f"{' '.join(argv)} failed ({proc.returncode}): "
                f"{proc.stderr.decode(errors='replace').strip()}"
            )
        return proc.stdout.decode(errors="replace")

    def kadmin(self, query: str) -> str:
        """Run one ``kadmin.local`` query."""
        return self._run(find_tool("kadmin.local"), "-r", REALM, "-q", query)

    def _start_kdc(self) -> None:
        log = open(self.directory / "krb5kdc.out", "wb")
        try:
            self.process = subprocess.Popen(
                [find_tool("krb5kdc"), "-n", "-r", REALM],
                env=self._base_env(), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out = (self.directory / "krb5kdc.out").read_text(errors="replace")
                raise RealmUnavailable(f"krb5kdc exited: {out.strip()}")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.settimeout(0.5)
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RealmUnavailable("krb5kdc did not start listening within 20 s")

    # ------------------------------------------------------------------ users

    def add_user(self, name: str, password: str) -> None:
        """Create the principal ``name@NETRPC.TEST``."""
        self.kadmin(f"addprinc -pw {password} {name}")
        self.users[name] = password

    def add_service(self, host: str, keytab: Path | None = None) -> Path:
        """Add ``libvirt/<host>`` to *keytab* (default: the service keytab)."""
        keytab = keytab or self.keytab
        with contextlib.suppress(RealmUnavailable):
            self.kadmin(f"addprinc -randkey {SERVICE}/{host}")
        self.kadmin(f"ktadd -k {keytab} {SERVICE}/{host}")
        return keytab

    def kinit(self, name: str, password: str | None = None, *, ccache: Path | None = None
              ) -> Path:
        """Get a ticket for *name* into *ccache* (default :attr:`ccache`)."""
        password = password if password is not None else self.users[name]
        ccache = ccache or self.ccache
        env = self._base_env()
        env["KRB5CCNAME"] = f"FILE:{ccache}"
        proc = subprocess.run(
            [find_tool("kinit"), name], input=(password + "\n").encode(), capture_output=True,
            env=env, timeout=60, check=False,
        )
        if proc.returncode != 0:
            raise RealmUnavailable(f"kinit {name} failed: {proc.stderr.decode().strip()}")
        return ccache

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        """Stop the KDC (idempotent)."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> KerberosRealm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block (in this process)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
