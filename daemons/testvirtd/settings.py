"""How testvirtd uses a libvirtd.conf-style file: every setting takes effect or is refused.

libvirtd silently ignores settings that do not apply (``tls_port`` without ``listen_tls``,
``auth_tls`` without a TLS socket, obsolete keys).  testvirtd refuses them instead, naming
the file, line and setting, so that nothing a user wrote is quietly without effect::

    testvirtd: error: tv.conf:3: tcp_port: listen_tcp is 0, so there is no TCP endpoint

Without ``--listen`` the endpoints come from the file, as libvirtd's ``--listen`` mode
takes them (``unix_sock_dir``, ``listen_tcp``, ``listen_tls``, ``listen_addr``,
``tcp_port``, ``tls_port``), with testvirtd's own defaults where libvirtd's would need
certificates or listen on every interface: TCP on ``127.0.0.1:16509`` unless
``listen_tcp = 0``, TLS only with ``listen_tls = 1``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from netrpc.admin.config import ConfigError, DaemonConfig

from .daemon import (
    AUTH_KEYS,
    DEFAULT_TCP_PORT,
    DEFAULT_TLS_PORT,
    Listen,
    auth_of,
    runtime_dir,
)

__all__ = ("Choices", "check_settings", "listens_from_config")

#: settings that describe the endpoints (not used with --listen)
LISTEN_KEYS = ("listen_tcp", "listen_tls", "listen_addr", "tcp_port", "tls_port", "unix_sock_dir")
#: settings of the TLS endpoints
TLS_KEYS = (
    "key_file", "cert_file", "ca_file", "crl_file", "tls_no_verify_certificate",
    "tls_no_sanity_certificate", "tls_allowed_dn_list", "tls_priority",
)
#: settings of the admin server
ADMIN_KEYS = (
    "unix_sock_admin_perms", "admin_min_workers", "admin_max_workers", "admin_max_clients",
    "admin_max_queued_clients", "admin_max_client_requests", "admin_keepalive_interval",
    "admin_keepalive_count",
)
#: settings of SASL logins
SASL_KEYS = (
    "sasl_mech_list", "sasl_passwd_file", "sasl_keytab", "sasl_allowed_username_list",
    "tcp_min_ssf",
)
_NO_SASL = (
    'no endpoint uses SASL (set auth_unix_rw, auth_unix_ro, auth_tcp or auth_tls to "sasl")'
)


@dataclass(frozen=True, slots=True)
class Choices:
    """What the command line decided (options win over the file, which must then not set
    the same thing)."""

    listen: bool = False
    pki: bool = False
    tls_allowed_dn: bool = False
    no_admin: bool = False
    mdns: bool = False
    mdns_name: bool = False


def _port(config: DaemonConfig, key: str, default: int) -> int:
    if key not in config.lines:
        return default
    text = str(getattr(config, key))
    if text.isdigit() and 0 < int(text) < 65536:
        return int(text)
    try:
        return socket.getservbyname(text, "tcp")
    except OSError:
        raise ConfigError(
            config.source or "<config>", config.lines[key],
            f"{text!r} is neither a port number nor a known service name", key,
        ) from None


def _tcp(config: DaemonConfig) -> bool:
    return config.listen_tcp if "listen_tcp" in config.lines else True


def _tls(config: DaemonConfig) -> bool:
    return config.listen_tls if "listen_tls" in config.lines else False


def listens_from_config(config: DaemonConfig) -> list[Listen]:
    """The endpoints when no ``--listen`` is given (see the module docs).

    :raises ConfigError: for a port that is neither a number nor a service name.
    """
    directory = config.unix_sock_dir or runtime_dir()
    listens = [
        Listen("unix", path=os.path.join(directory, "libvirt-sock")),
        Listen("unix-ro", path=os.path.join(directory, "libvirt-sock-ro")),
    ]
    host = config.listen_addr or "127.0.0.1"
    if _tcp(config):
        listens.append(Listen("tcp", host=host, port=_port(config, "tcp_port", DEFAULT_TCP_PORT)))
    if _tls(config):
        listens.append(Listen("tls", host=host, port=_port(config, "tls_port", DEFAULT_TLS_PORT)))
    return listens


def check_settings(config: DaemonConfig, listens: Sequence[Listen], choices: Choices) -> None:
    """Refuse the first setting of the file that cannot take effect.

    :raises ConfigError: naming the file, the line and the setting.
    """
    given = config.lines
    problems: list[tuple[str, str]] = []

    def unused(key: str, why: str) -> None:
        if key in given:
            problems.append((key, why))

    kinds = {listen.kind for listen in listens}
    if choices.listen:
        for key in LISTEN_KEYS:
            unused(key, "not used with --listen (the endpoints come from --listen)")
    else:
        if not _tcp(config):
            unused("tcp_port", "listen_tcp is 0, so there is no TCP endpoint")
        if not _tls(config):
            unused("tls_port", "listen_tls is not 1, so there is no TLS endpoint")
        if not _tcp(config) and not _tls(config):
            unused("listen_addr", "there is no TCP or TLS endpoint (listen_tcp, listen_tls)")
    for kind, key in AUTH_KEYS.items():
        if kind not in kinds:
            unused(key, f"there is no {_KIND_NAMES[kind]}")
    if "unix" not in kinds:
        unused("unix_sock_rw_perms", "there is no read-write unix socket")
    if "unix-ro" not in kinds:
        unused("unix_sock_ro_perms", "there is no read-only unix socket")
    if not kinds & {"unix", "unix-ro"} and choices.no_admin:
        unused("unix_sock_group", "there is no unix socket")
    if "tls" not in kinds:
        for key in TLS_KEYS:
            unused(key, "there is no TLS endpoint")
    else:
        if choices.pki:
            for key in ("key_file", "cert_file", "ca_file", "crl_file"):
                unused(key, "--pki gives the TLS files")
        if choices.tls_allowed_dn:
            unused("tls_allowed_dn_list", "--tls-allowed-dn replaces it")
    if choices.no_admin:
        for key in ADMIN_KEYS:
            unused(key, "there is no admin server (--no-admin)")
    if not (config.mdns_adv or choices.mdns):
        unused("mdns_name", "nothing is advertised (mdns_adv is 0 and --mdns is not given)")
    elif choices.mdns_name:
        unused("mdns_name", "--mdns-name replaces it")
    for key in ("keepalive_required", "admin_keepalive_required"):
        unused(key, "obsolete (libvirtd ignores it); remove it")
    sasl_kinds = {kind for kind in kinds if auth_of(config, kind) == "sasl"}
    if not sasl_kinds:
        for key in SASL_KEYS:
            unused(key, _NO_SASL)
    else:
        if "tcp" not in sasl_kinds:
            unused("tcp_min_ssf", 'it applies to plain TCP, and auth_tcp is not "sasl"')
        mechs = [m.lower() for m in config.extra.get("sasl_mech_list") or []]
        if mechs and "scram-sha-256" not in mechs:
            unused("sasl_passwd_file", "sasl_mech_list has no scram-sha-256")
        if mechs and "gssapi" not in mechs:
            unused("sasl_keytab", "sasl_mech_list has no gssapi")
    if problems:
        key, why = min(problems, key=lambda p: given[p[0]])
        raise ConfigError(config.source or "<config>", given[key], why, key)


_KIND_NAMES = {
    "unix": "read-write unix socket",
    "unix-ro": "read-only unix socket",
    "tcp": "TCP endpoint",
    "tls": "TLS endpoint",
}
