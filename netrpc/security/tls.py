"""TLS for netrpc: libvirt-style PKI files, certificate checks, peer identity.

Theory of operation
===================

A :class:`TLSContext` is built from the same files libvirt uses (``cacert.pem``,
optional ``cacrl.pem``, ``servercert.pem``/``serverkey.pem`` or
``clientcert.pem``/``clientkey.pem``). Loading happens in three steps:

1. The PEM files are parsed with ``cryptography``.
2. Unless ``sanity_check=False`` (libvirtd's ``tls_no_sanity_certificate``), the
   certificates are audited the way libvirt audits them at start-up: validity
   dates, CA basic constraints and key usage, the leaf's basic constraints, key
   usage and extended key usage, the private key against the certificate, the
   leaf against the CA list, the CRLs against the CA list. A problem in an
   extension marked *critical* is fatal; the same problem in a non-critical
   extension is only logged (and kept in :attr:`TLSContext.warnings`).
3. An :class:`ssl.SSLContext` is built (TLS 1.2 or newer, peer certificates
   required, CRL checking of the peer's certificate when a CRL is present).

After a handshake, :meth:`TLSContext.check_peer` repeats the leaf audit on the
peer's certificate (libvirt does this per session, because OpenSSL and GnuTLS do
not enforce libvirt's critical/non-critical rules) and, on a server, applies the
DN allow-list. Then the server writes :data:`CONFIRMATION_BYTE` inside TLS; a
libvirt client waits for that byte before its first RPC call, and reads EOF
instead when the server refused it. :func:`server_handshake` and
:func:`client_handshake` do all of this on an anyio byte stream.

Distinguished names
===================

A DN is rendered the way GnuTLS's ``gnutls_x509_crt_get_dn`` renders it, which is
the string libvirt matches ``tls_allowed_dn_list`` against and what
``virt-pki-query-dn`` prints:

* RDNs in certificate order (issuer-style "forward" order, usually country
  first): ``C=GB,ST=London,L=London,O=Libvirt Project,CN=libvirt.org``. This is
  the reverse of RFC 4514 (``openssl -nameopt RFC2253`` and
  ``cryptography``'s ``rfc4514_string`` put ``CN`` first).
* RDNs are joined by ``,`` without spaces; the attributes of a multi-valued RDN
  by ``+`` in their DER order.
* Attribute names are GnuTLS's: ``C``, ``ST``, ``L``, ``O``, ``OU``, ``CN``,
  ``DC``, ``UID``, ``EMAIL``, ``serialNumber``, ``title``, ``street``,
  ``surName``, ``givenName`` and so on (see :data:`DN_ATTRIBUTE_NAMES`); any
  other attribute is written as its dotted OID, ``=``, ``#`` and the hex of the
  DER-encoded value.
* In values, ``, + " \\ < > ;`` are escaped with a backslash, as are a leading
  ``#``, a leading space and a trailing space.

An allow-list entry is a glob over the whole DN string: ``*`` matches any run of
characters, ``?`` any single character, everything else (``[`` included) only
itself, case-sensitively. ``None`` disables the check; an empty list denies
every peer, as in libvirtd.

Where OpenSSL differs from libvirt's GnuTLS
==========================================

* EC and EdDSA leaf keys need no keyEncipherment bit here (such keys never
  encrypt; RFC 5480 does not allow the bit). libvirt requires it whenever the key
  usage extension is critical, so that case is loaded with a warning.
* OpenSSL's handshake refuses a peer whose (extended) key usage does not allow its
  role even if the extension is not critical, where libvirt only warns.
* With a CRL loaded, OpenSSL needs a current CRL from the issuer of every peer
  certificate; GnuTLS skips issuers without one. A warning names such CAs.
* The server sends no TLS 1.3 session tickets: libvirt clients would read a
  ticket where they expect the confirmation byte, and fail.
* ``verify_peer=False`` makes a server not request a client certificate at all
  (OpenSSL cannot request one and ignore verification errors), so the peer has
  no DN.

Thread safety
=============

Loaded state (certificates, CRLs, the :class:`ssl.SSLContext`) is never mutated
after it is built. :meth:`TLSContext.reload` builds a complete new state and then
replaces one reference, so a handshake in progress keeps the state it started
with and new connections see the new one. ``reload`` reads files synchronously;
from async code call it through ``anyio.to_thread.run_sync``.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias, final

import anyio
from anyio.abc import AnyByteStream
from anyio.streams.tls import TLSAttribute, TLSStream
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..core.errors import NetRPCError

__all__ = (
    "CONFIRMATION_BYTE",
    "DN_ATTRIBUTE_NAMES",
    "MAX_CA_CERTS",
    "PKIFiles",
    "PeerCertificate",
    "PeerIdentity",
    "Role",
    "TLSAccessDenied",
    "TLSConfigError",
    "TLSContext",
    "TLSError",
    "TLSHandshakeError",
    "check_confirmation",
    "client_handshake",
    "dn_matches",
    "format_dn",
    "server_handshake",
)

logger = logging.getLogger("netrpc.tls")

#: The single byte a libvirt server writes inside TLS once it has accepted the
#: client's certificate, before any RPC traffic. On refusal it closes instead.
CONFIRMATION_BYTE = b"\x01"

#: How many certificates ``cacert.pem`` may hold; libvirt reads at most 16.
MAX_CA_CERTS = 16

#: Which side of the connection a context is for.
Role: TypeAlias = Literal["server", "client"]

_Kind: TypeAlias = Literal["ca", "server", "client"]

#: Attribute names used when rendering a DN (GnuTLS's names, by dotted OID).
DN_ATTRIBUTE_NAMES: dict[str, str] = {
    "2.5.4.3": "CN",
    "2.5.4.4": "surName",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "2.5.4.13": "description",
    "2.5.4.15": "businessCategory",
    "2.5.4.17": "postalCode",
    "2.5.4.20": "telephoneNumber",
    "2.5.4.41": "name",
    "2.5.4.42": "givenName",
    "2.5.4.43": "initials",
    "2.5.4.44": "generationQualifier",
    "2.5.4.46": "dnQualifier",
    "2.5.4.65": "pseudonym",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
    "1.2.840.113549.1.9.1": "EMAIL",
    "1.3.6.1.5.5.7.9.2": "placeOfBirth",
    "1.3.6.1.5.5.7.9.3": "gender",
    "1.3.6.1.5.5.7.9.4": "countryOfCitizenship",
    "1.3.6.1.5.5.7.9.5": "countryOfResidence",
    "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionOfIncorporationLocalityName",
    "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionOfIncorporationStateOrProvinceName",
    "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionOfIncorporationCountryName",
}

# System-wide defaults libvirt uses when no pkipath is given (privileged daemons,
# and the fallback for unprivileged ones).
_SYSTEM_CA_DIR = Path("/etc/pki/CA")
_SYSTEM_PKI_DIR = Path("/etc/pki/libvirt")

_CRL_PEM = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)


class TLSError(NetRPCError):
    """Base class of the TLS errors raised here."""


class TLSConfigError(TLSError, ValueError):
    """A certificate, key or CRL file is missing, unreadable or fails a check.

    The message starts with the file name and says what is wrong, for example
    ``/etc/pki/libvirt/servercert.pem: certificate expired on 2024-01-01 00:00:00 UTC``.
    """


class TLSAccessDenied(TLSError):
    """The peer completed the TLS handshake but its certificate is refused.

    Raised by :meth:`TLSContext.check_peer` when the peer certificate fails the
    per-session checks or, on a server, its DN is not on the allow-list (the DN
    is part of the message).
    """


class TLSHandshakeError(TLSError):
    """The TLS handshake (or the confirmation byte that follows it) failed."""


# ---------------------------------------------------------------------------
# Distinguished names


def _escape_dn_value(value: str) -> str:
    out = []
    last = len(value) - 1
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;':
            out.append("\\" + ch)
        elif (i == 0 and ch in "# ") or (i == last and ch == " "):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _der_element(data: bytes, pos: int) -> tuple[int, int, int]:
    """The DER element at *pos*: its tag, where its content starts and where it ends."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, pos, pos + length


def _der_children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """The elements between *start* and *end*: (tag, element start, content start, end)."""
    out = []
    pos = start
    while pos < end:
        tag, content, stop = _der_element(data, pos)
        out.append((tag, pos, content, stop))
        pos = stop
    return out


def _der_oid(body: bytes) -> str:
    arcs: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if not arcs:
        return ""
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in head + arcs[1:])


def _raw_attribute_values(name: x509.Name) -> list[list[tuple[str, bytes]]]:
    """For each RDN of *name*, its attributes as (dotted OID, DER of the value), read
    from the name's own encoding (``Name.public_bytes``), which keeps each value's ASN.1
    string type."""
    data = name.public_bytes()
    _, start, end = _der_element(data, 0)
    rdns = []
    for _, _, set_start, set_end in _der_children(data, start, end):
        attributes = []
        for _, _, seq_start, seq_end in _der_children(data, set_start, set_end):
            (_, _, oid_start, oid_end), (_, value_pos, _, value_end) = _der_children(
                data, seq_start, seq_end
            )[:2]
            attributes.append((_der_oid(data[oid_start:oid_end]), data[value_pos:value_end]))
        rdns.append(attributes)
    return rdns


def format_dn(name: x509.Name) -> str:
    """Render a name the way libvirt (GnuTLS) does for ``tls_allowed_dn_list``.

    RDNs in certificate order, comma-separated, GnuTLS attribute names; see the
    module documentation for the exact rules.

    :param name: a certificate's subject or issuer
    :return: the DN string, e.g. ``C=UK,O=Libvirt,CN=libvirt``
    """
    # Attributes GnuTLS has no name for are printed as "#" + hex(DER of the value), read
    # from the name's encoding since the decoded value has lost its string type.
    raw: list[list[tuple[str, bytes]]] | None = None
    parts = []
    for index, rdn in enumerate(name.rdns):
        avas = []
        for attr in rdn:
            oid = attr.oid.dotted_string
            label = DN_ATTRIBUTE_NAMES.get(oid)
            if label is None:
                if raw is None:
                    raw = _raw_attribute_values(name)
                pool = raw[index]
                der = next(v for o, v in pool if o == oid)
                pool.remove((oid, der))
                avas.append(f"{oid}=#{der.hex()}")
            else:
                value = attr.value
                text = value if isinstance(value, str) else value.decode("utf-8", "replace")
                avas.append(f"{label}={_escape_dn_value(text)}")
        parts.append("+".join(avas))
    return ",".join(parts)


def _compile_glob(pattern: str) -> re.Pattern[str]:
    # Only "*" and "?" are special (GLib's g_pattern_match_simple semantics);
    # fnmatch would also treat "[...]" as a character class, which a DN can
    # legitimately contain.
    regex = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(regex, re.DOTALL)


def dn_matches(dn: str, patterns: Iterable[str] | None) -> bool:
    """Tell whether a DN is allowed by an allow-list of glob patterns.

    :param dn: a DN rendered by :func:`format_dn`
    :param patterns: glob patterns (``*`` and ``?`` only) matched against the whole
        DN; ``None`` allows everyone, an empty list denies everyone
    :return: ``True`` if the DN is allowed
    """
    if patterns is None:
        return True
    return any(_compile_glob(p).fullmatch(dn) is not None for p in patterns)


# ---------------------------------------------------------------------------
# File locations


@final
@dataclass(frozen=True, kw_only=True, slots=True)
class PKIFiles:
    """The files one side of a TLS connection is configured with."""

    #: PEM file with up to :data:`MAX_CA_CERTS` trusted CA certificates.
    ca_file: Path
    #: PEM file with this side's certificate (optionally followed by intermediates).
    cert_file: Path
    #: PEM file with the unencrypted private key of :attr:`cert_file`.
    key_file: Path
    #: Optional PEM file with one or more CRLs from the CAs.
    crl_file: Path | None = None

    @classmethod
    def from_paths(
        cls,
        ca_file: str | os.PathLike[str],
        cert_file: str | os.PathLike[str],
        key_file: str | os.PathLike[str],
        crl_file: str | os.PathLike[str] | None = None,
    ) -> PKIFiles:
        """The files named explicitly (libvirtd.conf's ``ca_file``, ``cert_file`` ...)."""
        return cls(
            ca_file=Path(ca_file),
            cert_file=Path(cert_file),
            key_file=Path(key_file),
            crl_file=Path(crl_file) if crl_file is not None else None,
        )

    @classmethod
    def from_pki_dir(cls, path: str | os.PathLike[str], *, role: Role) -> PKIFiles:
        """Locate the files in a libvirt ``pkipath`` directory.

        ``cacert.pem``, ``<role>cert.pem`` and ``<role>key.pem`` (or
        ``private/<role>key.pem``); ``cacrl.pem`` is used only if it exists. Missing
        required files are reported when the context is loaded.

        :param path: the directory
        :param role: ``"server"`` or ``"client"``
        """
        base = Path(path)
        key = base / f"{role}key.pem"
        private_key = base / "private" / f"{role}key.pem"
        if not key.exists() and private_key.exists():
            key = private_key
        crl = base / "cacrl.pem"
        return cls(
            ca_file=base / "cacert.pem",
            cert_file=base / f"{role}cert.pem",
            key_file=key,
            crl_file=crl if crl.exists() else None,
        )

    @classmethod
    def locate(
        cls,
        *,
        role: Role,
        pkipath: str | os.PathLike[str] | None = None,
        privileged: bool | None = None,
    ) -> PKIFiles:
        """Find the files the way libvirt does when no explicit file names are set.

        With ``pkipath``, everything comes from that directory. Otherwise an
        unprivileged process first looks in ``$HOME/.pki/libvirt`` (the CA files and
        the certificate/key pair are looked up independently) and falls back to the
        system locations ``/etc/pki/CA/cacert.pem``, ``/etc/pki/CA/cacrl.pem``,
        ``/etc/pki/libvirt/<role>cert.pem`` and
        ``/etc/pki/libvirt/private/<role>key.pem``, which a privileged process uses
        directly.

        :param role: ``"server"`` or ``"client"``
        :param pkipath: an explicit PKI directory
        :param privileged: defaults to "running as root"
        """
        if pkipath is not None:
            return cls.from_pki_dir(pkipath, role=role)
        if privileged is None:
            privileged = os.geteuid() == 0
        ca = _SYSTEM_CA_DIR / "cacert.pem"
        crl: Path | None = _SYSTEM_CA_DIR / "cacrl.pem"
        cert = _SYSTEM_PKI_DIR / f"{role}cert.pem"
        key = _SYSTEM_PKI_DIR / "private" / f"{role}key.pem"
        if not privileged:
            user = Path.home() / ".pki" / "libvirt"
            if (user / "cacert.pem").exists():
                ca, crl = user / "cacert.pem", user / "cacrl.pem"
            if (user / f"{role}cert.pem").exists() and (user / f"{role}key.pem").exists():
                cert, key = user / f"{role}cert.pem", user / f"{role}key.pem"
        if crl is not None and not crl.exists():
            crl = None
        return cls(ca_file=ca, cert_file=cert, key_file=key, crl_file=crl)


# ---------------------------------------------------------------------------
# Certificate audit


def _fmt_time(when: _dt.datetime) -> str:
    return when.astimezone(_dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_KIND_WORDS: dict[_Kind, str] = {"ca": "a CA", "server": "a server", "client": "a client"}
_EKU_FOR: dict[_Kind, tuple[x509.ObjectIdentifier, str]] = {
    "server": (ExtendedKeyUsageOID.SERVER_AUTH, "TLS server authentication (serverAuth)"),
    "client": (ExtendedKeyUsageOID.CLIENT_AUTH, "TLS client authentication (clientAuth)"),
}


def _needs_key_encipherment(cert: x509.Certificate) -> bool:
    # With RSA the certificate key may encrypt the premaster secret (TLS 1.2
    # RSA key exchange), so libvirt requires keyEncipherment. EC and EdDSA keys
    # only ever sign (the key exchange is ephemeral), and RFC 5480/8410 do not
    # even allow keyEncipherment for them, so it is not required there.
    key = cert.public_key()
    return not isinstance(
        key,
        ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey
        | x25519.X25519PublicKey
        | x448.X448PublicKey,
    )


def _audit(cert: x509.Certificate, kind: _Kind, now: _dt.datetime) -> tuple[list[str], list[str]]:
    """Check one certificate the way libvirt does; return (errors, warnings)."""
    errors: list[str] = []
    warnings: list[str] = []

    def problem(critical: bool, text: str) -> None:
        if critical:
            errors.append(text)
        else:
            warnings.append(text + " (extension not critical, accepted)")

    if cert.not_valid_after_utc < now:
        errors.append(f"expired on {_fmt_time(cert.not_valid_after_utc)}")
    if cert.not_valid_before_utc > now:
        errors.append(f"is not active until {_fmt_time(cert.not_valid_before_utc)}")

    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        if kind == "ca":
            errors.append("has no basic constraints extension, a CA needs CA:TRUE")
    else:
        if kind == "ca" and not bc.ca:
            errors.append("basic constraints do not mark it as a CA")
        elif kind != "ca" and bc.ca:
            errors.append(
                f"basic constraints mark it as a CA, but it is used as {_KIND_WORDS[kind]} "
                "certificate"
            )

    try:
        ku_ext = cert.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        pass  # no key usage extension: every usage is allowed
    else:
        ku = ku_ext.value
        if kind == "ca":
            if not ku.key_cert_sign:
                problem(ku_ext.critical, "key usage does not allow certificate signing")
        else:
            if not ku.digital_signature:
                problem(ku_ext.critical, "key usage does not allow digital signatures")
            if not ku.key_encipherment:
                if _needs_key_encipherment(cert):
                    problem(ku_ext.critical, "key usage does not allow key encipherment")
                elif ku_ext.critical:
                    # Acceptable here, but libvirt (GnuTLS) peers apply the RSA
                    # rule to every key type and refuse this certificate.
                    warnings.append(
                        "key usage does not allow key encipherment; fine for this key "
                        "type, but libvirt peers refuse it while the extension is critical"
                    )

    if kind != "ca":
        try:
            eku_ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except x509.ExtensionNotFound:
            pass  # no extended key usage: usable as both server and client
        else:
            oid, label = _EKU_FOR[kind]
            if oid not in eku_ext.value:
                problem(eku_ext.critical, f"extended key usage does not allow {label}")
    return errors, warnings


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _may_sign(issuer: x509.Certificate) -> bool:
    # GnuTLS and OpenSSL both refuse an issuer whose key usage lacks
    # keyCertSign when verifying a chain, whether or not it is critical.
    try:
        return issuer.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        return True


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    return _may_sign(issuer) and _signed_by(cert, issuer)


def _chains_to(
    cert: x509.Certificate,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
    depth: int = 0,
) -> bool:
    # Like GnuTLS, every certificate in the CA file is a trust anchor, so an
    # intermediate listed there is enough; intermediates that only appear after
    # the leaf in its own file are followed up to a listed CA.
    if any(_issued_by(cert, ca) for ca in anchors):
        return True
    if depth >= MAX_CA_CERTS:
        return False
    return any(
        _chains_to(link, anchors, [c for c in intermediates if c is not link], depth + 1)
        for link in intermediates
        if _issued_by(cert, link)
    )


# ---------------------------------------------------------------------------
# Loading


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc


def _load_certs(path: Path, what: str) -> list[x509.Certificate]:
    data = _read(path, what)
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TLSConfigError(f"{path}: no valid PEM certificate found ({exc})") from exc
    return certs


def _load_key(path: Path) -> PrivateKeyTypes:
    data = _read(path, "private key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:
        raise TLSConfigError(
            f"{path}: the private key is encrypted; an unencrypted key is required"
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise TLSConfigError(f"{path}: not a valid PEM private key ({exc})") from exc


def _load_crls(path: Path) -> list[x509.CertificateRevocationList]:
    data = _read(path, "certificate revocation list")
    blocks = _CRL_PEM.findall(data)
    if not blocks:
        raise TLSConfigError(f"{path}: no PEM certificate revocation list found")
    crls = []
    for block in blocks:
        try:
            crls.append(x509.load_pem_x509_crl(block))
        except ValueError as exc:
            raise TLSConfigError(f"{path}: invalid certificate revocation list ({exc})") from exc
    return crls


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_spki(key: PrivateKeyTypes) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@dataclass(frozen=True, slots=True)
class _State:
    ssl_context: ssl.SSLContext
    certificate: x509.Certificate
    ca_certificates: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...]
    warnings: tuple[str, ...]


def _sanity_check(
    files: PKIFiles,
    role: Role,
    cas: Sequence[x509.Certificate],
    chain: Sequence[x509.Certificate],
    key: PrivateKeyTypes,
    crls: Sequence[x509.CertificateRevocationList],
    now: _dt.datetime,
) -> list[str]:
    found: list[str] = []

    def note(text: str) -> None:
        # Logged at once, so that warnings show up even if a later check fails.
        logger.warning("%s", text)
        found.append(text)

    def run(cert: x509.Certificate, kind: _Kind, prefix: str) -> None:
        errors, warnings = _audit(cert, kind, now)
        if errors:
            raise TLSConfigError(f"{prefix} {errors[0]}")
        for text in warnings:
            note(f"{prefix} {text}")

    for ca in cas:
        run(ca, "ca", f"{files.ca_file}: CA certificate {format_dn(ca.subject)!r}")
    leaf, intermediates = chain[0], list(chain[1:])
    run(leaf, role, f"{files.cert_file}: certificate")
    for extra in intermediates:
        run(extra, "ca", f"{files.cert_file}: chain certificate {format_dn(extra.subject)!r}")

    if _spki(leaf) != _key_spki(key):
        raise TLSConfigError(
            f"{files.key_file}: private key does not match the certificate in {files.cert_file}"
        )
    if not _chains_to(leaf, cas, intermediates):
        for ca in (*cas, *intermediates):
            if _signed_by(leaf, ca) and not _may_sign(ca):
                raise TLSConfigError(
                    f"{files.cert_file}: certificate is signed by {format_dn(ca.subject)!r}, "
                    "whose key usage does not allow certificate signing"
                )
        raise TLSConfigError(
            f"{files.cert_file}: certificate (issuer {format_dn(leaf.issuer)!r}) is not "
            f"signed by any CA in {files.ca_file}"
        )

    if files.crl_file is not None:
        covered: set[bytes] = set()
        for crl in crls:
            signer = next(
                (ca for ca in cas if ca.subject == crl.issuer and _valid_crl(crl, ca)), None
            )
            if signer is None:
                raise TLSConfigError(
                    f"{files.crl_file}: CRL from {format_dn(crl.issuer)!r} is not signed by "
                    f"any CA in {files.ca_file}"
                )
            next_update = crl.next_update_utc
            if next_update is not None and next_update < now:
                # OpenSSL refuses every peer whose issuer's CRL is stale.
                raise TLSConfigError(
                    f"{files.crl_file}: CRL from {format_dn(crl.issuer)!r} expired on "
                    f"{_fmt_time(next_update)}"
                )
            covered.add(signer.fingerprint(hashes.SHA256()))
        for ca in cas:
            if ca.fingerprint(hashes.SHA256()) not in covered:
                note(
                    f"{files.crl_file}: no CRL for CA {format_dn(ca.subject)!r}; with CRL "
                    "checking on, peers it issued are refused"
                )
    return found


def _valid_crl(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    # Only the signature algorithms X.509 CAs use with TLS 1.2/1.3 peers; key-agreement
    # keys (X25519, X448, ML-KEM ...) cannot sign.  Narrowing to the classes every
    # cryptography release has keeps the type check stable as new key types appear.
    if not isinstance(key, _SIGNING_KEY_TYPES):
        return False
    try:
        return crl.is_signature_valid(key)
    except (TypeError, ValueError):
        return False


_SIGNING_KEY_TYPES = (
    rsa.RSAPublicKey,
    dsa.DSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
)


def _build_ssl_context(
    files: PKIFiles, role: Role, *, verify_peer: bool, priority: str | None
) -> ssl.SSLContext:
    server = role == "server"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(files.cert_file, files.key_file)
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigError(f"{files.cert_file}: OpenSSL cannot load it: {exc}") from exc
    try:
        ctx.load_verify_locations(cafile=files.ca_file)
    except (ssl.SSLError, OSError) as exc:
        raise TLSConfigError(f"{files.ca_file}: OpenSSL cannot load it: {exc}") from exc
    # GnuTLS trusts every certificate in the CA file, intermediates included;
    # OpenSSL only does so with PARTIAL_CHAIN.
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if files.crl_file is not None:
        try:
            ctx.load_verify_locations(cafile=files.crl_file)
        except (ssl.SSLError, OSError) as exc:
            raise TLSConfigError(f"{files.crl_file}: OpenSSL cannot load it: {exc}") from exc
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    if priority is not None and priority.upper() != "NORMAL":
        try:
            ctx.set_ciphers(priority)
        except ssl.SSLError as exc:
            raise TLSConfigError(f"invalid TLS cipher list {priority!r}: {exc}") from exc
    if server:
        # A TLS 1.3 server built on OpenSSL sends NewSessionTicket messages after
        # the handshake. A libvirt client (GnuTLS) polls, reads one record for the
        # confirmation byte, gets a ticket instead and fails with "Unable to read
        # TLS confirmation". libvirt never resumes sessions, so send no tickets.
        ctx.num_tickets = 0
    if verify_peer:
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        if not server:
            ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _load(
    files: PKIFiles, role: Role, *, sanity_check: bool, verify_peer: bool, priority: str | None
) -> _State:
    cas = _load_certs(files.ca_file, "CA certificate file")
    if len(cas) > MAX_CA_CERTS:
        raise TLSConfigError(
            f"{files.ca_file}: {len(cas)} certificates, at most {MAX_CA_CERTS} are supported"
        )
    chain = _load_certs(files.cert_file, "certificate file")
    key = _load_key(files.key_file)
    crls = _load_crls(files.crl_file) if files.crl_file is not None else []
    warnings: list[str] = []
    if sanity_check:
        now = _dt.datetime.now(_dt.UTC)
        warnings = _sanity_check(files, role, cas, chain, key, crls, now)
    ctx = _build_ssl_context(files, role, verify_peer=verify_peer, priority=priority)
    return _State(
        ssl_context=ctx,
        certificate=chain[0],
        ca_certificates=tuple(cas),
        crls=tuple(crls),
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------
# The context


@final
@dataclass(frozen=True, kw_only=True, slots=True)
class PeerIdentity:
    """Who is on the other end of a TLS connection, once it has been checked."""

    #: The peer certificate's subject rendered by :func:`format_dn`, or ``None`` if
    #: the peer presented no certificate (only possible with ``verify_peer=False``).
    dn: str | None
    #: The issuer's DN, same rendering.
    issuer_dn: str | None
    #: The peer's leaf certificate.
    certificate: x509.Certificate | None
    #: ``True`` if every check passed; ``False`` only with ``verify_peer=False``.
    verified: bool


#: What :meth:`TLSContext.check_peer` accepts: a TLS session object, a DER
#: certificate, a parsed certificate, or ``None`` (no certificate).
PeerCertificate: TypeAlias = ssl.SSLObject | ssl.SSLSocket | bytes | x509.Certificate | None


@final
class TLSContext:
    """TLS credentials and policy for one side of libvirt-style connections.

    Build it with :meth:`server`, :meth:`server_from_pki`, :meth:`client` or
    :meth:`client_from_pki`; pass :attr:`ssl_context` to the TLS layer (or use
    :func:`server_handshake` / :func:`client_handshake`), then call
    :meth:`check_peer` on the established session.

    :param files: the certificate, key, CA and CRL files
    :param role: ``"server"`` or ``"client"``
    :param allowed_dns: server only: DN glob allow-list; ``None`` = no check,
        empty = deny everyone (``tls_allowed_dn_list``)
    :param verify_peer: ``False`` logs peer-certificate problems instead of refusing
        the peer (``tls_no_verify_certificate``, or ``no_verify=1`` in a client URI);
        a server then does not ask for a client certificate at all
    :param sanity_check: ``False`` skips the load-time audit
        (``tls_no_sanity_certificate``)
    :param priority: an OpenSSL cipher list for TLS 1.2 (``tls_priority``);
        ``None`` or GnuTLS's ``"NORMAL"`` keep OpenSSL's defaults
    :raises TLSConfigError: if the files cannot be loaded or fail the audit
    """

    __slots__ = (
        "_allowed_dns",
        "_files",
        "_priority",
        "_role",
        "_sanity_check",
        "_state",
        "_verify_peer",
    )

    def __init__(
        self,
        files: PKIFiles,
        *,
        role: Role,
        allowed_dns: Sequence[str] | None = None,
        verify_peer: bool = True,
        sanity_check: bool = True,
        priority: str | None = None,
    ) -> None:
        if role not in ("server", "client"):
            raise ValueError(f"role must be 'server' or 'client', not {role!r}")
        if allowed_dns is not None and role != "server":
            raise ValueError("allowed_dns only applies to a server context")
        if isinstance(allowed_dns, str):
            raise TypeError("allowed_dns must be a sequence of patterns, not one string")
        self._files = files
        self._role: Role = role
        self._allowed_dns = tuple(allowed_dns) if allowed_dns is not None else None
        self._verify_peer = verify_peer
        self._sanity_check = sanity_check
        self._priority = priority
        self._state = self._load()

    # -- constructors -------------------------------------------------------

    @classmethod
    def server(
        cls,
        *,
        ca_file: str | os.PathLike[str],
        cert_file: str | os.PathLike[str],
        key_file: str | os.PathLike[str],
        crl_file: str | os.PathLike[str] | None = None,
        allowed_dns: Sequence[str] | None = None,
        verify_peer: bool = True,
        sanity_check: bool = True,
        priority: str | None = None,
    ) -> TLSContext:
        """Build a server context from explicit files (libvirtd.conf's ``key_file``,
        ``cert_file``, ``ca_file``, ``crl_file``).

        :raises TLSConfigError: see :class:`TLSContext`
        """
        files = PKIFiles.from_paths(ca_file, cert_file, key_file, crl_file)
        return cls(
            files,
            role="server",
            allowed_dns=allowed_dns,
            verify_peer=verify_peer,
            sanity_check=sanity_check,
            priority=priority,
        )

    @classmethod
    def server_from_pki(
        cls,
        path: str | os.PathLike[str],
        *,
        allowed_dns: Sequence[str] | None = None,
        verify_peer: bool = True,
        sanity_check: bool = True,
        priority: str | None = None,
    ) -> TLSContext:
        """Build a server context from a PKI directory (``cacert.pem``, optional
        ``cacrl.pem``, ``servercert.pem``, ``serverkey.pem`` or
        ``private/serverkey.pem``).

        :raises TLSConfigError: see :class:`TLSContext`
        """
        return cls(
            PKIFiles.from_pki_dir(path, role="server"),
            role="server",
            allowed_dns=allowed_dns,
            verify_peer=verify_peer,
            sanity_check=sanity_check,
            priority=priority,
        )

    @classmethod
    def client(
        cls,
        *,
        ca_file: str | os.PathLike[str],
        cert_file: str | os.PathLike[str],
        key_file: str | os.PathLike[str],
        crl_file: str | os.PathLike[str] | None = None,
        verify_peer: bool = True,
        sanity_check: bool = True,
        priority: str | None = None,
    ) -> TLSContext:
        """Build a client context from explicit files.

        :raises TLSConfigError: see :class:`TLSContext`
        """
        files = PKIFiles.from_paths(ca_file, cert_file, key_file, crl_file)
        return cls(
            files,
            role="client",
            verify_peer=verify_peer,
            sanity_check=sanity_check,
            priority=priority,
        )

    @classmethod
    def client_from_pki(
        cls,
        path: str | os.PathLike[str],
        *,
        verify_peer: bool = True,
        sanity_check: bool = True,
        priority: str | None = None,
    ) -> TLSContext:
        """Build a client context from a PKI directory, as virsh's ``?pkipath=``
        does (``cacert.pem``, optional ``cacrl.pem``, ``clientcert.pem``,
        ``clientkey.pem`` or ``private/clientkey.pem``). The server host name is
        given per connection to :func:`client_handshake`.

        :raises TLSConfigError: see :class:`TLSContext`
        """
        return cls(
            PKIFiles.from_pki_dir(path, role="client"),
            role="client",
            verify_peer=verify_peer,
            sanity_check=sanity_check,
            priority=priority,
        )

    # -- state --------------------------------------------------------------

    def _load(self) -> _State:
        return _load(
            self._files,
            self._role,
            sanity_check=self._sanity_check,
            verify_peer=self._verify_peer,
            priority=self._priority,
        )

    def reload(self) -> None:
        """Re-read the files; new connections use the new credentials.

        On failure the current credentials stay in use and the error is raised
        (libvirt's admin ``UPDATE_TLS_FILES``). Connections already established
        are not affected either way.

        :raises TLSConfigError: if the new files cannot be loaded or fail the audit
        """
        self._state = self._load()

    def __repr__(self) -> str:
        return f"<TLSContext role={self._role} cert={str(self._files.cert_file)!r}>"

    @property
    def role(self) -> Role:
        """``"server"`` or ``"client"``."""
        return self._role

    @property
    def files(self) -> PKIFiles:
        """The files this context reads."""
        return self._files

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The current :class:`ssl.SSLContext`; treat it as read-only."""
        return self._state.ssl_context

    @property
    def certificate(self) -> x509.Certificate:
        """This side's certificate."""
        return self._state.certificate

    @property
    def ca_certificates(self) -> tuple[x509.Certificate, ...]:
        """The trusted CA certificates."""
        return self._state.ca_certificates

    @property
    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        """The loaded certificate revocation lists (empty without ``cacrl.pem``)."""
        return self._state.crls

    @property
    def warnings(self) -> tuple[str, ...]:
        """Non-fatal findings of the last load (also logged)."""
        return self._state.warnings

    @property
    def allowed_dns(self) -> tuple[str, ...] | None:
        """The DN allow-list (``None``: no check)."""
        return self._allowed_dns

    @property
    def verify_peer(self) -> bool:
        """Whether peer certificate problems refuse the peer."""
        return self._verify_peer

    # -- sessions -----------------------------------------------------------

    def is_dn_allowed(self, dn: str) -> bool:
        """Apply the DN allow-list (always ``True`` on a client context).

        :param dn: a DN rendered by :func:`format_dn`
        """
        return dn_matches(dn, self._allowed_dns)

    def check_peer(self, peer: PeerCertificate) -> PeerIdentity:
        """Check the peer's certificate after a successful handshake.

        The handshake has already verified the chain, dates, revocation and (on a
        client) the host name. This adds libvirt's per-session rules: the peer's
        leaf must not be a CA, its key usage must allow signatures (and key
        encipherment for RSA), its extended key usage must allow its role (the
        critical/non-critical rule applies), and on a server its DN must pass the
        allow-list.

        :param peer: the TLS object of the session (``ssl.SSLObject`` or
            ``ssl.SSLSocket``), the peer certificate in DER, a parsed certificate, or
            ``None`` if the peer sent none
        :return: the peer's identity
        :raises TLSAccessDenied: if the peer is refused (the DN is in the message)
        """
        if isinstance(peer, ssl.SSLObject | ssl.SSLSocket):
            peer = peer.getpeercert(binary_form=True)
        if isinstance(peer, bytes):
            try:
                peer = x509.load_der_x509_certificate(peer)
            except ValueError as exc:
                return self._refuse(f"cannot parse the peer certificate: {exc}", None)
        their_role: _Kind = "client" if self._role == "server" else "server"
        if peer is None:
            return self._refuse(f"the {their_role} did not present a certificate", None)

        dn = format_dn(peer.subject)
        errors, warnings = _audit(peer, their_role, _dt.datetime.now(_dt.UTC))
        for text in warnings:
            logger.warning("%s certificate %r %s", their_role, dn, text)
        if errors:
            return self._refuse(f"{their_role} certificate {dn!r} {errors[0]}", peer)
        if not self.is_dn_allowed(dn):
            return self._refuse(
                f"{their_role}'s distinguished name {dn!r} is not on the list of allowed "
                f"clients (tls_allowed_dn_list); 'netrpc-certs --query-dn CERT' shows a "
                "certificate's DN",
                peer,
            )
        return PeerIdentity(
            dn=dn, issuer_dn=format_dn(peer.issuer), certificate=peer, verified=True
        )

    def _refuse(self, reason: str, cert: x509.Certificate | None) -> PeerIdentity:
        if self._verify_peer:
            raise TLSAccessDenied(reason)
        logger.warning("ignoring a bad peer certificate (verification is off): %s", reason)
        return PeerIdentity(
            dn=format_dn(cert.subject) if cert is not None else None,
            issuer_dn=format_dn(cert.issuer) if cert is not None else None,
            certificate=cert,
            verified=False,
        )


# ---------------------------------------------------------------------------
# Handshakes


def check_confirmation(data: bytes) -> None:
    """Check what a client read right after the handshake.

    :param data: the first byte(s) read from the TLS session; ``b""`` means EOF
    :raises TLSHandshakeError: unless ``data`` is :data:`CONFIRMATION_BYTE`
    """
    if data == CONFIRMATION_BYTE:
        return
    if not data:
        raise TLSHandshakeError(
            "the server closed the connection instead of confirming the TLS session: "
            "it refused our certificate or its DN"
        )
    raise TLSHandshakeError(f"unexpected TLS confirmation {data!r} from the server")


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"{exc.reason}: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    if isinstance(exc, anyio.EndOfStream):
        return "the peer closed the connection"
    return str(exc) or type(exc).__name__


# A timeout parameter (rather than the caller's cancel scope) because it is a
# per-service setting like anyio's TLSListener.handshake_timeout, and the stream
# must be closed when it fires.
async def server_handshake(
    stream: AnyByteStream,
    ctx: TLSContext,
    *,
    timeout: float,  # noqa: ASYNC109
) -> tuple[TLSStream, PeerIdentity]:
    """Run the server side of a libvirt TLS session setup.

    Handshake, :meth:`TLSContext.check_peer`, then :data:`CONFIRMATION_BYTE`, all
    within ``timeout`` seconds. On any failure the transport stream is closed
    (without a confirmation byte, which is how a libvirt client learns it was
    refused) and the error is raised.

    :param stream: the accepted connection; ownership passes to this function
    :param ctx: a server :class:`TLSContext`
    :param timeout: seconds allowed for the whole setup
    :return: the TLS stream (ready for RPC records) and the client's identity
    :raises TimeoutError: if the client is too slow
    :raises TLSHandshakeError: if the TLS handshake fails
    :raises TLSAccessDenied: if the client certificate or DN is refused
    """
    ssl_context = ctx.ssl_context  # one snapshot, even if reload() runs meanwhile
    try:
        with anyio.fail_after(timeout):
            try:
                tls = await TLSStream.wrap(
                    stream,
                    server_side=True,
                    ssl_context=ssl_context,
                    standard_compatible=False,
                )
            except (ssl.SSLError, anyio.EndOfStream, anyio.BrokenResourceError) as exc:
                raise TLSHandshakeError(f"TLS handshake failed: {_why(exc)}") from exc
            identity = ctx.check_peer(tls.extra(TLSAttribute.ssl_object))
            try:
                await tls.send(CONFIRMATION_BYTE)
            except (ssl.SSLError, anyio.BrokenResourceError) as exc:
                raise TLSHandshakeError(f"cannot confirm the TLS session: {_why(exc)}") from exc
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    return tls, identity


async def client_handshake(
    stream: AnyByteStream,
    ctx: TLSContext,
    *,
    hostname: str | None,
    timeout: float,  # noqa: ASYNC109
) -> tuple[TLSStream, PeerIdentity]:
    """Run the client side of a libvirt TLS session setup.

    Handshake (checking the server's certificate against ``hostname``, a DNS name
    or an IP address), :meth:`TLSContext.check_peer`, then wait for the server's
    :data:`CONFIRMATION_BYTE`, all within ``timeout`` seconds. On failure the
    transport stream is closed and the error raised.

    :param stream: a connected byte stream; ownership passes to this function
    :param ctx: a client :class:`TLSContext`
    :param hostname: the server name to verify (``None`` only with
        ``verify_peer=False``)
    :param timeout: seconds allowed for the whole setup
    :return: the TLS stream (ready for RPC records) and the server's identity
    :raises TimeoutError: if the server is too slow
    :raises TLSHandshakeError: if the handshake fails (e.g. host name mismatch) or
        the server closes instead of confirming (it refused our certificate)
    :raises TLSAccessDenied: if the server's certificate fails the session checks
    """
    ssl_context = ctx.ssl_context
    try:
        with anyio.fail_after(timeout):
            try:
                tls = await TLSStream.wrap(
                    stream,
                    server_side=False,
                    hostname=hostname,
                    ssl_context=ssl_context,
                    standard_compatible=False,
                )
            except (ssl.SSLError, anyio.EndOfStream, anyio.BrokenResourceError) as exc:
                raise TLSHandshakeError(f"TLS handshake failed: {_why(exc)}") from exc
            identity = ctx.check_peer(tls.extra(TLSAttribute.ssl_object))
            try:
                # TLS 1.3 servers check the client certificate after the client's
                # handshake has finished, so a refusal shows up here as an alert.
                data = await tls.receive(1)
            except anyio.EndOfStream:
                data = b""
            except (ssl.SSLError, anyio.BrokenResourceError) as exc:
                raise TLSHandshakeError(
                    "the server refused the TLS session (it probably rejected our "
                    f"certificate): {_why(exc)}"
                ) from exc
            check_confirmation(data)
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    return tls, identity
