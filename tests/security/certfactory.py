"""Certificates for the TLS tests, generated once per process.

Mirrors the certificate matrix of libvirt's TLS context/session tests: good and
bad CAs, servers and clients, expired and not-yet-active ones, a CA chain, a
second unrelated CA. Everything uses EC P-256 keys so the whole set takes well
under a second to build.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import anyio
from anyio.streams.stapled import StapledObjectStream
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from netrpc.security.certs import (
    CA_KEY_USAGE,
    Credential,
    make_ca,
    make_cert,
    make_client_cert,
    make_server_cert,
    write_pem,
)

NOW = dt.datetime.now(dt.UTC)
LONG_AGO = NOW - dt.timedelta(days=400)
RECENTLY = NOW - dt.timedelta(days=1)
SOON = NOW + dt.timedelta(days=1)
FAR = NOW + dt.timedelta(days=400)

SERVER_HOSTS = ("localhost", "127.0.0.1", "::1")
CLIENT_DN = "C=UK,CN=libvirt"


@dataclass(frozen=True)
class Matrix:
    """Every certificate the tests use."""

    ca: Credential
    other_ca: Credential
    server: Credential
    client: Credential
    other_client: Credential  # issued by other_ca
    cas: dict[str, Credential]
    servers: dict[str, Credential]
    clients: dict[str, Credential]
    chain_root: Credential
    chain_l1a: Credential
    chain_l1b: Credential
    chain_l2a: Credential
    chain_server: Credential  # issued by chain_l2a
    chain_client: Credential  # issued by chain_l1b


def _leaf(ca: Credential, role: Literal["server", "client"], **kwargs: object) -> Credential:
    subject = "C=UK,CN=libvirt.org" if role == "server" else CLIENT_DN
    extra: dict[str, object] = {}
    if role == "server":
        extra = {"dns_names": ["localhost"], "ip_addresses": ["127.0.0.1", "::1"]}
    extra.update(kwargs)
    return make_cert(subject, issuer=ca, **extra)  # type: ignore[arg-type]


@functools.cache
def matrix() -> Matrix:
    """Build (once) and return the certificate matrix."""
    ca = make_ca("C=UK,CN=Libvirt Test CA")
    other_ca = make_ca("C=UK,CN=Other CA")

    cas = {
        "good": ca,
        "bc_noncritical": make_cert(
            "C=UK,CN=CA bc noncritical",
            is_ca=True,
            basic_constraints_critical=False,
            key_usage=CA_KEY_USAGE,
        ),
        "ku_certsign_only": make_cert(
            "C=UK,CN=CA certsign", is_ca=True, key_usage=["key_cert_sign"]
        ),
        "ku_digsig_critical": make_cert(
            "C=UK,CN=CA digsig", is_ca=True, key_usage=["digital_signature"]
        ),
        "ku_digsig_noncritical": make_cert(
            "C=UK,CN=CA digsig nc",
            is_ca=True,
            key_usage=["digital_signature"],
            key_usage_critical=False,
        ),
        "no_bc": make_cert("C=UK,CN=CA no bc", is_ca=None, key_usage=CA_KEY_USAGE),
        "not_ca": make_cert("C=UK,CN=CA false", is_ca=False, key_usage=CA_KEY_USAGE),
        "expired": make_ca("C=UK,CN=CA expired", not_before=LONG_AGO, not_after=RECENTLY),
        "inactive": make_ca("C=UK,CN=CA inactive", not_before=SOON, not_after=FAR),
    }

    def both(name: str, **kwargs: object) -> None:
        servers[name] = _leaf(ca, "server", **kwargs)
        clients[name] = _leaf(ca, "client", **kwargs)

    servers: dict[str, Credential] = {}
    clients: dict[str, Credential] = {}
    both("no_usage", key_usage=None, extended_key_usage=None)
    both(
        "ku_all",
        key_usage=["key_cert_sign", "digital_signature", "key_encipherment"],
    )
    both("ku_certsign_critical", key_usage=["key_cert_sign"])
    both("ku_certsign_noncritical", key_usage=["key_cert_sign"], key_usage_critical=False)
    both("ku_empty_critical", key_usage=[])
    both("is_ca", is_ca=True, key_usage=CA_KEY_USAGE)
    both("expired", not_before=LONG_AGO, not_after=RECENTLY)
    both("inactive", not_before=SOON, not_after=FAR)
    both(
        "eku_both_critical",
        extended_key_usage=["client_auth", "server_auth"],
        extended_key_usage_critical=True,
    )
    both("eku_both", extended_key_usage=["client_auth", "server_auth"])
    servers["eku_own_critical"] = _leaf(
        ca, "server", extended_key_usage=["server_auth"], extended_key_usage_critical=True
    )
    clients["eku_own_critical"] = _leaf(
        ca, "client", extended_key_usage=["client_auth"], extended_key_usage_critical=True
    )
    servers["eku_wrong_critical"] = _leaf(
        ca, "server", extended_key_usage=["client_auth"], extended_key_usage_critical=True
    )
    clients["eku_wrong_critical"] = _leaf(
        ca, "client", extended_key_usage=["server_auth"], extended_key_usage_critical=True
    )
    servers["eku_wrong_noncritical"] = _leaf(ca, "server", extended_key_usage=["client_auth"])
    clients["eku_wrong_noncritical"] = _leaf(ca, "client", extended_key_usage=["server_auth"])

    chain_root = make_ca("C=UK,CN=chain root")
    chain_l1a = make_ca("C=UK,CN=chain level 1a", issuer=chain_root)
    chain_l1b = make_ca("C=UK,CN=chain level 1b", issuer=chain_root)
    chain_l2a = make_ca("C=UK,CN=chain level 2a", issuer=chain_l1a)

    return Matrix(
        ca=ca,
        other_ca=other_ca,
        server=make_server_cert(ca, SERVER_HOSTS, subject="C=UK,CN=libvirt.org"),
        client=make_client_cert(ca, "libvirt", subject=CLIENT_DN),
        other_client=make_client_cert(other_ca, "libvirt", subject=CLIENT_DN),
        cas=cas,
        servers=servers,
        clients=clients,
        chain_root=chain_root,
        chain_l1a=chain_l1a,
        chain_l1b=chain_l1b,
        chain_l2a=chain_l2a,
        chain_server=make_server_cert(chain_l2a, SERVER_HOSTS),
        chain_client=make_client_cert(chain_l1b, "chain client"),
    )


def write_pki(
    directory: Path,
    *,
    role: Literal["server", "client"],
    cas: Sequence[Credential | x509.Certificate],
    leaf: Credential,
    chain: Sequence[Credential] = (),
    key: Credential | None = None,
    crl: x509.CertificateRevocationList | Sequence[x509.CertificateRevocationList] | None = None,
    key_in_private_dir: bool = False,
) -> Path:
    """Write a pkipath directory for one side: any CA list, any leaf, any key."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem = b"".join(
        (c.cert_pem() if isinstance(c, Credential) else c.public_bytes(serialization.Encoding.PEM))
        for c in cas
    )
    write_pem(directory / "cacert.pem", ca_pem)
    write_pem(
        directory / f"{role}cert.pem", leaf.cert_pem() + b"".join(c.cert_pem() for c in chain)
    )
    key_dir = directory / "private" if key_in_private_dir else directory
    key_dir.mkdir(exist_ok=True)
    write_pem(key_dir / f"{role}key.pem", (key or leaf).key_pem(), private=True)
    if crl is not None:
        crls = [crl] if isinstance(crl, x509.CertificateRevocationList) else list(crl)
        write_pem(
            directory / "cacrl.pem",
            b"".join(c.public_bytes(serialization.Encoding.PEM) for c in crls),
        )
    return directory


def stream_pair() -> tuple[StapledObjectStream[bytes], StapledObjectStream[bytes]]:
    """Two connected in-memory byte streams (unbounded buffers, like a socketpair)."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](math.inf)
    b_send, a_receive = anyio.create_memory_object_stream[bytes](math.inf)
    return StapledObjectStream(a_send, a_receive), StapledObjectStream(b_send, b_receive)
