"""Every libvirtd.conf setting testvirtd accepts takes effect, or is refused by name."""

from __future__ import annotations

import argparse
import grp
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from daemons.testvirtd.__main__ import _tls_context, main
from daemons.testvirtd.daemon import CONFIG_KEYS, Listen
from daemons.testvirtd.settings import Choices, check_settings, listens_from_config
from netrpc.admin.config import ConfigError, config_from_text
from tests.interop import peers

from ..security.certfactory import matrix, write_pki

ROOT = Path(__file__).resolve().parents[2]


def conf(text: str) -> object:
    return config_from_text(text, "tv.conf", extra_keys=CONFIG_KEYS)


def test_endpoints_from_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent")
    default = listens_from_config(conf(""))
    assert [(x.kind, x.host, x.port) for x in default][2:] == [("tcp", "127.0.0.1", 16509)]
    assert default[0].path.endswith("/libvirt-sock") and default[1].kind == "unix-ro"
    got = listens_from_config(conf(
        'unix_sock_dir = "/srv/tv"\nlisten_tcp = 0\nlisten_tls = 1\nlisten_addr = "::1"\n'
        'tls_port = "https"\n'
    ))
    assert got == [
        Listen("unix", path="/srv/tv/libvirt-sock"),
        Listen("unix-ro", path="/srv/tv/libvirt-sock-ro"),
        Listen("tls", host="::1", port=443),
    ]
    with pytest.raises(ConfigError, match=r"tv.conf:1: tcp_port: 'nope' is neither a port"):
        listens_from_config(conf('tcp_port = "nope"\n'))


UNIX = [Listen("unix", path="/x/s")]
ALL = [*UNIX, Listen("unix-ro", path="/x/r"), Listen("tcp", host="h"), Listen("tls", host="h")]


@pytest.mark.parametrize(
    ("text", "listens", "choices", "message"),
    [
        ("listen_tcp = 0\ntcp_port = \"1\"\n", None, Choices(),
         "tv.conf:2: tcp_port: listen_tcp is 0, so there is no TCP endpoint"),
        ('tls_port = "1"\n', None, Choices(),
         "tv.conf:1: tls_port: listen_tls is not 1, so there is no TLS endpoint"),
        ('listen_tcp = 0\nlisten_addr = "0.0.0.0"\n', None, Choices(),
         "tv.conf:2: listen_addr: there is no TCP or TLS endpoint"),
        ('unix_sock_dir = "/run/x"\n', UNIX, Choices(listen=True),
         "unix_sock_dir: not used with --listen (the endpoints come from --listen)"),
        ('auth_tls = "none"\n', UNIX, Choices(listen=True),
         "auth_tls: there is no TLS endpoint"),
        ('unix_sock_ro_perms = "0777"\n', UNIX, Choices(listen=True),
         "unix_sock_ro_perms: there is no read-only unix socket"),
        ('cert_file = "/c"\nkey_file = "/k"\nca_file = "/a"\n', UNIX, Choices(listen=True),
         "tv.conf:1: cert_file: there is no TLS endpoint"),
        ("tls_no_verify_certificate = 1\n", UNIX, Choices(listen=True),
         "tls_no_verify_certificate: there is no TLS endpoint"),
        ('crl_file = "/c"\n', ALL, Choices(listen=True, pki=True),
         "crl_file: --pki gives the TLS files"),
        ('tls_allowed_dn_list = ["*"]\n', ALL, Choices(listen=True, tls_allowed_dn=True),
         "tls_allowed_dn_list: --tls-allowed-dn replaces it"),
        ("admin_max_workers = 8\n", UNIX, Choices(listen=True, no_admin=True),
         "admin_max_workers: there is no admin server (--no-admin)"),
        ('mdns_name = "x"\n', UNIX, Choices(listen=True), "mdns_name: nothing is advertised"),
        ('mdns_name = "x"\nmdns_adv = 1\n', UNIX, Choices(listen=True, mdns_name=True),
         "mdns_name: --mdns-name replaces it"),
        ("keepalive_required = 1\n", UNIX, Choices(listen=True),
         "keepalive_required: obsolete (libvirtd ignores it); remove it"),
        ('sasl_keytab = "/k"\n', UNIX, Choices(listen=True),
         'sasl_keytab: no endpoint uses SASL (set auth_unix_rw, auth_unix_ro, auth_tcp or '
         'auth_tls to "sasl")'),
        ('sasl_allowed_username_list = ["a"]\n', UNIX, Choices(listen=True),
         "sasl_allowed_username_list: no endpoint uses SASL"),
        ('auth_unix_rw = "sasl"\ntcp_min_ssf = 112\n', ALL, Choices(listen=True),
         'tcp_min_ssf: it applies to plain TCP, and auth_tcp is not "sasl"'),
        ('auth_unix_rw = "sasl"\nsasl_mech_list = ["gssapi"]\nsasl_passwd_file = "/p"\n', ALL,
         Choices(listen=True), "sasl_passwd_file: sasl_mech_list has no scram-sha-256"),
    ],
)
def test_settings_without_effect_are_refused(
    text: str, listens: list[Listen] | None, choices: Choices, message: str
) -> None:
    config = conf(text)
    with pytest.raises(ConfigError) as info:
        check_settings(config, listens or listens_from_config(config), choices)
    assert message in str(info.value)


def test_settings_with_effect_are_accepted() -> None:
    text = (
        'auth_unix_rw = "none"\nauth_unix_ro = "none"\nauth_tcp = "none"\nauth_tls = "none"\n'
        'unix_sock_group = "root"\nunix_sock_rw_perms = "0660"\nunix_sock_ro_perms = "0666"\n'
        'cert_file = "/c"\nkey_file = "/k"\nca_file = "/a"\ntls_priority = "HIGH"\n'
        "tls_no_sanity_certificate = 1\nmax_clients = 30\nadmin_max_workers = 8\n"
        'log_level = 2\nmdns_adv = 1\nmdns_name = "x"\n'
    )
    check_settings(conf(text), ALL, Choices(listen=True))
    check_settings(conf('listen_tls = 1\ntls_port = "1"\nlisten_addr = "::"\n'),
                   listens_from_config(conf("listen_tls = 1\n")), Choices())


def test_tls_settings_reach_the_context(tmp_path: Path) -> None:
    m = matrix()
    pki = write_pki(tmp_path / "pki", role="server", cas=[m.ca], leaf=m.server)
    args = argparse.Namespace(pki=str(pki), tls_allowed_dn=None)
    strict = _tls_context(args, conf(""))
    assert strict.verify_peer
    relaxed = _tls_context(args, conf(
        "tls_no_verify_certificate = 1\ntls_no_sanity_certificate = 1\n"
        'tls_priority = "ECDHE+AESGCM"\ntls_allowed_dn_list = ["O=x,*"]\n'
    ))
    assert not relaxed.verify_peer
    assert relaxed.allowed_dns == ("O=x,*",)
    with pytest.raises(ConfigError, match=r"tv.conf:1: tls_priority: invalid TLS cipher list"):
        _tls_context(args, conf('tls_priority = "NO-SUCH-CIPHER-XYZ"\n'))


def test_main_refuses_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    path = tmp_path / "tv.conf"
    path.write_text("max_clients = 100\nlisten_tcp = 0\ntcp_port = \"17000\"\n")
    assert main(["--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"testvirtd: error: {path}:3: tcp_port: listen_tcp is 0, so there is no TCP endpoint\n"
    )


def test_unix_socket_settings_and_endpoints_take_effect() -> None:
    group = grp.getgrgid(os.getegid()).gr_name
    port = peers.free_tcp_port()
    with tempfile.TemporaryDirectory(prefix="tvconf-", dir="/tmp") as tmp:
        path = Path(tmp) / "tv.conf"
        path.write_text(
            f'unix_sock_dir = "{tmp}/run"\nunix_sock_group = "{group}"\n'
            'unix_sock_rw_perms = "0660"\nunix_sock_ro_perms = "0644"\n'
            f'unix_sock_admin_perms = "0600"\ntcp_port = "{port}"\n'
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemons.testvirtd", "--config", str(path)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert proc.stdout is not None
            lines = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                lines.append(line)
                if not line or line.strip() == "ready":
                    break
            text = "".join(lines)
            assert f"test+tcp://127.0.0.1:{port}/default" in text, text
            run = Path(tmp) / "run"
            modes = {
                name: stat.S_IMODE(os.stat(run / name).st_mode)
                for name in ("libvirt-sock", "libvirt-sock-ro", "libvirt-admin-sock")
            }
            assert modes == {
                "libvirt-sock": 0o660, "libvirt-sock-ro": 0o644, "libvirt-admin-sock": 0o600
            }
            assert os.stat(run / "libvirt-sock").st_gid == os.getegid()
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
