"""libvirtd.conf-style configuration files: parsing, a typed schema, run-time application.

Syntax (libvirt's ``virconf``)::

    # a comment
    listen_tcp = 1                      # booleans are 0 or 1
    tcp_port = "16509"                  # strings: "..." or '...', with \\" \\\\ \\n \\t escapes
    max_clients = 5000                  # integers (may be negative)
    tls_allowed_dn_list = [ "C=GB,*",   # lists of strings, possibly over several lines,
                            "C=FR,*", ] # a trailing comma is allowed

Every key must be known (see :data:`SCHEMA`; daemons add their own with *extra_keys*), and
every value must have the key's type.  Errors name the file and line::

    testvirtd.conf:12: max_clients: expected an integer, got "lots"

:func:`load_config` returns a frozen :class:`DaemonConfig` with libvirt's defaults for what
the file leaves out.  :func:`apply_runtime` applies the settings that can change while a
daemon runs (client limits, worker pools, keepalive and request budgets of new clients,
logging, TLS credentials), which is what a daemon does on SIGHUP.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..io.server.config import DEFAULT_MAX_CLIENT_OUTPUT
from .logconfig import LogConfig, LoggingError, parse_filters, parse_outputs

if TYPE_CHECKING:
    from ..io.server import Daemon, Server

__all__ = (
    "RESTART_KEYS",
    "SCHEMA",
    "SSF_WARNING_LEVEL",
    "ConfigError",
    "ConfigKey",
    "DaemonConfig",
    "apply_runtime",
    "config_from_text",
    "load_config",
    "parse_config",
    "parse_config_text",
)

log = logging.getLogger("netrpc.config")

KeyType = Literal["bool", "int", "string", "list"]


class ConfigError(ValueError):
    """A configuration file is invalid.

    :ivar filename: the file (as given).
    :ivar line: 1-based line number, or 0 when the error is not tied to a line.
    :ivar key: the setting concerned, if any.
    """

    def __init__(self, filename: str, line: int, message: str, key: str | None = None) -> None:
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {key}: {message}" if key else f"{where}: {message}")
        self.filename = filename
        self.line = line
        self.key = key
        self.message = message


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """A known setting: its type and default (None: unset)."""

    type: KeyType
    default: Any = None
    help: str = ""


def _k(type_: KeyType, default: Any = None, help: str = "") -> ConfigKey:
    return ConfigKey(type_, default, help)


#: libvirtd's settings this module knows, with libvirt's defaults
SCHEMA: Mapping[str, ConfigKey] = {
    "listen_tls": _k("bool", True, "listen for TLS connections (with --listen)"),
    "listen_tcp": _k("bool", False, "listen for plain TCP connections (with --listen)"),
    "listen_addr": _k("string", None, "address to listen on (unset: all interfaces)"),
    "tls_port": _k("string", "16514", "TLS port (number or service name)"),
    "tcp_port": _k("string", "16509", "TCP port (number or service name)"),
    "unix_sock_dir": _k("string", None, "directory of the unix sockets"),
    "unix_sock_group": _k("string", None, "group owning the unix sockets"),
    "unix_sock_ro_perms": _k("string", "0777", "permissions of the read-only socket"),
    "unix_sock_rw_perms": _k("string", "0700", "permissions of the read-write socket"),
    "unix_sock_admin_perms": _k("string", "0700", "permissions of the admin socket"),
    "auth_unix_ro": _k("string", None, 'authentication on the read-only socket: "none", "sasl"'),
    "auth_unix_rw": _k("string", None, 'authentication on the read-write socket'),
    "auth_tcp": _k("string", None, "authentication on plain TCP"),
    "auth_tls": _k("string", None, "authentication on TLS (after the certificate check)"),
    "sasl_allowed_username_list": _k("list", None, "SASL user name globs (unset: anyone)"),
    "tcp_min_ssf": _k("int", 56, "minimum SASL SSF on plain TCP (a set value must be >= 112)"),
    "key_file": _k("string", None),
    "cert_file": _k("string", None),
    "ca_file": _k("string", None),
    "crl_file": _k("string", None),
    "tls_no_verify_certificate": _k("bool", False),
    "tls_no_sanity_certificate": _k("bool", False),
    "tls_allowed_dn_list": _k("list", None, "DN globs allowed (unset: no check)"),
    "tls_priority": _k("string", None),
    "max_clients": _k("int", 5000),
    "max_anonymous_clients": _k("int", 20),
    "max_queued_clients": _k("int", 1000),
    "min_workers": _k("int", 5),
    "max_workers": _k("int", 20),
    "prio_workers": _k("int", 5),
    "max_client_requests": _k("int", 5),
    "max_client_output": _k(
        "int", DEFAULT_MAX_CLIENT_OUTPUT,
        "bytes of a client's unread replies at which its calls wait (0: no limit)",
    ),
    "keepalive_interval": _k("int", 5),
    "keepalive_count": _k("int", 5),
    "keepalive_required": _k("int", None, "obsolete, ignored"),
    "admin_min_workers": _k("int", 5),
    "admin_max_workers": _k("int", 20),
    "admin_max_clients": _k("int", 5000),
    "admin_max_queued_clients": _k("int", 20),
    "admin_max_client_requests": _k("int", 5),
    "admin_keepalive_interval": _k("int", 5),
    "admin_keepalive_count": _k("int", 5),
    "admin_keepalive_required": _k("int", None, "obsolete, ignored"),
    "log_level": _k("int", 3),
    "log_outputs": _k("string", None),
    "log_filters": _k("string", None),
    "mdns_adv": _k("bool", False),
    "mdns_name": _k("string", None),
}

_AUTH_KEYS = ("auth_unix_ro", "auth_unix_rw", "auth_tcp", "auth_tls")
#: libvirtd refuses a configured tcp_min_ssf below this (SSF_WARNING_LEVEL)
SSF_WARNING_LEVEL = 112
_PERMS_KEYS = ("unix_sock_ro_perms", "unix_sock_rw_perms", "unix_sock_admin_perms")
#: the largest max_client_output (admin reports it as an unsigned 32-bit value)
MAX_CLIENT_OUTPUT_LIMIT = 0xFFFFFFFF
_POSITIVE_KEYS = ("max_workers", "admin_max_workers")
_NON_NEGATIVE_KEYS = (
    "max_clients",
    "max_anonymous_clients",
    "max_queued_clients",
    "min_workers",
    "prio_workers",
    "max_client_requests",
    "keepalive_count",
    "admin_min_workers",
    "admin_max_clients",
    "admin_max_queued_clients",
    "admin_max_client_requests",
    "admin_keepalive_count",
)


# ------------------------------------------------------------------------------------------
# lexer / parser


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.pos = 0
        self.line = 1

    def error(self, message: str, key: str | None = None, line: int | None = None) -> ConfigError:
        return ConfigError(self.filename, line or self.line, message, key)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def advance(self) -> str:
        ch = self.text[self.pos]
        self.pos += 1
        if ch == "\n":
            self.line += 1
        return ch

    def skip_blank(self, *, newlines: bool) -> None:
        while True:
            ch = self.peek()
            if ch in (" ", "\t", "\r") or (newlines and ch == "\n"):
                self.advance()
            elif ch == "#":
                while self.peek() not in ("", "\n"):
                    self.advance()
            else:
                return

    def parse(self) -> list[tuple[str, Any, int]]:
        entries: list[tuple[str, Any, int]] = []
        while True:
            self.skip_blank(newlines=True)
            if not self.peek():
                return entries
            line = self.line
            key = self.name()
            self.skip_blank(newlines=False)
            if self.peek() != "=":
                raise self.error(f"expected '=' after {key!r}")
            self.advance()
            self.skip_blank(newlines=False)
            value = self.value(key)
            self.skip_blank(newlines=False)
            if self.peek() == ";":
                self.advance()
                self.skip_blank(newlines=False)
            if self.peek() not in ("", "\n"):
                raise self.error(f"unexpected {self.peek()!r} after the value", key)
            entries.append((key, value, line))

    def name(self) -> str:
        start = self.pos
        ch = self.peek()
        if not (ch.isascii() and (ch.isalpha() or ch == "_")):
            raise self.error(f"expected a setting name, got {ch!r}")
        while (c := self.peek()) and c.isascii() and (c.isalnum() or c in "_.-"):
            self.advance()
        return self.text[start : self.pos]

    def value(self, key: str) -> Any:
        ch = self.peek()
        if ch in ('"', "'"):
            return self.string(key)
        if ch == "[":
            return self.list(key)
        if ch == "-" or ch.isdigit():
            return self.integer(key)
        if ch in ("", "\n"):
            raise self.error("missing value", key)
        start = self.pos
        while self.peek() not in ("", "\n", " ", "\t", "#"):
            self.advance()
        raise self.error(f"invalid value {self.text[start : self.pos]}", key)

    def integer(self, key: str) -> int:
        start = self.pos
        if self.peek() == "-":
            self.advance()
        while self.peek().isdigit():
            self.advance()
        raw = self.text[start : self.pos]
        if self.peek() not in ("", "\n", " ", "\t", "\r", "#", ",", "]", ";") or raw == "-":
            while self.peek() not in ("", "\n", " ", "\t", "#"):
                self.advance()
            raise self.error(f"invalid value {self.text[start : self.pos]}", key)
        return int(raw)

    def string(self, key: str) -> str:
        line = self.line
        quote = self.advance()
        out: list[str] = []
        escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
        while True:
            ch = self.peek()
            if ch in ("", "\n"):
                raise self.error("unterminated string", key, line)
            self.advance()
            if ch == quote:
                return "".join(out)
            if ch == "\\":
                nxt = self.peek()
                if nxt in escapes:
                    self.advance()
                    out.append(escapes[nxt])
                    continue
            out.append(ch)

    def list(self, key: str) -> list[Any]:
        line = self.line
        self.advance()
        items: list[Any] = []
        while True:
            self.skip_blank(newlines=True)
            ch = self.peek()
            if ch == "]":
                self.advance()
                return items
            if not ch:
                raise self.error("unterminated list", key, line)
            items.append(self.value(key))
            self.skip_blank(newlines=True)
            ch = self.peek()
            if ch == ",":
                self.advance()
            elif ch != "]":
                if not ch:
                    raise self.error("unterminated list", key, line)
                raise self.error(f"expected ',' or ']' in list, got {ch!r}", key)


def parse_config_text(text: str, filename: str = "<string>") -> list[tuple[str, Any, int]]:
    """Parse the syntax only: ``[(key, value, line), ...]`` in file order (no schema).

    :raises ConfigError: on a syntax error.
    """
    return _Parser(text, filename).parse()


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, list):
        return "a list"
    return str(value)


def _check_type(spec: ConfigKey, key: str, value: Any, filename: str, line: int) -> Any:
    def fail(expected: str) -> ConfigError:
        return ConfigError(filename, line, f"expected {expected}, got {_describe(value)}", key)

    if spec.type == "bool":
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise fail("0 or 1")
    if spec.type == "int":
        if isinstance(value, int):
            return value
        raise fail("an integer")
    if spec.type == "string":
        if isinstance(value, str):
            return value
        raise fail("a string")
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise fail("a list of strings")


def parse_config(
    text: str,
    filename: str = "<string>",
    *,
    extra_keys: Mapping[str, ConfigKey] | None = None,
) -> dict[str, tuple[Any, int]]:
    """Parse and type-check: ``{key: (typed value, line)}`` of the keys present.

    :param extra_keys: daemon-specific settings accepted besides :data:`SCHEMA`.
    :raises ConfigError: on syntax errors, unknown keys, wrong types or invalid values.
    """
    schema = dict(SCHEMA)
    if extra_keys:
        schema.update(extra_keys)
    values: dict[str, tuple[Any, int]] = {}
    for key, value, line in parse_config_text(text, filename):
        spec = schema.get(key)
        if spec is None:
            raise ConfigError(filename, line, f"unknown setting {key!r}")
        typed = _check_type(spec, key, value, filename, line)
        _check_value(key, typed, filename, line)
        values[key] = (typed, line)
    return values


def _check_value(key: str, value: Any, filename: str, line: int) -> None:
    if key in _PERMS_KEYS:
        try:
            mode = int(value, 8)
        except ValueError:
            mode = -1
        if not 0 <= mode <= 0o7777:
            raise ConfigError(
                filename, line, f"expected an octal permission string, got {_describe(value)}", key
            )
    elif key in _POSITIVE_KEYS and value < 1:
        raise ConfigError(filename, line, f"'{key}' must be greater than 0")
    elif key in _NON_NEGATIVE_KEYS and value < 0:
        raise ConfigError(filename, line, f"must not be negative, got {value}", key)
    elif key == "max_client_output" and not 0 <= value <= MAX_CLIENT_OUTPUT_LIMIT:
        raise ConfigError(
            filename, line,
            f"expected a byte count from 1 to {MAX_CLIENT_OUTPUT_LIMIT} or 0 (no limit), "
            f"got {value}", key,
        )
    elif key in _AUTH_KEYS and value not in ("none", "sasl", "polkit"):
        raise ConfigError(
            filename, line, f'unsupported auth {_describe(value)} (want "none", "sasl" or '
            '"polkit")', key
        )
    elif key == "tcp_min_ssf" and value < SSF_WARNING_LEVEL:
        raise ConfigError(
            filename, line,
            f"minimum SSF levels lower than {SSF_WARNING_LEVEL} are not supported", key
        )
    elif key == "log_level" and value not in (1, 2, 3, 4):
        raise ConfigError(filename, line, f"expected 1, 2, 3 or 4, got {value}", key)
    elif key == "log_outputs":
        try:
            parse_outputs(value)
        except LoggingError as exc:
            raise ConfigError(filename, line, exc.message, key) from None
    elif key == "log_filters":
        try:
            parse_filters(value)
        except LoggingError as exc:
            raise ConfigError(filename, line, exc.message, key) from None


# ------------------------------------------------------------------------------------------
# the typed result


@dataclass(frozen=True)
class DaemonConfig:
    """A daemon's settings, libvirt's defaults for everything not given.

    ``extra`` holds the daemon-specific keys (registered with ``extra_keys``), ``source``
    the file it was read from, and ``lines`` the line of every key the file sets (so a
    daemon can tell a setting from a default, and name the line of one it cannot use).
    """

    listen_tls: bool = True
    listen_tcp: bool = False
    listen_addr: str | None = None
    tls_port: str = "16514"
    tcp_port: str = "16509"
    unix_sock_dir: str | None = None
    unix_sock_group: str | None = None
    unix_sock_ro_perms: str = "0777"
    unix_sock_rw_perms: str = "0700"
    unix_sock_admin_perms: str = "0700"
    auth_unix_ro: str | None = None
    auth_unix_rw: str | None = None
    auth_tcp: str | None = None
    auth_tls: str | None = None
    sasl_allowed_username_list: tuple[str, ...] | None = None
    tcp_min_ssf: int = 56
    key_file: str | None = None
    cert_file: str | None = None
    ca_file: str | None = None
    crl_file: str | None = None
    tls_no_verify_certificate: bool = False
    tls_no_sanity_certificate: bool = False
    tls_allowed_dn_list: tuple[str, ...] | None = None
    tls_priority: str | None = None
    max_clients: int = 5000
    max_anonymous_clients: int = 20
    max_queued_clients: int = 1000
    min_workers: int = 5
    max_workers: int = 20
    prio_workers: int = 5
    max_client_requests: int = 5
    max_client_output: int = DEFAULT_MAX_CLIENT_OUTPUT
    keepalive_interval: int = 5
    keepalive_count: int = 5
    keepalive_required: int | None = None
    admin_min_workers: int = 5
    admin_max_workers: int = 20
    admin_max_clients: int = 5000
    admin_max_queued_clients: int = 20
    admin_max_client_requests: int = 5
    admin_keepalive_interval: int = 5
    admin_keepalive_count: int = 5
    admin_keepalive_required: int | None = None
    log_level: int = 3
    log_outputs: str | None = None
    log_filters: str | None = None
    mdns_adv: bool = False
    mdns_name: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    lines: Mapping[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ derived values

    @property
    def unix_sock_ro_mode(self) -> int:
        """``unix_sock_ro_perms`` as an integer mode."""
        return int(self.unix_sock_ro_perms, 8)

    @property
    def unix_sock_rw_mode(self) -> int:
        """``unix_sock_rw_perms`` as an integer mode."""
        return int(self.unix_sock_rw_perms, 8)

    @property
    def unix_sock_admin_mode(self) -> int:
        """``unix_sock_admin_perms`` as an integer mode."""
        return int(self.unix_sock_admin_perms, 8)

    def server_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~netrpc.io.server.Server` (the main server)."""
        return {
            "max_clients": self.max_clients,
            "max_anonymous_clients": self.max_anonymous_clients,
            "max_queued_clients": self.max_queued_clients,
            "max_client_requests": self.max_client_requests,
            "max_client_output": self.max_client_output or None,
            "min_workers": self.min_workers,
            "max_workers": self.max_workers,
            "prio_workers": self.prio_workers,
            "keepalive_interval": self.keepalive_interval,
            "keepalive_count": self.keepalive_count,
        }

    def admin_options(self) -> dict[str, Any]:
        """Keyword arguments for :func:`netrpc.admin.program.enable_admin` (``admin_*`` settings,
        ``unix_sock_admin_perms`` and ``unix_sock_group``)."""
        return {
            "mode": self.unix_sock_admin_mode,
            "group": self.unix_sock_group,
            "max_clients": self.admin_max_clients,
            "max_queued_clients": self.admin_max_queued_clients,
            "max_client_requests": self.admin_max_client_requests,
            "min_workers": self.admin_min_workers,
            "max_workers": self.admin_max_workers,
            "keepalive_interval": self.admin_keepalive_interval,
            "keepalive_count": self.admin_keepalive_count,
        }


def _cross_check(values: Mapping[str, tuple[Any, int]], filename: str) -> None:
    def get(key: str) -> tuple[Any, int]:
        if key in values:
            return values[key]
        return SCHEMA[key].default, 0

    for prefix in ("", "admin_"):
        (lo, _), (hi, line) = get(f"{prefix}min_workers"), get(f"{prefix}max_workers")
        if lo > hi:
            line = line or get(f"{prefix}min_workers")[1]
            raise ConfigError(
                filename,
                line,
                f"{prefix}min_workers ({lo}) must not be greater than {prefix}max_workers ({hi})",
            )
    (total, line), (anon, line2) = get("max_clients"), get("max_anonymous_clients")
    if total < anon:
        raise ConfigError(
            filename,
            line or line2,
            f"max_clients ({total}) must not be less than max_anonymous_clients ({anon})",
        )
    files = ("key_file", "cert_file", "ca_file")
    given = [k for k in files if get(k)[0] is not None]
    if given and len(given) != len(files):
        missing = [k for k in files if k not in given]
        raise ConfigError(
            filename,
            max(values[k][1] for k in given),
            f"{', '.join(given)} set without {', '.join(missing)}",
        )


def config_from_text(
    text: str,
    filename: str = "<string>",
    *,
    extra_keys: Mapping[str, ConfigKey] | None = None,
) -> DaemonConfig:
    """Build a :class:`DaemonConfig` from configuration text.

    :raises ConfigError: for any mistake (see :func:`parse_config`) and for inconsistent
        settings (``min_workers > max_workers``, ``max_clients < max_anonymous_clients``,
        some but not all of key/cert/CA files).
    """
    values = parse_config(text, filename, extra_keys=extra_keys)
    _cross_check(values, filename)
    known = {f.name for f in dataclasses.fields(DaemonConfig)}
    kwargs = {k: v for k, (v, _) in values.items() if k in known}
    extra = {k: spec.default for k, spec in (extra_keys or {}).items()}
    extra.update({k: v for k, (v, _) in values.items() if k not in known})
    lines = {k: line for k, (_, line) in values.items()}
    return DaemonConfig(**kwargs, extra=extra, source=filename, lines=lines)


def load_config(
    path: str | os.PathLike[str], *, extra_keys: Mapping[str, ConfigKey] | None = None
) -> DaemonConfig:
    """Read and check a configuration file.

    :raises ConfigError: for any mistake in the file (naming file and line).
    :raises OSError: when the file cannot be read.
    """
    filename = os.fspath(path)
    with open(filename, encoding="utf-8") as f:
        text = f.read()
    return config_from_text(text, filename, extra_keys=extra_keys)


# ------------------------------------------------------------------------------------------
# run-time application

#: settings that only take effect at start-up
RESTART_KEYS = (
    "listen_tls",
    "listen_tcp",
    "listen_addr",
    "tls_port",
    "tcp_port",
    "unix_sock_dir",
    "unix_sock_group",
    "unix_sock_ro_perms",
    "unix_sock_rw_perms",
    "unix_sock_admin_perms",
    "auth_unix_ro",
    "auth_unix_rw",
    "auth_tcp",
    "auth_tls",
    "sasl_allowed_username_list",
    "tcp_min_ssf",
    "tls_no_verify_certificate",
    "tls_no_sanity_certificate",
    "tls_allowed_dn_list",
    "tls_priority",
    "max_queued_clients",
    "admin_max_queued_clients",
    "mdns_adv",
    "mdns_name",
)


def apply_runtime(
    config: DaemonConfig,
    daemon: Daemon,
    *,
    admin_server: str = "admin",
    log_config: LogConfig | None = None,
    reload_tls: bool = True,
    previous: DaemonConfig | None = None,
) -> list[str]:
    """Apply the settings that can change while *daemon* runs (SIGHUP reload).

    * every server but *admin_server*: ``max_clients``, ``max_anonymous_clients``,
      ``min/max/prio_workers``, and for clients that connect from now on
      ``max_client_requests`` and ``keepalive_interval/count``, and for connected clients
      too ``max_client_output``;
    * the admin server: the ``admin_*`` equivalents (no priority workers, no anonymous
      clients);
    * logging: ``log_level``, ``log_outputs``, ``log_filters`` through *log_config*
      (the process-wide :meth:`LogConfig.default` if None);
    * TLS: every TLS service's ``tls_context.reload()`` when *reload_tls*.

    Lowering a client limit never drops connected clients.  Everything is checked before
    anything changes.  Settings of :data:`RESTART_KEYS` that differ from *previous* are
    logged as needing a restart.

    :returns: a description of each change made.
    :raises ValueError: when a setting cannot be applied (nothing has changed then).
    """
    log_config = log_config if log_config is not None else LogConfig.default()
    parse_outputs(config.log_outputs)
    parse_filters(config.log_filters)
    plans: list[tuple[Server, dict[str, int]]] = []
    for name, server in daemon.servers.items():
        if name == admin_server:
            plan = {
                "max_clients": config.admin_max_clients,
                "max_anonymous_clients": 0,
                "min_workers": config.admin_min_workers,
                "max_workers": config.admin_max_workers,
                "prio_workers": 0,
                "max_client_requests": config.admin_max_client_requests,
                "keepalive_interval": config.admin_keepalive_interval,
                "keepalive_count": config.admin_keepalive_count,
            }
        else:
            plan = {
                "max_clients": config.max_clients,
                "max_anonymous_clients": config.max_anonymous_clients,
                "min_workers": config.min_workers,
                "max_workers": config.max_workers,
                "prio_workers": config.prio_workers,
                "max_client_requests": config.max_client_requests,
                "max_client_output": config.max_client_output,
                "keepalive_interval": config.keepalive_interval,
                "keepalive_count": config.keepalive_count,
            }
        if plan["max_clients"] < plan["max_anonymous_clients"]:
            raise ValueError(f"{name}: max_clients is less than max_anonymous_clients")
        if plan["min_workers"] > plan["max_workers"]:
            raise ValueError(f"{name}: min_workers is greater than max_workers")
        if (plan["max_workers"] == 0) != (server.workers.max_workers == 0):
            raise ValueError(f"{name}: max_workers cannot change between zero and non-zero")
        plans.append((server, plan))

    changes: list[str] = []
    for server, plan in plans:
        before = {
            "max_clients": server.max_clients,
            "max_anonymous_clients": server.max_anonymous_clients,
            "min_workers": server.workers.min_workers,
            "max_workers": server.workers.max_workers,
            "prio_workers": server.workers.prio_workers,
            "max_client_requests": server.max_client_requests,
            "max_client_output": server.max_client_output or 0,
            "keepalive_interval": server.keepalive_interval,
            "keepalive_count": server.keepalive_count,
        }
        server.set_client_limits(plan["max_clients"], plan["max_anonymous_clients"])
        server.workers.resize(
            min_workers=plan["min_workers"],
            max_workers=plan["max_workers"],
            prio_workers=plan["prio_workers"],
        )
        server.max_client_requests = max(plan["max_client_requests"], 1)
        if "max_client_output" in plan:
            # 0 means no limit, in the file as in the admin interface.
            server.set_client_output_limit(plan["max_client_output"] or None)
        server.keepalive_interval = plan["keepalive_interval"]
        server.keepalive_count = plan["keepalive_count"]
        for key, value in plan.items():
            if before[key] != value:
                changes.append(f"{server.name}: {key} {before[key]} -> {value}")

    before_log = (log_config.priority, log_config.outputs_string(), log_config.filters_string())
    log_config.configure(
        priority=config.log_level, outputs=config.log_outputs, filters=config.log_filters
    )
    after_log = (log_config.priority, log_config.outputs_string(), log_config.filters_string())
    if before_log != after_log:
        changes.append(f"logging: {after_log[0]} / {after_log[1]!r} / {after_log[2]!r}")

    if reload_tls:
        for server in daemon.servers.values():
            for service in server.services:
                if service.tls_context is not None:
                    try:
                        service.tls_context.reload()
                    except Exception as exc:
                        log.error("%s: keeping the old TLS files: %s", server.name, exc)
                    else:
                        changes.append(f"{server.name}: TLS files reloaded ({service})")

    if previous is not None:
        for key in RESTART_KEYS:
            if getattr(previous, key) != getattr(config, key):
                log.warning("%s changed: restart the daemon to apply it", key)
    for change in changes:
        log.info("reload: %s", change)
    return changes
