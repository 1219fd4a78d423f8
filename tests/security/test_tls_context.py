"""Loading TLS contexts: the certificate matrix of libvirt's context test, and more."""

from __future__ import annotations

import logging
import os
import ssl
import stat
from pathlib import Path
from typing import Literal

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from netrpc.cli import certs as certs_cli
from netrpc.security import certs
from netrpc.security.tls import (
    CONFIRMATION_BYTE,
    MAX_CA_CERTS,
    PKIFiles,
    TLSAccessDenied,
    TLSConfigError,
    TLSContext,
    TLSHandshakeError,
    check_confirmation,
    dn_matches,
    format_dn,
)

from .certfactory import CLIENT_DN, FAR, LONG_AGO, RECENTLY, SOON, matrix, write_pki

Role = Literal["server", "client"]


def load(directory: Path, role: Role, **kwargs: object) -> TLSContext:
    if role == "server":
        return TLSContext.server_from_pki(directory, **kwargs)  # type: ignore[arg-type]
    return TLSContext.client_from_pki(directory, **kwargs)  # type: ignore[arg-type]


def leaf_for(ca: certs.Credential, role: Role) -> certs.Credential:
    if role == "server":
        return certs.make_server_cert(ca, ["localhost"])
    return certs.make_client_cert(ca, "libvirt")


# -- CAs --------------------------------------------------------------------

GOOD_CAS = ["good", "bc_noncritical", "ku_certsign_only"]
BAD_CAS = {
    "ku_digsig_critical": "key usage does not allow certificate signing",
    "ku_digsig_noncritical": "whose key usage does not allow certificate signing",
    "no_bc": "has no basic constraints extension",
    "not_ca": "basic constraints do not mark it as a CA",
    "expired": "expired on",
    "inactive": "is not active until",
}


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize("name", GOOD_CAS)
def test_good_ca(tmp_path: Path, name: str, role: Role) -> None:
    ca = matrix().cas[name]
    ctx = load(write_pki(tmp_path, role=role, cas=[ca], leaf=leaf_for(ca, role)), role)
    assert ctx.ca_certificates[0] == ca.certificate
    assert ctx.warnings == ()


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize(("name", "message"), BAD_CAS.items(), ids=list(BAD_CAS))
def test_bad_ca(tmp_path: Path, name: str, message: str, role: Role) -> None:
    ca = matrix().cas[name]
    directory = write_pki(tmp_path, role=role, cas=[ca], leaf=leaf_for(ca, role))
    with pytest.raises(TLSConfigError, match=message) as info:
        load(directory, role)
    assert str(info.value).startswith(f"{directory}/")


def test_noncritical_ca_key_usage_is_a_warning_first(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The CA audit only warns (libvirt's rule); the chain check then fails,
    # because no TLS library accepts such an issuer.
    ca = matrix().cas["ku_digsig_noncritical"]
    directory = write_pki(tmp_path, role="server", cas=[ca], leaf=leaf_for(ca, "server"))
    with caplog.at_level(logging.WARNING, logger="netrpc.tls"), pytest.raises(TLSConfigError):
        load(directory, "server")
    assert "extension not critical" in caplog.text


def test_expired_message_format(tmp_path: Path) -> None:
    m = matrix()
    when = RECENTLY.strftime("%Y-%m-%d %H:%M:%S UTC")
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.servers["expired"])
    with pytest.raises(TLSConfigError) as info:
        load(directory, "server")
    assert str(info.value) == f"{directory / 'servercert.pem'}: certificate expired on {when}"


# -- servers and clients -----------------------------------------------------

GOOD_LEAVES = ["no_usage", "ku_all", "eku_both_critical", "eku_both", "eku_own_critical"]
BAD_LEAVES = {
    "ku_certsign_critical": "key usage does not allow digital signatures",
    "ku_empty_critical": "key usage does not allow digital signatures",
    "eku_wrong_critical": "extended key usage does not allow TLS",
    "is_ca": "basic constraints mark it as a CA",
    "expired": "certificate expired on",
    "inactive": "certificate is not active until",
}
WARNING_LEAVES = {
    "ku_certsign_noncritical": "key usage does not allow digital signatures",
    "eku_wrong_noncritical": "extended key usage does not allow TLS",
}


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize("name", GOOD_LEAVES)
def test_good_leaf(tmp_path: Path, name: str, role: Role) -> None:
    m = matrix()
    leaf = (m.servers if role == "server" else m.clients)[name]
    ctx = load(write_pki(tmp_path, role=role, cas=[m.ca], leaf=leaf), role)
    assert ctx.certificate == leaf.certificate
    assert ctx.warnings == ()


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize(("name", "message"), BAD_LEAVES.items(), ids=list(BAD_LEAVES))
def test_bad_leaf(tmp_path: Path, name: str, message: str, role: Role) -> None:
    m = matrix()
    leaf = (m.servers if role == "server" else m.clients)[name]
    directory = write_pki(tmp_path, role=role, cas=[m.ca], leaf=leaf)
    with pytest.raises(TLSConfigError, match=message) as info:
        load(directory, role)
    assert str(info.value).startswith(f"{directory / f'{role}cert.pem'}: ")


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize(("name", "message"), WARNING_LEAVES.items(), ids=list(WARNING_LEAVES))
def test_noncritical_leaf_problem_warns(
    tmp_path: Path, name: str, message: str, role: Role, caplog: pytest.LogCaptureFixture
) -> None:
    m = matrix()
    leaf = (m.servers if role == "server" else m.clients)[name]
    with caplog.at_level(logging.WARNING, logger="netrpc.tls"):
        ctx = load(write_pki(tmp_path, role=role, cas=[m.ca], leaf=leaf), role)
    assert len(ctx.warnings) == 1
    assert message in ctx.warnings[0]
    assert message in caplog.text


def test_server_cert_used_by_a_client_only_warns(tmp_path: Path) -> None:
    # Its EKU (serverAuth only) is not critical: libvirt's rule makes it a warning.
    m = matrix()
    ctx = load(write_pki(tmp_path, role="client", cas=[m.ca], leaf=m.server), "client")
    assert "does not allow TLS client authentication" in ctx.warnings[0]


def test_rsa_leaf_needs_key_encipherment(tmp_path: Path) -> None:
    m = matrix()
    rsa_leaf = certs.make_cert(
        "CN=rsa", issuer=m.ca, key_type="rsa", key_usage=["digital_signature"]
    )
    with pytest.raises(TLSConfigError, match="key encipherment"):
        load(write_pki(tmp_path, role="server", cas=[m.ca], leaf=rsa_leaf), "server")


def test_ec_leaf_without_key_encipherment_is_accepted_with_a_warning(tmp_path: Path) -> None:
    m = matrix()
    ec_leaf = certs.make_cert("CN=ec", issuer=m.ca, key_usage=["digital_signature"])
    ctx = load(write_pki(tmp_path, role="server", cas=[m.ca], leaf=ec_leaf), "server")
    assert len(ctx.warnings) == 1
    assert "libvirt peers refuse it" in ctx.warnings[0]


def test_sanity_check_can_be_disabled(tmp_path: Path) -> None:
    m = matrix()
    leaf = m.servers["eku_wrong_critical"]
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=leaf)
    ctx = load(directory, "server", sanity_check=False)
    assert ctx.certificate == leaf.certificate


# -- CA list, chains, keys ---------------------------------------------------


def test_wrong_ca(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.other_ca], leaf=m.server)
    with pytest.raises(TLSConfigError, match=r"is not signed by any CA in .*cacert\.pem"):
        load(directory, "server")


def test_several_cas(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="client", cas=[m.other_ca, m.ca], leaf=m.client)
    assert len(load(directory, "client").ca_certificates) == 2


def test_too_many_cas(tmp_path: Path) -> None:
    m = matrix()
    cas = [m.ca] * (MAX_CA_CERTS + 1)
    directory = write_pki(tmp_path, role="server", cas=cas, leaf=m.server)
    with pytest.raises(TLSConfigError, match=r"17 certificates, at most 16"):
        load(directory, "server")


def test_chain_all_levels_in_ca_file(tmp_path: Path) -> None:
    m = matrix()
    cas = [m.chain_root, m.chain_l1a, m.chain_l1b, m.chain_l2a]
    load(write_pki(tmp_path / "s", role="server", cas=cas, leaf=m.chain_server), "server")
    load(write_pki(tmp_path / "c", role="client", cas=cas, leaf=m.chain_client), "client")


def test_chain_intermediates_in_cert_file(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(
        tmp_path,
        role="server",
        cas=[m.chain_root],
        leaf=m.chain_server,
        chain=[m.chain_l2a, m.chain_l1a],
    )
    load(directory, "server")


def test_chain_missing_intermediate(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.chain_root], leaf=m.chain_server)
    with pytest.raises(TLSConfigError, match="not signed by any CA"):
        load(directory, "server")


def test_key_does_not_match(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server, key=m.client)
    with pytest.raises(TLSConfigError, match=r"serverkey\.pem: private key does not match"):
        load(directory, "server")


def test_key_mismatch_caught_by_openssl_without_sanity_check(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server, key=m.client)
    with pytest.raises(TLSConfigError, match="OpenSSL cannot load"):
        load(directory, "server", sanity_check=False)


def test_key_in_private_dir(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(
        tmp_path, role="server", cas=[m.ca], leaf=m.server, key_in_private_dir=True
    )
    ctx = load(directory, "server")
    assert ctx.files.key_file == directory / "private" / "serverkey.pem"


def test_encrypted_key(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="client", cas=[m.ca], leaf=m.client)
    encrypted = m.client.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    (directory / "clientkey.pem").write_bytes(encrypted)
    with pytest.raises(TLSConfigError, match="encrypted"):
        load(directory, "client")


@pytest.mark.parametrize("missing", ["cacert.pem", "servercert.pem", "serverkey.pem"])
def test_missing_file(tmp_path: Path, missing: str) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server)
    (directory / missing).unlink()
    with pytest.raises(TLSConfigError, match=rf"{missing}: cannot read .*No such file"):
        load(directory, "server")


def test_garbage_file(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server)
    (directory / "servercert.pem").write_text("hello\n")
    with pytest.raises(TLSConfigError, match=r"servercert\.pem: no valid PEM certificate"):
        load(directory, "server")


def test_explicit_files(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server)
    ctx = TLSContext.server(
        ca_file=directory / "cacert.pem",
        cert_file=directory / "servercert.pem",
        key_file=directory / "serverkey.pem",
        allowed_dns=["C=UK,*"],
    )
    assert ctx.role == "server"
    assert ctx.allowed_dns == ("C=UK,*",)


def test_allowed_dns_only_on_servers(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="client", cas=[m.ca], leaf=m.client)
    with pytest.raises(ValueError, match="server"):
        TLSContext(PKIFiles.from_pki_dir(directory, role="client"), role="client", allowed_dns=[])
    with pytest.raises(TypeError):
        TLSContext.server_from_pki(directory, allowed_dns="C=UK,*")


def test_locate_prefers_pkipath(tmp_path: Path) -> None:
    files = PKIFiles.locate(role="client", pkipath=tmp_path)
    assert files.ca_file == tmp_path / "cacert.pem"
    assert files.cert_file == tmp_path / "clientcert.pem"
    assert files.crl_file is None


def test_locate_system_defaults() -> None:
    files = PKIFiles.locate(role="server", privileged=True)
    assert files.ca_file == Path("/etc/pki/CA/cacert.pem")
    assert files.cert_file == Path("/etc/pki/libvirt/servercert.pem")
    assert files.key_file == Path("/etc/pki/libvirt/private/serverkey.pem")


def test_locate_user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    user = tmp_path / ".pki" / "libvirt"
    user.mkdir(parents=True)
    for name in ("cacert.pem", "clientcert.pem", "clientkey.pem"):
        (user / name).write_text("")
    files = PKIFiles.locate(role="client", privileged=False)
    assert files == PKIFiles(
        ca_file=user / "cacert.pem",
        cert_file=user / "clientcert.pem",
        key_file=user / "clientkey.pem",
    )


def test_ssl_context_settings(tmp_path: Path) -> None:
    m = matrix()
    server = load(write_pki(tmp_path / "s", role="server", cas=[m.ca], leaf=m.server), "server")
    client = load(write_pki(tmp_path / "c", role="client", cas=[m.ca], leaf=m.client), "client")
    for ctx in (server.ssl_context, client.ssl_context):
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.verify_flags & ssl.VERIFY_X509_PARTIAL_CHAIN
        assert not ctx.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF
    # libvirt clients cannot cope with TLS 1.3 session tickets (see netrpc.tls).
    assert server.ssl_context.num_tickets == 0
    assert client.ssl_context.check_hostname


def test_verify_peer_off(tmp_path: Path) -> None:
    m = matrix()
    server = load(
        write_pki(tmp_path / "s", role="server", cas=[m.ca], leaf=m.server),
        "server",
        verify_peer=False,
    )
    client = load(
        write_pki(tmp_path / "c", role="client", cas=[m.ca], leaf=m.client),
        "client",
        verify_peer=False,
    )
    assert server.ssl_context.verify_mode == ssl.CERT_NONE
    assert not client.ssl_context.check_hostname
    identity = server.check_peer(None)
    assert identity.dn is None
    assert not identity.verified


def test_priority(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server)
    load(directory, "server", priority="NORMAL")
    load(directory, "server", priority="ECDHE+AESGCM")
    with pytest.raises(TLSConfigError, match="invalid TLS cipher list"):
        load(directory, "server", priority="NO-SUCH-CIPHER")


# -- CRLs ---------------------------------------------------------------------


def test_crl_loads_and_enables_checking(tmp_path: Path) -> None:
    m = matrix()
    crl = certs.make_crl(m.ca, [m.client.certificate])
    ctx = load(write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server, crl=crl), "server")
    assert ctx.crls == (crl,)
    assert ctx.ssl_context.verify_flags & ssl.VERIFY_CRL_CHECK_LEAF
    assert ctx.warnings == ()


def test_crl_from_unknown_ca(tmp_path: Path) -> None:
    m = matrix()
    crl = certs.make_crl(m.other_ca)
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server, crl=crl)
    with pytest.raises(TLSConfigError, match=r"cacrl\.pem: CRL from 'C=UK,CN=Other CA' is not"):
        load(directory, "server")


def test_crl_expired(tmp_path: Path) -> None:
    m = matrix()
    crl = certs.make_crl(m.ca, last_update=LONG_AGO, next_update=RECENTLY)
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server, crl=crl)
    with pytest.raises(TLSConfigError, match="expired on"):
        load(directory, "server")


def test_crl_missing_for_one_ca_warns(tmp_path: Path) -> None:
    m = matrix()
    crl = certs.make_crl(m.ca)
    directory = write_pki(tmp_path, role="server", cas=[m.ca, m.other_ca], leaf=m.server, crl=crl)
    ctx = load(directory, "server")
    assert any("no CRL for CA 'C=UK,CN=Other CA'" in w for w in ctx.warnings)


def test_crl_garbage(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server)
    (directory / "cacrl.pem").write_text("nope\n")
    with pytest.raises(TLSConfigError, match="no PEM certificate revocation list"):
        load(directory, "server")


# -- reload -------------------------------------------------------------------


def test_reload_swaps_and_keeps_old_on_failure(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="server", cas=[m.ca], leaf=m.server)
    ctx = load(directory, "server")
    old = ctx.ssl_context

    replacement = certs.make_server_cert(m.ca, ["localhost"])
    write_pki(directory, role="server", cas=[m.ca], leaf=replacement)
    ctx.reload()
    assert ctx.certificate == replacement.certificate
    assert ctx.ssl_context is not old

    current = ctx.ssl_context
    write_pki(directory, role="server", cas=[m.ca], leaf=m.servers["expired"])
    with pytest.raises(TLSConfigError, match="expired"):
        ctx.reload()
    assert ctx.certificate == replacement.certificate
    assert ctx.ssl_context is current


# -- peer checks (no network) ---------------------------------------------------


def server_ctx(tmp_path: Path, allowed: list[str] | None = None) -> TLSContext:
    m = matrix()
    directory = write_pki(tmp_path / "srv", role="server", cas=[m.ca], leaf=m.server)
    return TLSContext.server_from_pki(directory, allowed_dns=allowed)


def test_check_peer_good(tmp_path: Path) -> None:
    m = matrix()
    identity = server_ctx(tmp_path).check_peer(
        m.client.certificate.public_bytes(serialization.Encoding.DER)
    )
    assert identity.dn == CLIENT_DN
    assert identity.issuer_dn == "C=UK,CN=Libvirt Test CA"
    assert identity.verified
    assert identity.certificate == m.client.certificate


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("is_ca", "basic constraints mark it as a CA"),
        ("eku_wrong_critical", "does not allow TLS client authentication"),
        ("ku_certsign_critical", "does not allow digital signatures"),
        ("expired", "expired on"),
    ],
)
def test_check_peer_refuses(tmp_path: Path, name: str, message: str) -> None:
    m = matrix()
    with pytest.raises(TLSAccessDenied, match=message) as info:
        server_ctx(tmp_path).check_peer(m.clients[name].certificate)
    assert CLIENT_DN in str(info.value)


def test_check_peer_without_certificate(tmp_path: Path) -> None:
    with pytest.raises(TLSAccessDenied, match="did not present a certificate"):
        server_ctx(tmp_path).check_peer(None)


def test_check_peer_dn_denied(tmp_path: Path) -> None:
    m = matrix()
    with pytest.raises(TLSAccessDenied, match=r"'C=UK,CN=libvirt' is not on the list"):
        server_ctx(tmp_path, ["C=UK,CN=dogfood"]).check_peer(m.client.certificate)


def test_check_peer_server_side_eku(tmp_path: Path) -> None:
    m = matrix()
    directory = write_pki(tmp_path, role="client", cas=[m.ca], leaf=m.client)
    client = TLSContext.client_from_pki(directory)
    assert client.check_peer(m.server.certificate).dn == "C=UK,CN=libvirt.org"
    with pytest.raises(TLSAccessDenied, match="TLS server authentication"):
        client.check_peer(m.servers["eku_wrong_critical"].certificate)


# -- DNs and the allow-list ------------------------------------------------------


@pytest.mark.parametrize(
    ("patterns", "allowed"),
    [
        (None, True),
        ([], False),
        (["C=UK,CN=dogfood"], False),
        (["C=UK,CN=libvirt"], True),
        (["C=UK,CN=dogfood", "C=UK,CN=libvirt"], True),
        (["C=UK,CN=libvirtstuff"], False),
        (["C=UK,CN=libvirt*"], True),
        (["C=UK,CN=*virt*"], True),
        (["*virt*"], True),
        (["CN=libvirt*"], False),  # the pattern must match the whole DN
        (["CN=libvirt,C=UK"], False),  # RFC 4514 order is not what is matched
        (["C=UK,CN=libvir?"], True),
        (["C=UK,CN=libvir??"], False),
        (["C=UK,CN=[l]ibvirt"], False),  # no character classes
        (["c=uk,cn=libvirt"], False),  # case-sensitive
    ],
)
def test_dn_matches(patterns: list[str] | None, allowed: bool) -> None:
    assert dn_matches(CLIENT_DN, patterns) is allowed


def test_dn_brackets_match_literally() -> None:
    assert dn_matches("CN=[x]", ["CN=[x]"])
    assert not dn_matches("CN=x", ["CN=[x]"])


def test_format_dn_forward_order_and_escaping() -> None:
    name = certs.parse_dn(
        r"C=GB,ST=London,L=Lon\, don,O=Libvirt Project,OU=x\"y\<z\>,"
        r"CN=\ #lead trail\ ,EMAIL=a@b.c,DC=example,serialNumber=42+UID=u1"
    )
    assert name.rdns[0].get_attributes_for_oid(x509.NameOID.COUNTRY_NAME)
    # Expected output taken from virt-pki-query-dn (GnuTLS 3.7) on the same subject.
    assert format_dn(name) == (
        r"C=GB,ST=London,L=Lon\, don,O=Libvirt Project,OU=x\"y\<z\>,"
        r"CN=\ #lead trail\ ,EMAIL=a@b.c,DC=example,serialNumber=42+UID=u1"
    )


def test_format_dn_unknown_oid_is_hex_der() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(x509.NameOID.ORGANIZATION_IDENTIFIER, "OID1"),
            x509.NameAttribute(x509.NameOID.COMMON_NAME, "x"),
        ]
    )
    assert format_dn(name) == "2.5.4.97=#0c044f494431,CN=x"


def test_format_dn_unknown_oid_long_value_and_high_arc() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(x509.NameOID.COMMON_NAME, "x"),
            x509.NameAttribute(x509.ObjectIdentifier("2.999.3"), "v" * 200),
        ]
    )
    # UTF8String (0x0c), long-form length 0x81 0xc8, then the value.
    assert format_dn(name) == "CN=x,2.999.3=#0c81c8" + "76" * 200


def test_parse_dn_errors() -> None:
    with pytest.raises(ValueError, match="unknown DN attribute"):
        certs.parse_dn("XX=1")
    with pytest.raises(ValueError, match="missing '='"):
        certs.parse_dn("CN")


def test_check_confirmation() -> None:
    check_confirmation(CONFIRMATION_BYTE)
    with pytest.raises(TLSHandshakeError, match="closed the connection"):
        check_confirmation(b"")
    with pytest.raises(TLSHandshakeError, match="unexpected"):
        check_confirmation(b"\x00")


# -- the generator --------------------------------------------------------------


def test_cli_layout_and_modes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "pki"
    argv = ["--out", str(out), "--host", "127.0.0.1", "--host", "localhost"]
    assert certs_cli.main([*argv, "--client", "admin", "--client", "bob"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "bob-clientcert.pem",
        "bob-clientkey.pem",
        "cacert.pem",
        "cakey.pem",
        "clientcert.pem",
        "clientkey.pem",
        "servercert.pem",
        "serverkey.pem",
    ]
    for name in names:
        mode = stat.S_IMODE(os.stat(out / name).st_mode)
        assert mode == (0o600 if "key" in name else 0o644), name
    assert "client admin DN: O=netrpc,CN=admin" in capsys.readouterr().out

    server = TLSContext.server_from_pki(out)
    assert TLSContext.client_from_pki(out).certificate.subject == certs.parse_dn(
        "O=netrpc,CN=admin"
    )
    san = server.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(a) for a in san.value.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]

    # No silent overwrite.
    assert certs_cli.main([*argv, "--client", "admin"]) == 1
    assert "would overwrite" in capsys.readouterr().err

    # More clients from the same CA, in a directory of their own.
    carol = tmp_path / "carol"
    assert certs_cli.main(["--ca-dir", str(out), "--out", str(carol), "--client", "carol"]) == 0
    assert sorted(p.name for p in carol.iterdir()) == [
        "cacert.pem",
        "clientcert.pem",
        "clientkey.pem",
    ]
    assert TLSContext.client_from_pki(carol).certificate.issuer == server.certificate.issuer
    capsys.readouterr()

    assert certs_cli.main(["--query-dn", str(carol / "clientcert.pem")]) == 0
    assert capsys.readouterr().out == "O=netrpc,CN=carol\n"


def test_cli_rsa(tmp_path: Path) -> None:
    assert certs_cli.main(["--out", str(tmp_path), "--host", "h", "--key-type", "rsa"]) == 0
    ctx = TLSContext.server_from_pki(tmp_path)
    assert ctx.certificate.public_key().key_size == 3072  # type: ignore[union-attr]


def test_cli_bad_client_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert certs_cli.main(["--out", str(tmp_path), "--client", "a", "--client", "../evil"]) == 1
    assert "cannot be used in a file name" in capsys.readouterr().err


def test_make_cert_validity_window() -> None:
    m = matrix()
    cred = certs.make_cert("CN=w", issuer=m.ca, not_before=SOON, not_after=FAR)
    assert cred.certificate.not_valid_before_utc == SOON.replace(microsecond=0)
    assert cred.certificate.not_valid_after_utc == FAR.replace(microsecond=0)
    assert LONG_AGO < cred.certificate.not_valid_before_utc
