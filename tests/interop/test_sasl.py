"""SASL with the real libvirt clients, testvirtd and the real libvirtd side by side.

Both daemons get the same setup: ``auth_unix_rw``, ``auth_tcp`` and ``auth_tls`` = "sasl",
mechanisms SCRAM-SHA-256 and GSSAPI, users fred (secret123) and bob (bobpw), only fred on
``sasl_allowed_username_list``.  libvirtd reads its SASL settings from a Cyrus configuration
(``SASL_CONF_PATH``) and a sasldb made with ``saslpasswd2``; testvirtd from its config file
and a password file made with ``netrpc-passwd``.  Kerberos comes from a private realm with a
KDC on 127.0.0.1 (``krb5_realm``); both daemons run in a UTS namespace whose host name is
``localhost``, so their GSSAPI acceptor is ``libvirt/localhost``, the name clients use.

virsh and libvirt-python get their credentials from an auth.conf (``LIBVIRT_AUTH_FILE``)
or a callback (``openAuth``) and their Kerberos ticket from ``KRB5CCNAME``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import pytest

from netrpc import Client, RPCError
from netrpc.core import xdr
from netrpc.security.sasl import SASLCredentials
from netrpc.security.sasl.layer import SecurityLayerStream

from ..security.krb5realm import KerberosRealm
from ..security.test_sasl_io import assert_auth_failed, init, run_sequence, start
from ..security.wiretap import split_frames, split_records, tapped
from . import peers
from ._testvirtd import ROOT, Testvirtd
from .peers import RealLibvirtd

pytestmark = pytest.mark.interop

#: run a daemon with "localhost" as its host name (its GSSAPI principal libvirt/localhost)
UNSHARE = ["unshare", "--uts", "sh", "-c", 'hostname localhost && exec "$0" "$@"']

AUTH_FAILED = "error: authentication failed: authentication failed"


@dataclass
class Setup:
    """Files both daemons and the clients use."""

    dir: Path
    pki: Path
    realm: KerberosRealm
    passwd: Path  # testvirtd's SCRAM verifiers
    sasldb: Path  # libvirtd's users
    sasl_conf: Path  # Cyrus configuration directory for libvirtd

    def auth_file(self, user: str, password: str) -> str:
        path = self.dir / f"auth-{user}-{password}.conf"
        path.write_text(
            f"[credentials-t]\nauthname={user}\npassword={password}\n\n"
            "[auth-libvirt-default]\ncredentials=t\n"
        )
        return str(path)

    def env(self, user: str | None = "fred", password: str = "secret123", *,
            ticket: bool = True) -> dict[str, str]:
        """Client environment: an auth.conf for *user* (None: none), the Kerberos ticket."""
        env = {
            "KRB5_CONFIG": str(self.realm.krb5_conf),
            "KRB5CCNAME": f"FILE:{self.realm.ccache if ticket else self.dir / 'no-ccache'}",
        }
        if user is not None:
            env["LIBVIRT_AUTH_FILE"] = self.auth_file(user, password)
        return env


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          **kwargs)


def _missing(reason: str) -> None:
    """Skip (fail under CI) for a peer that cannot be used."""

    def fail() -> None:
        raise peers.PeerMissing(reason)

    peers.require_peer(fail)


@pytest.fixture(scope="module")
def setup(krb5_realm: KerberosRealm) -> Iterator[Setup]:
    # Short paths: unix socket names are limited to 107 bytes.
    base = Path(tempfile.mkdtemp(prefix="sasl-", dir="/tmp"))
    try:
        yield _make_setup(krb5_realm, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _make_setup(krb5_realm: KerberosRealm, base: Path) -> Setup:
    # netrpc-passwd reads the password from standard input when it is not a terminal.
    passwd = base / "passwd"
    for user, password in (("fred", "secret123"), ("bob", "bobpw")):
        done = _run([sys.executable, "-m", "netrpc.cli.passwd", str(passwd), user],
                    input=password, cwd=ROOT)
        assert done.returncode == 0, done.stderr
    assert "secret123" not in passwd.read_text()
    saslpasswd2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
    sasldb = base / "sasldb"
    for user, password in (("fred", "secret123"), ("bob", "bobpw")):
        # The realm is the daemon's host name: "localhost" in its namespace.
        done = _run([saslpasswd2, "-f", str(sasldb), "-a", "libvirt", "-u", "localhost", "-p",
                     "-c", user], input=password)
        if done.returncode != 0:
            _missing(f"saslpasswd2: {done.stderr.strip()}")
    sasl_conf = base / "sasl2"
    sasl_conf.mkdir()
    (sasl_conf / "libvirt.conf").write_text(
        f"mech_list: scram-sha-256 gssapi\nsasldb_path: {sasldb}\n"
        f"keytab: {krb5_realm.keytab}\n"
    )
    pki = base / "pki"
    done = _run([sys.executable, "-m", "netrpc.cli.certs", "--out", str(pki), "--host", "127.0.0.1",
                 "--host", "localhost", "--client", "admin"], cwd=ROOT)
    assert done.returncode == 0, done.stderr
    probe = _run([*UNSHARE, "hostname"])
    if probe.returncode != 0 or probe.stdout.strip() != "localhost":
        _missing(f"unshare --uts (a UTS namespace needs root): {probe.stderr.strip()}")
    return Setup(base, pki, krb5_realm, passwd, sasldb, sasl_conf)


def _daemon_env(setup: Setup) -> dict[str, str]:
    return {
        "KRB5_CONFIG": str(setup.realm.krb5_conf),
        "KRB5RCACHEDIR": str(setup.realm.directory / "rcache"),
        "SASL_CONF_PATH": str(setup.sasl_conf),
    }


@xdr.struct
class OpenArgs:
    """remote_connect_open_args."""

    name: Annotated[str | None, xdr.Optional(xdr.String(4096))]
    flags: xdr.UInt


class SaslTestvirtd(Testvirtd):
    __test__ = False

    @property
    def tls_port(self) -> int:
        for line in self.lines:
            if "test+tls://127.0.0.1:" in line:
                return int(line.split("test+tls://127.0.0.1:")[1].split("/")[0])
        raise AssertionError(self.lines)


@pytest.fixture(scope="module")
def testvirtd(setup: Setup) -> Iterator[SaslTestvirtd]:
    conf = setup.dir / "testvirtd.conf"
    conf.write_text(textwrap.dedent(f"""\
        auth_unix_rw = "sasl"
        auth_tcp = "sasl"
        auth_tls = "sasl"
        sasl_mech_list = ["scram-sha-256", "gssapi"]
        sasl_passwd_file = "{setup.passwd}"
        sasl_keytab = "{setup.realm.keytab}"
        sasl_allowed_username_list = ["fred"]
        """))
    daemon = SaslTestvirtd(
        "--config", str(conf), "--listen", "tls://127.0.0.1:0", "--pki", str(setup.pki),
        env=_daemon_env(setup), prefix=UNSHARE,
    )
    daemon.start()
    try:
        yield daemon
    finally:
        code = daemon.stop()
        assert code in (0, None), "".join(daemon.stderr)


class SaslLibvirtd(RealLibvirtd):
    tls_port: int = 0


@pytest.fixture(scope="module")
def libvirtd(setup: Setup, libvirtd_binary: str) -> Iterator[SaslLibvirtd]:
    workdir = peers.short_workdir(setup.dir / "lvd")
    workdir.mkdir(parents=True, exist_ok=True)
    tls_port = peers.free_tcp_port()
    daemon = SaslLibvirtd(
        workdir,
        config={
            "auth_tcp": '"sasl"',
            "auth_unix_rw": '"sasl"',
            "auth_tls": '"sasl"',
            "listen_tls": "1",
            "tls_port": json.dumps(str(tls_port)),
            "key_file": json.dumps(str(setup.pki / "serverkey.pem")),
            "cert_file": json.dumps(str(setup.pki / "servercert.pem")),
            "ca_file": json.dumps(str(setup.pki / "cacert.pem")),
            "sasl_allowed_username_list": '["fred"]',
        },
        env=_daemon_env(setup),
        prefix=UNSHARE,
    )
    daemon.tls_port = tls_port
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


Server = SaslTestvirtd | SaslLibvirtd


@pytest.fixture(params=["testvirtd", "libvirtd"])
def server(request: pytest.FixtureRequest) -> Server:
    daemon: Server = request.getfixturevalue(request.param)
    return daemon


def unix_uri(server: Server, mech: str | None = "SCRAM-SHA-256") -> str:
    uri = f"test+unix:///default?socket={server.unix_path}"
    return uri + (f"&auth=sasl.{mech}" if mech else "")


def tls_uri(server: Server, setup: Setup, mech: str | None = "SCRAM-SHA-256") -> str:
    uri = f"test+tls://127.0.0.1:{server.tls_port}/default?pkipath={setup.pki}"
    return uri + (f"&auth=sasl.{mech}" if mech else "")


def tcp_uri(port: int, mech: str | None = None) -> str:
    return f"test+tcp://localhost:{port}/default" + (f"?auth=sasl.{mech}" if mech else "")


def virsh(uri: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return peers.run_virsh(uri, *(args or ("list", "--all")), env=env)


LISTING = " Id   Name   State\n----------------------\n 1    test   running\n\n"


# ------------------------------------------------------------------------------ logins


def test_virsh_scram_over_unix(server: Server, setup: Setup, virsh_path: str) -> None:
    done = virsh(unix_uri(server), setup.env())
    assert (done.returncode, done.stdout) == (0, LISTING), peers.describe(done)


def test_virsh_scram_over_tls(server: Server, setup: Setup, virsh_path: str) -> None:
    done = virsh(tls_uri(server, setup), setup.env())
    assert (done.returncode, done.stdout) == (0, LISTING), peers.describe(done)


def test_virsh_gssapi_over_tcp(server: Server, setup: Setup, virsh_path: str) -> None:
    assert server.tcp_port is not None
    done = virsh(tcp_uri(server.tcp_port), setup.env())
    assert (done.returncode, done.stdout) == (0, LISTING), peers.describe(done)


def test_virsh_prefers_gssapi_where_both_are_offered(
    server: Server, setup: Setup, virsh_path: str
) -> None:
    # Without ?auth=, virsh picks GSSAPI on the unix socket: it works with a ticket ...
    done = virsh(unix_uri(server, None), setup.env())
    assert (done.returncode, done.stdout) == (0, LISTING), peers.describe(done)
    # ... and fails without one rather than falling back to SCRAM.
    done = virsh(unix_uri(server, None), setup.env(ticket=False))
    assert done.returncode == 1
    assert "No Kerberos credentials available" in done.stderr


PY_OPEN_AUTH = textwrap.dedent("""\
    import json, sys, libvirt
    uri, user, password = sys.argv[1:4]
    def request(creds, data):
        for cred in creds:
            if cred[0] == libvirt.VIR_CRED_AUTHNAME:
                cred[4] = user
            elif cred[0] == libvirt.VIR_CRED_PASSPHRASE:
                cred[4] = password
        return 0
    auth = [[libvirt.VIR_CRED_AUTHNAME, libvirt.VIR_CRED_PASSPHRASE], request, None]
    try:
        conn = libvirt.openAuth(uri, auth, 0)
    except libvirt.libvirtError as exc:
        print(json.dumps({"error": exc.get_error_message(), "code": exc.get_error_code(),
                          "domain": exc.get_error_domain()}))
        sys.exit(0)
    print(json.dumps({"domains": sorted(d.name() for d in conn.listAllDomains()),
                      "version": conn.getLibVersion()}))
    conn.close()
    """)


def open_auth(uri: str, env: dict[str, str], user: str = "fred", password: str = "secret123"
              ) -> dict[str, Any]:
    done = peers.run_system_python("-c", PY_OPEN_AUTH, uri, user, password, env=env)
    assert done.returncode == 0, peers.describe(done)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("transport", ["unix", "tls", "tcp"])
def test_libvirt_python_open_auth(
    server: Server, setup: Setup, system_python: str, transport: str
) -> None:
    if transport == "unix":
        uri = unix_uri(server)
    elif transport == "tls":
        uri = tls_uri(server, setup)
    else:
        assert server.tcp_port is not None
        uri = tcp_uri(server.tcp_port)
    # Credentials from the callback (no auth.conf) ...
    env = setup.env(user=None)
    assert open_auth(uri, env) == {"domains": ["test"], "version": 9000000}
    refused = open_auth(uri, env, password="wrong")
    if transport == "tcp":
        assert refused["domains"] == ["test"]  # GSSAPI: the ticket counts, not the password
        return
    assert refused == {"error": "authentication failed: authentication failed", "code": 45,
                       "domain": 7}
    # ... or from auth.conf, which wins over the callback.
    assert open_auth(uri, setup.env(), password="wrong")["domains"] == ["test"]


# ------------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("user", "password"),
    [("fred", "wrong"), ("nobody", "x"), ("bob", "bobpw")],
    ids=["wrong-password", "unknown-user", "not-on-allow-list"],
)
def test_refused_logins_then_others_served(
    server: Server, setup: Setup, virsh_path: str, user: str, password: str
) -> None:
    for uri in (unix_uri(server), tls_uri(server, setup)):
        done = virsh(uri, setup.env(user, password))
        assert done.returncode == 1
        assert done.stderr.strip().endswith(AUTH_FAILED), peers.describe(done)
        good = virsh(uri, setup.env())
        assert (good.returncode, good.stdout) == (0, LISTING), peers.describe(good)


def test_gssapi_user_not_on_allow_list(server: Server, setup: Setup, virsh_path: str) -> None:
    assert server.tcp_port is not None
    ccache = setup.dir / "bob.ccache"
    setup.realm.kinit("bob", ccache=ccache)
    env = {**setup.env(), "KRB5CCNAME": f"FILE:{ccache}"}
    done = virsh(tcp_uri(server.tcp_port), env)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(AUTH_FAILED), peers.describe(done)


def test_scram_forced_over_tcp_is_refused(server: Server, setup: Setup, virsh_path: str) -> None:
    assert server.tcp_port is not None
    done = virsh(tcp_uri(server.tcp_port, "SCRAM-SHA-256"), setup.env())
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "error: authentication failed: SASL mechanism SCRAM-SHA-256 not supported by server"
    ), peers.describe(done)


# ------------------------------------------------------------------------------ raw protocol


async def _raw_answers(server: Server) -> list[Any]:
    """The same wrong sequences against a daemon's unix socket; what each answers."""
    out: list[Any] = []
    assert server.unix_path is not None
    async with Client.unix(server.unix_path) as client:
        out.append(await init(client))
        with pytest.raises(RPCError) as info:
            await init(client)
        out.append(info.value.message)
    for sequence in ("step-before-init", "start-before-init", "mech-not-offered",
                     "garbage-start", "garbage-step", "nil-step"):
        async with Client.unix(server.unix_path) as client:
            with pytest.raises(RPCError) as info:
                await run_sequence(client, sequence)
            assert_auth_failed(info.value)
            out.append((sequence, info.value.code, info.value.str1, info.value.str2))
            with pytest.raises(RPCError) as info:
                await client.call(0x20008086, 1, 68, b"\x00\x00\x01\x00")
            out.append(info.value.message)
            with pytest.raises(RPCError) as info:
                await client.call(0x20008086, 1, 1, b"\x00" * 8)  # CONNECT_OPEN
            out.append(info.value.message)
    # A client that stops in the middle of the exchange.
    async with Client.unix(server.unix_path) as client:
        await init(client)
        await start(client, "SCRAM-SHA-256", b"n,,n=fred,r=abcdefghijklmnop")
    async with Client.unix(server.unix_path, sasl=SASLCredentials("fred", "secret123")) as c:
        out.append(await c.call(0x20008086, 1, 66))
    return out


def test_protocol_answers_match_libvirtd(
    testvirtd: SaslTestvirtd, libvirtd: SaslLibvirtd
) -> None:
    ours = anyio.run(_raw_answers, testvirtd)
    theirs = anyio.run(_raw_answers, libvirtd)
    assert ours == theirs
    assert ours[0] == "SCRAM-SHA-256,GSSAPI"


async def _tcp_mechlist(port: int) -> str:
    async with Client.tcp("127.0.0.1", port) as client:
        return await init(client)


def test_mechanisms_per_transport_match_libvirtd(
    testvirtd: SaslTestvirtd, libvirtd: SaslLibvirtd
) -> None:
    for daemon in (testvirtd, libvirtd):
        assert daemon.tcp_port is not None
        assert anyio.run(_tcp_mechlist, daemon.tcp_port) == "GSSAPI"


async def _client_info(server: Server, admin_server: str) -> dict[str, str]:
    assert server.unix_path is not None
    async with Client.unix(server.unix_path, sasl=SASLCredentials("fred", "secret123")):
        listing = await anyio.to_thread.run_sync(
            lambda: peers.run_virt_admin(server.uri_admin, "client-list", admin_server)
        )
        ids = [line.split()[0] for line in listing.stdout.splitlines()
               if line.strip() and line.split()[0].isdigit() and "unix" in line]
        infos = {}
        for client_id in ids:
            info = await anyio.to_thread.run_sync(
                lambda cid=client_id: peers.run_virt_admin(
                    server.uri_admin, "client-info", admin_server, cid
                )
            )
            infos[client_id] = info.stdout
    return {k: v for k, v in infos.items() if "sasl_user_name" in v}


def test_virt_admin_shows_the_sasl_user(
    testvirtd: SaslTestvirtd, libvirtd: SaslLibvirtd, virt_admin: str
) -> None:
    testvirtd.admin_path = str(Path(testvirtd.unix_path or "").parent / "libvirt-admin-sock")
    shown = []
    for daemon, name in ((testvirtd, "testvirtd"), (libvirtd, "libvirtd")):
        [text] = anyio.run(_client_info, daemon, name).values()
        fields = [
            (key.strip(), value.strip())
            for key, _, value in (line.partition(":") for line in text.splitlines() if line)
            if key.strip() not in ("id", "connection_time", "unix_process_id")
        ]
        shown.append(fields)
    assert shown[0] == shown[1]
    assert shown[0][:3] == [("transport", "unix"), ("readonly", "no"), ("sasl_user_name", "fred")]


async def _netrpc_client_session(server: Server, setup: Setup) -> list[Any]:
    """netrpc's own client logs in (GSSAPI over TCP, SCRAM over TLS), opens the driver and
    asks for the library version."""
    from netrpc.security.tls import TLSContext

    from ..security.krb5realm import patched_environ

    open_args = xdr.codec_for(OpenArgs).encode(OpenArgs("test:///default", 0))
    out: list[Any] = []
    with patched_environ(setup.env(user=None)):
        assert server.tcp_port is not None
        async with Client.tcp("127.0.0.1", server.tcp_port,
                              sasl=SASLCredentials(hostname="localhost")) as client:
            out.append(isinstance(client.stream, SecurityLayerStream))
            await client.call(0x20008086, 1, 1, open_args)
            out.append(await client.call(0x20008086, 1, 157))
        ctx = TLSContext.client_from_pki(setup.pki)
        async with Client.tls("127.0.0.1", server.tls_port, ctx, hostname="127.0.0.1",
                              sasl=SASLCredentials("fred", "secret123")) as client:
            out.append(isinstance(client.stream, SecurityLayerStream))
            await client.call(0x20008086, 1, 1, open_args)
            out.append(await client.call(0x20008086, 1, 157))
    return out


def test_netrpc_client_logs_in(server: Server, setup: Setup) -> None:
    assert anyio.run(_netrpc_client_session, server, setup) == [
        True, (9000000).to_bytes(8, "big"), False, (9000000).to_bytes(8, "big")
    ]


# ------------------------------------------------------------------------------ the wire


def test_gssapi_traffic_is_wrapped(testvirtd: SaslTestvirtd, setup: Setup, virsh_path: str
                                   ) -> None:
    assert testvirtd.tcp_port is not None
    with tapped("127.0.0.1", testvirtd.tcp_port) as tap:
        done = virsh(tcp_uri(tap.port), setup.env(), "dumpxml", "test")
        assert done.returncode == 0 and "<name>test</name>" in done.stdout, peers.describe(done)
    calls, rest_up = split_records(bytes(tap.up))
    replies, rest_down = split_records(bytes(tap.down))
    procs = [int.from_bytes(r[12:16], "big") for r in calls]
    assert procs == [66, 67, 68, 69, 69]  # AUTH_LIST, INIT, START, STEP x2 in the clear
    assert len(replies) == 5
    for wire in (rest_up, rest_down):
        frames = split_frames(wire)  # nothing but length-prefixed frames ...
        assert frames and all(f[:2] == b"\x05\x04" for f in frames)  # ... of RFC 4121 tokens
        assert b"\x20\x00\x80\x86" not in wire  # no REMOTE program number in the clear
    assert b"<name>test</name>" not in bytes(tap.down)


@pytest.fixture(scope="session")
def virsh_path() -> str:
    return peers.require_peer(peers.find_virsh)
