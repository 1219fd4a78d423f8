"""libvirtd.conf parsing, the schema, and run-time application."""

from __future__ import annotations

from pathlib import Path

import pytest

from netrpc.admin.config import (
    ConfigError,
    ConfigKey,
    DaemonConfig,
    apply_runtime,
    config_from_text,
    load_config,
    parse_config_text,
)
from netrpc.admin.logconfig import LogConfig
from netrpc.io.server import Daemon, Server

GOOD = r"""
# a comment
listen_tcp = 1          # trailing comment
listen_tls = 0
listen_addr = "127.0.0.1"
tcp_port = '16600'
unix_sock_rw_perms = "0770"
tls_allowed_dn_list = [ "C=GB,O=Test,*",
    # comments inside lists
    "CN=quoted \"name\"",
]
max_clients = 100
max_anonymous_clients = 10
keepalive_interval = -1
log_filters = "1:netrpc.server 3:*"
log_outputs = "2:stderr"
mdns_adv = 0
"""


def test_good_file(tmp_path: Path) -> None:
    path = tmp_path / "testvirtd.conf"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert cfg.listen_tcp is True and cfg.listen_tls is False
    assert cfg.listen_addr == "127.0.0.1" and cfg.tcp_port == "16600"
    assert cfg.unix_sock_rw_mode == 0o770
    assert cfg.tls_allowed_dn_list == ("C=GB,O=Test,*", 'CN=quoted "name"')
    assert (cfg.max_clients, cfg.max_anonymous_clients) == (100, 10)
    assert cfg.keepalive_interval == -1
    assert cfg.log_filters == "1:netrpc.server 3:*"
    assert cfg.source == str(path)
    # defaults
    assert cfg.min_workers == 5 and cfg.max_workers == 20 and cfg.prio_workers == 5
    assert cfg.admin_max_clients == 5000 and cfg.admin_max_queued_clients == 20
    assert cfg.unix_sock_admin_perms == "0700" and cfg.tls_port == "16514"
    assert cfg.server_options()["max_clients"] == 100
    assert cfg.admin_options()["mode"] == 0o700


def test_defaults_match_libvirt() -> None:
    cfg = DaemonConfig()
    assert cfg == config_from_text("", "<empty>").__class__(source=None)
    assert (cfg.max_clients, cfg.max_queued_clients, cfg.max_anonymous_clients) == (5000, 1000, 20)
    assert (cfg.keepalive_interval, cfg.keepalive_count, cfg.max_client_requests) == (5, 5, 5)
    assert (cfg.admin_min_workers, cfg.admin_max_workers) == (5, 20)
    assert cfg.max_client_output == 4 * 1024 * 1024
    assert cfg.server_options()["max_client_output"] == 4 * 1024 * 1024


@pytest.mark.parametrize(
    ("text", "limit"), [("max_client_output = 65536\n", 65536), ("max_client_output = 0\n", None)]
)
def test_max_client_output(text: str, limit: int | None) -> None:
    cfg = config_from_text(text, "x.conf")
    assert cfg.server_options()["max_client_output"] == limit
    server = Server("testvirtd", **cfg.server_options())
    assert server.max_client_output == limit


def test_syntax_details() -> None:
    entries = parse_config_text('a = "x\\ty\\\\" ; \nb = [ ]\nc = [1, "two",]\n')
    assert entries == [("a", "x\ty\\", 1), ("b", [], 2), ("c", [1, "two"], 3)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('max_clients = "lots"\n', 'x.conf:1: max_clients: expected an integer, got "lots"'),
        ("\n\nlisten_tcp = 2\n", "x.conf:3: listen_tcp: expected 0 or 1, got 2"),
        ('listen_tcp = "yes"\n', 'x.conf:1: listen_tcp: expected 0 or 1, got "yes"'),
        ("listen_addr = 1\n", "x.conf:1: listen_addr: expected a string, got 1"),
        (
            'tls_allowed_dn_list = "x"\n',
            'x.conf:1: tls_allowed_dn_list: expected a list of strings, got "x"',
        ),
        (
            "tls_allowed_dn_list = [1]\n",
            "x.conf:1: tls_allowed_dn_list: expected a list of strings, got a list",
        ),
        ("max_client = 5\n", "x.conf:1: unknown setting 'max_client'"),
        ("max_clients 5\n", "x.conf:1: expected '=' after 'max_clients'"),
        ("max_clients =\n", "x.conf:1: max_clients: missing value"),
        ("max_clients = lots\n", "x.conf:1: max_clients: invalid value lots"),
        ("max_clients = 5x\n", "x.conf:1: max_clients: invalid value 5x"),
        ('listen_addr = "abc\n', "x.conf:1: listen_addr: unterminated string"),
        (
            'tls_allowed_dn_list = [ "a",\n "b"\n',
            "x.conf:1: tls_allowed_dn_list: unterminated list",
        ),
        (
            'tls_allowed_dn_list = [ "a" "b" ]\n',
            "x.conf:1: tls_allowed_dn_list: expected ',' or ']' in list, got '\"'",
        ),
        ("max_clients = 5 6\n", "x.conf:1: max_clients: unexpected '6' after the value"),
        ("= 5\n", "x.conf:1: expected a setting name, got '='"),
        (
            'unix_sock_rw_perms = "0999"\n',
            'x.conf:1: unix_sock_rw_perms: expected an octal permission string, got "0999"',
        ),
        ("max_workers = 0\n", "x.conf:1: 'max_workers' must be greater than 0"),
        ("max_clients = -1\n", "x.conf:1: max_clients: must not be negative, got -1"),
        ("log_level = 5\n", "x.conf:1: log_level: expected 1, 2, 3 or 4, got 5"),
        (
            "max_client_output = -1\n",
            "x.conf:1: max_client_output: expected a byte count from 1 to 4294967295 or 0 "
            "(no limit), got -1",
        ),
        (
            "max_client_output = 4294967296\n",
            "x.conf:1: max_client_output: expected a byte count from 1 to 4294967295 or 0 "
            "(no limit), got 4294967296",
        ),
        (
            'max_client_output = "4M"\n',
            'x.conf:1: max_client_output: expected an integer, got "4M"',
        ),
        (
            'log_outputs = "1:nowhere"\n',
            "x.conf:1: log_outputs: Invalid log destination 'nowhere' for log output '1:nowhere'",
        ),
        ('log_filters = "9:x"\n', "x.conf:1: log_filters: Invalid priority '9' for filter '9:x'"),
        (
            "min_workers = 30\n",
            "x.conf:1: min_workers (30) must not be greater than max_workers (20)",
        ),
        (
            "max_clients = 10\n",
            "x.conf:1: max_clients (10) must not be less than max_anonymous_clients (20)",
        ),
        (
            'key_file = "/k"\ncert_file = "/c"\n',
            "x.conf:2: key_file, cert_file set without ca_file",
        ),
    ],
)
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_text(text, "x.conf")
    assert str(info.value) == message


def test_error_from_file(tmp_path: Path) -> None:
    path = tmp_path / "testvirtd.conf"
    path.write_text("# header\n" * 11 + 'max_clients = "lots"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f'{path}:12: max_clients: expected an integer, got "lots"'
    assert (info.value.line, info.value.key) == (12, "max_clients")


def test_daemon_specific_keys() -> None:
    extra = {"hypervisor": ConfigKey("string", "test:///default"), "domains": ConfigKey("int", 1)}
    cfg = config_from_text("domains = 3\n", "t.conf", extra_keys=extra)
    assert cfg.extra == {"hypervisor": "test:///default", "domains": 3}
    with pytest.raises(ConfigError, match="domains: expected an integer"):
        config_from_text('domains = "3"\n', "t.conf", extra_keys=extra)


def test_apply_runtime_changes_live_settings() -> None:
    main = Server("testvirtd")
    admin = Server("admin", max_anonymous_clients=0, prio_workers=0)
    daemon = Daemon([main, admin])
    log_config = LogConfig(logger="netrpc-config-test")
    cfg = config_from_text(
        "max_clients = 50\nmax_anonymous_clients = 5\nmin_workers = 1\nmax_workers = 4\n"
        "prio_workers = 2\nmax_client_requests = 9\nadmin_max_clients = 3\n"
        "max_client_output = 8192\n"
        'admin_max_workers = 7\nlog_level = 2\nlog_filters = "1:netrpc"\n',
        "r.conf",
    )
    try:
        changes = apply_runtime(cfg, daemon, log_config=log_config, previous=DaemonConfig())
        assert (main.max_clients, main.max_anonymous_clients) == (50, 5)
        w = main.workers
        assert (w.min_workers, w.max_workers, w.prio_workers) == (1, 4, 2)
        assert main.max_client_requests == 9
        assert main.max_client_output == 8192
        assert admin.max_client_output == 4 * 1024 * 1024
        assert "testvirtd: max_client_output 4194304 -> 8192" in changes
        assert (admin.max_clients, admin.max_anonymous_clients) == (3, 0)
        assert (admin.workers.max_workers, admin.workers.prio_workers) == (7, 0)
        assert log_config.priority == 2
        assert log_config.filters_string() == "1:*netrpc* "
        assert log_config.outputs_string() == "2:stderr"
        assert "testvirtd: max_clients 5000 -> 50" in changes
        # a bad reload changes nothing
        bad = DaemonConfig(max_workers=0, min_workers=0)
        with pytest.raises(ValueError, match="zero"):
            apply_runtime(bad, daemon, log_config=log_config)
        assert main.workers.max_workers == 4
    finally:
        log_config.reset()
