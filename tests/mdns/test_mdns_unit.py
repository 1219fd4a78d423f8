"""netrpc.mdns without the network: names, URIs, the CLI, and the Advertiser's error handling
against a fake zeroconf (on asyncio and trio)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from zeroconf import NonUniqueNameException, ServiceInfo, ServiceNameAlreadyRegistered

from netrpc.cli import discover as discover_cli
from netrpc.discovery import mdns
from netrpc.discovery.mdns import (
    Advertiser,
    DiscoveredServer,
    DiscoveryEvent,
    DiscoveryEventKind,
    MDNSError,
    Registration,
    ServiceAdvertiser,
    default_instance_name,
    discover,
)


def server(**kw: Any) -> DiscoveredServer:
    fields: dict[str, Any] = {
        "name": "Virtualization Host vm",
        "type": "_libvirt._tcp",
        "server": "vm.local.",
        "addresses": ("10.0.0.5",),
        "port": 16509,
        "txt": {"transport": "tcp"},
    }
    fields.update(kw)
    return DiscoveredServer(**fields)


# --------------------------------------------------------------------------- names


def test_default_instance_name() -> None:
    assert default_instance_name("vm.example.com") == "Virtualization Host vm"
    assert default_instance_name("") == "Virtualization Host"
    assert default_instance_name().startswith("Virtualization Host")


def test_alternative_names_follow_avahi_and_fit_a_label() -> None:
    assert mdns._alternative_name("Host", 1) == "Host"
    assert mdns._alternative_name("Host", 2) == "Host #2"
    long = "é" * 40  # 80 bytes
    for n in (1, 2, 17):
        alt = mdns._alternative_name(long, n)
        assert len(alt.encode()) <= 63
        assert n == 1 or alt.endswith(f" #{n}")


@pytest.mark.parametrize(
    "given", ["_libvirt._tcp", "_libvirt._tcp.", "_libvirt._tcp.local.", "_libvirt._tcp.local"]
)
def test_service_type_forms(given: str) -> None:
    assert mdns.full_service_type(given) == "_libvirt._tcp.local."
    assert mdns.short_service_type(given) == "_libvirt._tcp"


def test_host_name() -> None:
    assert mdns._host_name("vm") == "vm.local."
    assert mdns._host_name("vm.local") == "vm.local."
    assert mdns._host_name("vm.local.") == "vm.local."
    assert mdns._host_name(None).endswith(".local.")


# --------------------------------------------------------------------------- URIs


def test_uris_tcp_and_tls() -> None:
    assert server().uris == ("test+tcp://10.0.0.5:16509/default",)
    tls = server(port=16514, txt={"transport": "tls"})
    assert tls.transport == "tls"
    assert tls.uris == ("test+tls://10.0.0.5:16514/default",)


def test_uris_ipv6_bracketed_and_link_local_skipped() -> None:
    s = server(addresses=("10.0.0.5", "fd00::5", "fe80::1%3"))
    assert s.uris == (
        "test+tcp://10.0.0.5:16509/default",
        "test+tcp://[fd00::5]:16509/default",
    )


def test_uris_driver_and_path_from_txt() -> None:
    s = server(txt={"transport": "tls", "driver": "qemu", "path": "system"})
    assert s.uris == ("qemu+tls://10.0.0.5:16509/system",)


def test_uris_without_txt_default_to_tcp() -> None:
    assert server(txt={}).uris == ("test+tcp://10.0.0.5:16509/default",)


def test_no_uris_for_other_types_or_transports() -> None:
    assert server(type="_http._tcp").uris == ()
    assert server(txt={"transport": "ssh"}).uris == ()


def test_discovered_server_is_frozen_hashable_and_json_ready() -> None:
    s = server()
    assert hash(s) == hash(server())
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]
    d = s.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["uris"] == ["test+tcp://10.0.0.5:16509/default"]


def test_server_from_info() -> None:
    info = ServiceInfo(
        "_libvirt._tcp.local.",
        "My Host._libvirt._tcp.local.",
        port=16514,
        properties={"transport": "tls", "flag": None},
        server="my.local.",
        parsed_addresses=["10.0.0.7"],
    )
    s = mdns._server_from_info(info, "_libvirt._tcp.local.")
    assert s == DiscoveredServer(
        "My Host",
        "_libvirt._tcp",
        "my.local.",
        ("10.0.0.7",),
        16514,
        {"transport": "tls", "flag": ""},
    )


def test_table() -> None:
    text = discover_cli._table([server(addresses=("10.0.0.5", "fe80::1%2"))])
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "ADDRESS", "PORT", "TRANSPORT", "URI"]
    assert lines[1].split() == [
        "Virtualization",
        "Host",
        "vm",
        "10.0.0.5",
        "16509",
        "tcp",
        "test+tcp://10.0.0.5:16509/default",
    ]
    assert lines[2].split() == ["fe80::1%2", "16509", "tcp", "-"]


def test_event_line() -> None:
    ev = DiscoveryEvent(DiscoveryEventKind.REMOVED, server())
    assert discover_cli._event_line(ev, False).startswith("- Virtualization Host vm  10.0.0.5  16509")
    assert json.loads(discover_cli._event_line(ev, True))["event"] == "removed"


# --------------------------------------------------------------------------- Advertiser


class FakeZeroconf:
    """Stands in for zeroconf.Zeroconf: records calls, fails as told."""

    def __init__(self, taken: set[str] | None = None, fail: Exception | None = None) -> None:
        self.taken = taken or set()
        self.fail = fail
        self.registered: list[ServiceInfo] = []
        self.unregistered: list[ServiceInfo] = []
        self.closed = 0

    def register_service(self, info: ServiceInfo, **kw: Any) -> None:
        if self.fail is not None:
            raise self.fail
        instance = info.name[: -len(info.type) - 1]
        if instance in self.taken:
            raise NonUniqueNameException
        if any(r.name == info.name for r in self.registered):
            raise ServiceNameAlreadyRegistered
        self.registered.append(info)

    def unregister_service(self, info: ServiceInfo) -> None:
        self.unregistered.append(info)

    def close(self) -> None:
        self.closed += 1


@pytest.fixture
def fake_zc(monkeypatch: pytest.MonkeyPatch) -> FakeZeroconf:
    fake = FakeZeroconf()
    monkeypatch.setattr(mdns, "_open_zeroconf", lambda *a: fake)
    return fake


def test_advertiser_satisfies_protocol() -> None:
    adv: ServiceAdvertiser = Advertiser(interfaces=["127.0.0.1"])
    assert adv is not None


async def test_publish_withdraw_close(fake_zc: FakeZeroconf) -> None:
    async with Advertiser(interfaces=["10.0.0.5"], host="vm") as adv:
        reg = await adv.publish(name="Host", port=16509, txt={"transport": "tcp"})
        assert reg.ok
        assert not reg.renamed
        assert reg.name == "Host"
        assert reg.server == "vm.local."
        assert reg.addresses == ("10.0.0.5",)
        assert adv.registrations == (reg,)
        info = fake_zc.registered[0]
        assert info.name == "Host._libvirt._tcp.local."
        assert info.port == 16509
        assert info.decoded_properties == {"transport": "tcp"}
        assert info.parsed_addresses() == ["10.0.0.5"]
        await adv.withdraw(reg)
        await adv.withdraw(reg)
        assert fake_zc.unregistered == [info]
        assert not adv.registrations
    assert fake_zc.closed == 1


async def test_unspecified_addresses_are_expanded(fake_zc: FakeZeroconf) -> None:
    async with Advertiser(interfaces=["10.0.0.5"]) as adv:
        reg = await adv.publish(name="H", port=1, addresses=["0.0.0.0", "::"])
        assert reg.addresses == ("10.0.0.5",)
        reg = await adv.publish(name="H2", port=1, addresses=["192.0.2.9"])
        assert reg.addresses == ("192.0.2.9",)


async def test_conflict_renames_and_logs(
    fake_zc: FakeZeroconf, caplog: pytest.LogCaptureFixture
) -> None:
    fake_zc.taken = {"Host", "Host #2"}
    caplog.set_level(logging.INFO, logger="netrpc.mdns")
    async with Advertiser() as adv:
        reg = await adv.publish(name="Host", port=16509)
        assert reg.ok
        assert reg.renamed
        assert reg.name == "Host #3"
        assert reg.requested_name == "Host"
        again = await adv.publish(name="Host", port=16514)
        assert again.name == "Host #4"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("'Host' is already in use" in m and "'Host #3'" in m for m in warnings)


@pytest.mark.parametrize(
    "error", [OSError(19, "No such device"), RuntimeError("boom"), ValueError("bad")]
)
async def test_zeroconf_start_failure_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    def broken(*args: object) -> FakeZeroconf:
        raise error

    monkeypatch.setattr(mdns, "_open_zeroconf", broken)
    async with Advertiser(interfaces=["10.99.99.99"]) as adv:
        reg = await adv.publish(name="Host", port=16509, txt={"transport": "tcp"})
        assert isinstance(reg, Registration)
        assert not reg.ok
        assert not reg.renamed
        assert reg.error is not None
        assert type(error).__name__ in reg.error
        await adv.withdraw(reg)
        await adv.withdraw(None)
    assert any(
        r.name == "netrpc.mdns"
        and r.levelno == logging.WARNING
        and "cannot advertise" in r.getMessage()
        for r in caplog.records
    )


async def test_register_failure_is_logged(
    fake_zc: FakeZeroconf, caplog: pytest.LogCaptureFixture
) -> None:
    fake_zc.fail = OSError("sendto failed")
    async with Advertiser() as adv:
        reg = await adv.publish(name="Host", port=16509)
        assert not reg.ok
        assert "sendto failed" in (reg.error or "")
    assert "cannot advertise 'Host'" in caplog.text


async def test_bad_arguments_do_not_raise(fake_zc: FakeZeroconf) -> None:
    async with Advertiser() as adv:
        assert not (await adv.publish(name="H", port=0)).ok
        assert not (await adv.publish(name="H", port=1, type_="")).ok
    assert fake_zc.registered == []


async def test_publish_after_close_fails_quietly(fake_zc: FakeZeroconf) -> None:
    adv = Advertiser()
    await adv.aclose()
    reg = await adv.publish(name="H", port=1)
    assert not reg.ok
    assert "closed" in (reg.error or "")
    await adv.aclose()


async def test_withdraw_and_close_errors_are_logged(
    fake_zc: FakeZeroconf, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(*a: object) -> None:
        raise OSError("gone")

    adv = Advertiser()
    reg = await adv.publish(name="H", port=1)
    monkeypatch.setattr(fake_zc, "unregister_service", fail)
    monkeypatch.setattr(fake_zc, "close", fail)
    await adv.withdraw(reg)
    await adv.aclose()
    assert "cannot withdraw 'H'" in caplog.text
    assert "error while stopping the advertiser" in caplog.text


# --------------------------------------------------------------------------- discovery


async def test_discover_start_failure_raises_mdns_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> FakeZeroconf:
        raise OSError(19, "No such device")

    monkeypatch.setattr(mdns, "_open_zeroconf", broken)
    with pytest.raises(MDNSError, match="No such device"):
        await discover(timeout=0.1, interfaces=["10.99.99.99"])


def test_cli_reports_start_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: object) -> FakeZeroconf:
        raise OSError(19, "No such device")

    monkeypatch.setattr(mdns, "_open_zeroconf", broken)
    assert discover_cli.main(["--timeout", "0", "--backend", "trio"]) == 1
    assert "No such device" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--timeout", "-1"], ["--type", ""], ["--backend", "x"]])
def test_cli_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        discover_cli.main(argv)
    assert exc.value.code == 2
