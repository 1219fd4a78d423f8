"""Make libvirt-style PKI directories: a CA, server and client certificates.

The ``netrpc-certs`` command writes a directory that libvirtd, netrpc servers and
``virsh -c '...?pkipath=DIR'`` can use as is::

    netrpc-certs --out ~/.pki/netrpc --host 127.0.0.1 --host localhost --client admin

Layout of ``--out DIR`` (private keys are created with mode 0600):

``cacert.pem``
    the CA certificate (servers and clients both need it)
``cakey.pem``
    the CA's private key, kept so that ``--ca-dir DIR`` can issue more
    certificates later; never copy it to clients or servers
``servercert.pem``, ``serverkey.pem``
    the server certificate (``CN`` = first ``--host``, every ``--host`` as a DNS or
    IP subjectAltName, EKU serverAuth) and its key
``clientcert.pem``, ``clientkey.pem``
    the first ``--client`` (EKU clientAuth); this is what a client's ``pkipath``
    must contain
``<cn>-clientcert.pem``, ``<cn>-clientkey.pem``
    every further ``--client`` of the same run

Existing files are never overwritten without ``--force``. To add a client later,
give it its own directory, which then is a complete client ``pkipath``::

    netrpc-certs --ca-dir ~/.pki/netrpc --out ~/.pki/netrpc-bob --client bob

Certificates are shaped to pass libvirt's checks: the CA has critical basic
constraints ``CA:TRUE`` and critical key usage keyCertSign + cRLSign; leaves have
critical ``CA:FALSE``, critical key usage digitalSignature + keyEncipherment (also
for EC keys, because libvirt peers refuse a critical key usage without
keyEncipherment) and a non-critical extended key usage.

The functions below (:func:`make_ca`, :func:`make_cert`, :func:`make_crl`,
:func:`write_pki`, ...) build arbitrary certificates, including broken ones, for
tests. ``--query-dn CERT`` prints a certificate's subject exactly as a
``tls_allowed_dn_list`` pattern is matched against it (see :mod:`netrpc.security.tls`).
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias, final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .tls import DN_ATTRIBUTE_NAMES, format_dn

__all__ = (
    "CA_KEY_USAGE",
    "LEAF_KEY_USAGE",
    "Credential",
    "KeyType",
    "PrivateKey",
    "generate_key",
    "load_credential",
    "make_ca",
    "make_cert",
    "make_client_cert",
    "make_crl",
    "make_server_cert",
    "parse_dn",
    "query_dn",
    "write_pem",
    "write_pki",
)

#: Key algorithms the generator offers: EC P-256 or RSA 3072.
KeyType: TypeAlias = Literal["rsa", "ec"]
#: Private keys the generator produces and signs with.
PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Default key usage of a CA certificate.
CA_KEY_USAGE: tuple[str, ...] = ("key_cert_sign", "crl_sign")
#: Default key usage of a server or client certificate.
LEAF_KEY_USAGE: tuple[str, ...] = ("digital_signature", "key_encipherment")

_KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)
_RSA_BITS = 3072
# Backdate new certificates a little so that a peer whose clock is slightly
# behind does not see them as "not yet active".
_BACKDATE = _dt.timedelta(minutes=5)
_SAFE_CN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@final
@dataclass(frozen=True, slots=True)
class Credential:
    """A certificate and its private key."""

    #: The certificate.
    certificate: x509.Certificate
    #: Its private key.
    key: PrivateKey

    @property
    def dn(self) -> str:
        """The subject rendered as the DN allow-list sees it."""
        return format_dn(self.certificate.subject)

    def cert_pem(self) -> bytes:
        """The certificate in PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        """The private key in unencrypted PKCS#8 PEM."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def generate_key(key_type: KeyType = "ec") -> PrivateKey:
    """Generate a private key.

    :param key_type: ``"ec"`` (P-256, fast) or ``"rsa"`` (3072 bits)
    """
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
    raise ValueError(f"unknown key type {key_type!r}")


_NAME_OIDS: dict[str, x509.ObjectIdentifier] = {
    label: x509.ObjectIdentifier(oid) for oid, label in DN_ATTRIBUTE_NAMES.items()
}
_NAME_OIDS["emailAddress"] = NameOID.EMAIL_ADDRESS


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if escaped:
        raise ValueError(f"DN ends with a lone backslash: {text!r}")
    parts.append("".join(current))
    return parts


def parse_dn(text: str) -> x509.Name:
    """Build a name from a DN string in the forward order :func:`format_dn` prints.

    ``parse_dn("C=UK,O=Libvirt,CN=libvirt")`` gives a name whose first RDN is
    ``C``. Attribute names are those of :data:`netrpc.security.tls.DN_ATTRIBUTE_NAMES` (plus
    ``emailAddress``); ``+`` joins the attributes of a multi-valued RDN; a backslash
    escapes the next character.

    :param text: the DN
    :raises ValueError: on an unknown attribute name or a malformed DN
    """
    rdns = []
    for rdn_text in _split_unescaped(text, ","):
        attrs = []
        for ava in _split_unescaped(rdn_text, "+"):
            label, eq, value = ava.partition("=")
            if not eq:
                raise ValueError(f"missing '=' in {ava!r}")
            oid = _NAME_OIDS.get(label.strip())
            if oid is None:
                raise ValueError(f"unknown DN attribute {label!r}")
            attrs.append(x509.NameAttribute(oid, re.sub(r"\\(.)", r"\1", value)))
        rdns.append(x509.RelativeDistinguishedName(attrs))
    return x509.Name(rdns)


def _name(subject: str | x509.Name) -> x509.Name:
    return subject if isinstance(subject, x509.Name) else parse_dn(subject)


def _eku_oid(item: str | x509.ObjectIdentifier) -> x509.ObjectIdentifier:
    if isinstance(item, x509.ObjectIdentifier):
        return item
    oid = getattr(ExtendedKeyUsageOID, item.upper(), None)
    if not isinstance(oid, x509.ObjectIdentifier):
        raise ValueError(f"unknown extended key usage {item!r}")
    return oid


def make_cert(
    subject: str | x509.Name,
    *,
    issuer: Credential | None = None,
    key: PrivateKey | None = None,
    key_type: KeyType = "ec",
    is_ca: bool | None = False,
    path_length: int | None = None,
    basic_constraints_critical: bool = True,
    key_usage: Iterable[str] | None = LEAF_KEY_USAGE,
    key_usage_critical: bool = True,
    extended_key_usage: Iterable[str | x509.ObjectIdentifier] | None = None,
    extended_key_usage_critical: bool = False,
    dns_names: Iterable[str] = (),
    ip_addresses: Iterable[str] = (),
    days: float = 365,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    serial_number: int | None = None,
) -> Credential:
    """Issue a certificate with exactly the extensions asked for.

    :param subject: a DN string (forward order, see :func:`parse_dn`) or a name
    :param issuer: the signing CA; ``None`` makes a self-signed certificate
    :param key: the subject's key; a new ``key_type`` key if omitted
    :param key_type: ``"ec"`` or ``"rsa"``
    :param is_ca: basic constraints CA flag; ``None`` omits the extension
    :param path_length: basic constraints path length (CAs only)
    :param basic_constraints_critical: criticality of basic constraints
    :param key_usage: key usage flags (``cryptography`` ``KeyUsage`` argument names
        such as ``"digital_signature"``, ``"key_cert_sign"``); ``None`` omits the
        extension, an empty iterable writes an empty one
    :param key_usage_critical: criticality of key usage
    :param extended_key_usage: ``"server_auth"``, ``"client_auth"`` (any
        ``ExtendedKeyUsageOID`` name) or OIDs; ``None`` omits the extension
    :param extended_key_usage_critical: criticality of extended key usage
    :param dns_names: subjectAltName DNS names
    :param ip_addresses: subjectAltName IP addresses
    :param days: validity when ``not_after`` is not given
    :param not_before: start of validity (default: a few minutes ago)
    :param not_after: end of validity (default: ``not_before`` + ``days``)
    :param serial_number: default random
    :return: the certificate and its key
    """
    key = key if key is not None else generate_key(key_type)
    name = _name(subject)
    start = not_before if not_before is not None else _dt.datetime.now(_dt.UTC) - _BACKDATE
    end = not_after if not_after is not None else start + _dt.timedelta(days=days)
    signer_key = issuer.key if issuer is not None else key
    signer_cert = issuer.certificate if issuer is not None else None

    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(signer_cert.subject if signer_cert is not None else name)
        .public_key(key.public_key())
        .serial_number(serial_number if serial_number is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if signer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_key.public_key()), False
        )
    if is_ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=path_length if is_ca else None),
            basic_constraints_critical,
        )
    if key_usage is not None:
        flags = set(key_usage)
        unknown = flags.difference(_KEY_USAGE_FLAGS)
        if unknown:
            raise ValueError(f"unknown key usage {sorted(unknown)}")
        values = {flag: flag in flags for flag in _KEY_USAGE_FLAGS}
        builder = builder.add_extension(x509.KeyUsage(**values), key_usage_critical)
    if extended_key_usage is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([_eku_oid(e) for e in extended_key_usage]),
            extended_key_usage_critical,
        )
    san: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    san += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), False)
    return Credential(builder.sign(signer_key, hashes.SHA256()), key)


def _subject(cn: str, org: str | None) -> x509.Name:
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def make_ca(
    subject: str | x509.Name = "CN=netrpc CA",
    *,
    issuer: Credential | None = None,
    key: PrivateKey | None = None,
    key_type: KeyType = "ec",
    days: float = 3650,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    path_length: int | None = None,
) -> Credential:
    """Issue a CA certificate (self-signed root, or an intermediate under ``issuer``).

    Critical ``CA:TRUE``, critical key usage keyCertSign + cRLSign. Use
    :func:`make_cert` with ``is_ca=True`` for anything unusual.
    """
    return make_cert(
        subject,
        issuer=issuer,
        key=key,
        key_type=key_type,
        is_ca=True,
        path_length=path_length,
        key_usage=CA_KEY_USAGE,
        days=days,
        not_before=not_before,
        not_after=not_after,
    )


def _split_hosts(hosts: Iterable[str]) -> tuple[list[str], list[str]]:
    dns, ips = [], []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            dns.append(host)
        else:
            ips.append(host)
    return dns, ips


def make_server_cert(
    ca: Credential,
    hosts: Sequence[str],
    *,
    org: str | None = None,
    subject: str | x509.Name | None = None,
    key_type: KeyType = "ec",
    days: float = 365,
) -> Credential:
    """Issue a server certificate for host names and IP addresses.

    :param ca: the issuing CA
    :param hosts: names and addresses clients connect to; each becomes a
        subjectAltName, the first also the CN
    :param org: optional ``O`` attribute
    :param subject: overrides the ``O=org,CN=hosts[0]`` subject
    """
    if not hosts and subject is None:
        raise ValueError("a server certificate needs at least one host")
    dns, ips = _split_hosts(hosts)
    return make_cert(
        subject if subject is not None else _subject(hosts[0], org),
        issuer=ca,
        key_type=key_type,
        extended_key_usage=["server_auth"],
        dns_names=dns,
        ip_addresses=ips,
        days=days,
    )


def make_client_cert(
    ca: Credential,
    cn: str,
    *,
    org: str | None = None,
    subject: str | x509.Name | None = None,
    key_type: KeyType = "ec",
    days: float = 365,
) -> Credential:
    """Issue a client certificate with subject ``O=org,CN=cn`` and EKU clientAuth."""
    return make_cert(
        subject if subject is not None else _subject(cn, org),
        issuer=ca,
        key_type=key_type,
        extended_key_usage=["client_auth"],
        days=days,
    )


def make_crl(
    ca: Credential,
    revoked: Iterable[x509.Certificate] = (),
    *,
    last_update: _dt.datetime | None = None,
    next_update: _dt.datetime | None = None,
    days: float = 30,
) -> x509.CertificateRevocationList:
    """Issue a CRL from ``ca`` revoking ``revoked``.

    :param ca: the issuing CA
    :param revoked: certificates to revoke (their serial numbers are listed)
    :param last_update: default a few minutes ago
    :param next_update: default ``last_update`` + ``days``
    """
    start = last_update if last_update is not None else _dt.datetime.now(_dt.UTC) - _BACKDATE
    end = next_update if next_update is not None else start + _dt.timedelta(days=days)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(start)
        .next_update(end)
    )
    for cert in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(start)
            .build()
        )
    return builder.sign(ca.key, hashes.SHA256())


def write_pem(path: str | os.PathLike[str], data: bytes, *, private: bool = False) -> Path:
    """Write a file atomically: a temporary file created with its final mode, then
    renamed over ``path``.

    :param path: destination
    :param data: contents
    :param private: create with mode 0600 (else 0644)
    """
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    # The mode is given to open() so that a private key is never readable by
    # others, not even between creation and a later chmod.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _client_file_names(cn: str, first: bool) -> tuple[str, str]:
    if first:
        return "clientcert.pem", "clientkey.pem"
    if not _SAFE_CN.fullmatch(cn):
        raise ValueError(f"client name {cn!r} cannot be used in a file name")
    return f"{cn}-clientcert.pem", f"{cn}-clientkey.pem"


def _pki_files(
    ca: Credential,
    *,
    server: Credential | None,
    clients: Mapping[str, Credential],
    crl: x509.CertificateRevocationList | None,
    write_ca_cert: bool,
    write_ca_key: bool,
) -> dict[str, tuple[bytes, bool]]:
    files: dict[str, tuple[bytes, bool]] = {}
    if write_ca_cert:
        files["cacert.pem"] = (ca.cert_pem(), False)
    if write_ca_key:
        files["cakey.pem"] = (ca.key_pem(), True)
    if server is not None:
        files["servercert.pem"] = (server.cert_pem(), False)
        files["serverkey.pem"] = (server.key_pem(), True)
    for index, (cn, client) in enumerate(clients.items()):
        cert_name, key_name = _client_file_names(cn, index == 0)
        files[cert_name] = (client.cert_pem(), False)
        files[key_name] = (client.key_pem(), True)
    if crl is not None:
        files["cacrl.pem"] = (crl.public_bytes(serialization.Encoding.PEM), False)
    return files


def write_pki(
    directory: str | os.PathLike[str],
    *,
    ca: Credential,
    server: Credential | None = None,
    clients: Mapping[str, Credential] | None = None,
    crl: x509.CertificateRevocationList | None = None,
    write_ca_cert: bool = True,
    write_ca_key: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """Write a PKI directory in the layout described in the module documentation.

    :param directory: created (mode 0700) if missing
    :param ca: the CA (``cacert.pem``, and ``cakey.pem`` if ``write_ca_key``)
    :param server: ``servercert.pem`` / ``serverkey.pem``
    :param clients: CN → credential; the first becomes ``clientcert.pem`` /
        ``clientkey.pem``, the others ``<cn>-clientcert.pem`` / ``<cn>-clientkey.pem``
    :param crl: ``cacrl.pem``
    :param write_ca_cert: write ``cacert.pem`` (off when the directory already has it)
    :param write_ca_key: keep the CA key for issuing more certificates later
    :param overwrite: replace existing files
    :return: the paths written
    :raises FileExistsError: if a file exists and ``overwrite`` is false (nothing is
        written then)
    """
    base = Path(directory)
    files = _pki_files(
        ca,
        server=server,
        clients=clients or {},
        crl=crl,
        write_ca_cert=write_ca_cert,
        write_ca_key=write_ca_key,
    )
    if not overwrite:
        existing = [name for name in files if (base / name).exists()]
        if existing:
            raise FileExistsError(f"{base}: would overwrite {', '.join(sorted(existing))}")
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return [
        write_pem(base / name, data, private=private) for name, (data, private) in files.items()
    ]


def load_credential(
    cert_file: str | os.PathLike[str], key_file: str | os.PathLike[str]
) -> Credential:
    """Load a certificate and its unencrypted key (e.g. ``cacert.pem`` + ``cakey.pem``).

    :raises ValueError: if a file is not valid PEM, the key is not RSA/EC or does
        not belong to the certificate
    """
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    key = serialization.load_pem_private_key(Path(key_file).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_file}: only RSA and EC keys are supported")
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) != cert.public_key().public_bytes(serialization.Encoding.DER, spki):
        raise ValueError(f"{key_file}: the key does not belong to {cert_file}")
    return Credential(cert, key)


def query_dn(cert_file: str | os.PathLike[str]) -> str:
    """Return a certificate's subject as ``tls_allowed_dn_list`` sees it.

    :param cert_file: a PEM certificate (the first one in the file is used)
    """
    return format_dn(x509.load_pem_x509_certificate(Path(cert_file).read_bytes()).subject)
