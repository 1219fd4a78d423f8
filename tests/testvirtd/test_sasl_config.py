"""testvirtd's SASL settings: auth_* keys, sasl_* keys, tcp_min_ssf; mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemons.testvirtd.__main__ import main
from daemons.testvirtd.daemon import CONFIG_KEYS, Listen, sasl_from_config
from netrpc.admin.config import ConfigError, config_from_text
from netrpc.security.sasl import PasswordFile, ScramVerifier


def _error(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    conf = tmp_path / "tv.conf"
    conf.write_text(text)
    assert main(["--config", str(conf), "--listen", f"unix://{tmp_path}/s",
                 "--listen", "tcp://127.0.0.1:0", "--no-admin"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("testvirtd: error: ") and err.count("\n") == 1
    return err.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('auth_unix_rw = "polkit"\n', 'auth_unix_rw: polkit authentication is not supported by '
         'testvirtd (use "none" or "sasl")'),
        ('auth_tcp = "kerberos"\n', 'tv.conf:1: auth_tcp: unsupported auth "kerberos" (want '
         '"none", "sasl" or "polkit")'),
        ("tcp_min_ssf = 56\n", "tv.conf:1: tcp_min_ssf: minimum SSF levels lower than 112 are "
         "not supported"),
        ('auth_tcp = "sasl"\n', 'auth_tcp: auth "sasl" needs sasl_passwd_file (SCRAM-SHA-256) '
         "or sasl_keytab (GSSAPI)"),
        ('auth_unix_rw = "sasl"\nsasl_passwd_file = "/nonexistent/pw"\n',
         "sasl_passwd_file: /nonexistent/pw: cannot read password file: No such file"),
        ('auth_unix_rw = "sasl"\nsasl_mech_list = ["digest-md5"]\nsasl_passwd_file = "x"\n',
         "sasl_mech_list: unsupported SASL mechanism 'digest-md5'"),
        ('auth_unix_rw = "sasl"\nsasl_mech_list = []\n', "sasl_mech_list: no mechanism listed"),
        ('auth_unix_rw = "sasl"\nsasl_mech_list = ["gssapi"]\nsasl_keytab = "/nonexistent"\n',
         "sasl_keytab: no key for libvirt/"),
        ("sasl_allowed_username_list = \"fred\"\n",
         'sasl_allowed_username_list: expected a list of strings, got "fred"'),
    ],
)
def test_config_mistakes_name_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    if "gssapi" in text:
        pytest.importorskip("gssapi")
    assert expected in _error(tmp_path, text, capsys)


def test_sasl_policy_from_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRB5_KTNAME", raising=False)
    pw = tmp_path / "pw"
    PasswordFile.write(str(pw), {"fred": ScramVerifier.make("x")})
    listens = [Listen("unix", path="/x"), Listen("tcp", host="127.0.0.1")]
    config = config_from_text(
        f'auth_unix_rw = "sasl"\nsasl_passwd_file = "{pw}"\n'
        'sasl_allowed_username_list = ["fred", "adm*"]\ntcp_min_ssf = 256\n',
        extra_keys=CONFIG_KEYS,
    )
    sasl = sasl_from_config(config, listens)
    assert sasl is not None
    assert sasl.mechanisms == ("SCRAM-SHA-256",)
    assert sasl.allowed_usernames == ("fred", "adm*") and sasl.tcp_min_ssf == 256
    # Nothing uses SASL: no policy, and nothing is required.
    assert sasl_from_config(config_from_text("", extra_keys=CONFIG_KEYS), listens) is None
    # The auth of an endpoint kind without a listener is not needed.
    only_tcp = config_from_text('auth_unix_rw = "sasl"\n', extra_keys=CONFIG_KEYS)
    assert sasl_from_config(only_tcp, [Listen("tcp", host="127.0.0.1")]) is None
    with pytest.raises(ConfigError, match="auth_unix_rw: auth \"sasl\" needs"):
        sasl_from_config(only_tcp, listens)
