"""mDNS advertising and discovery between two network namespaces ("hosts") joined by veth.

Advertisers and browsers run as separate processes via ``ip netns exec``; this process stays in
the root namespace and sends nothing. Needs root and iproute2 (skipped otherwise, failed under
CI=true); the Avahi test also needs avahi-daemon, avahi-utils and dbus-daemon.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.mdns._support import (
    ADDR_A,
    ADDR_B,
    HERE,
    PY,
    NetnsPair,
    Proc,
    advertiser,
    avahi_unescape,
    discoverer,
    in_ns,
    private_avahi,
    require_avahi,
    run,
)

pytestmark = pytest.mark.netns

# Probing (~1.2 s) + announcements (~0.45 s) + interpreter start-up, with a wide margin.
PUBLISH_TIMEOUT = 10.0
# zeroconf drops a service 1-7 ms after the goodbye, Avahi after 1 s (RFC 6762 10.1).
GOODBYE_LIMIT = 2.0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_watch_sees_service_then_goodbye(netns: NetnsPair, uid: str, backend: str) -> None:
    """(a)+(c): watch() in B finds the advertisement from A (port, TXT, address, URI) and sees
    it leave right after the advertiser closes."""
    name = f"Virtualization Host w{uid}"
    with discoverer(
        netns.b, "--watch", "--backend", backend, "--interface", ADDR_B, "--seconds", "30"
    ) as watcher:
        watcher.expect_event("ready", 10)
        with advertiser(
            netns.a,
            "--name",
            name,
            "--port",
            "16509",
            "--txt",
            "transport=tcp",
            "--txt",
            "path=/default",
            "--host",
            f"ha{uid}",
            "--interface",
            ADDR_A,
            "--backend",
            backend,
        ) as adv:
            pub = adv.expect_event("published", PUBLISH_TIMEOUT)
            assert pub["ok"], adv.output()
            assert pub["name"] == name
            assert not pub["renamed"]
            added = watcher.expect_event("added", 5, name=name)
            assert added["port"] == 16509
            assert added["txt"] == {"transport": "tcp", "path": "/default"}
            assert added["addresses"] == [ADDR_A]
            assert added["server"] == f"ha{uid}.local."
            assert added["type"] == "_libvirt._tcp"
            assert added["uris"] == [f"test+tcp://{ADDR_A}:16509/default"]
            adv.signal()
            closing = adv.expect_event("closing", 10)
            removed = watcher.expect_event("removed", 5, name=name)
            assert removed["t"] - closing["t"] < GOODBYE_LIMIT
            adv.expect_event("closed", 10)
            assert adv.wait(10) == 0, adv.output()
        watcher.signal()
        watcher.expect_event("done", 10)
        assert watcher.wait(10) == 0, watcher.output()


def test_avahi_browse_resolves_and_sees_goodbye(netns: NetnsPair, uid: str) -> None:
    """(b)+(c): the real Avahi stack in B resolves netrpc's advertisement from A, then sees it
    leave after the goodbye."""
    require_avahi()
    name = f"Virtualization Host av{uid}"
    with private_avahi(netns.b, netns.veth_b, host=f"avahi{uid}") as env:
        browse = Proc(in_ns(netns.b, "avahi-browse", "-rpk", "_libvirt._tcp"), env=env)
        with (
            browse,
            advertiser(
                netns.a,
                "--name",
                name,
                "--port",
                "16514",
                "--txt",
                "transport=tls",
                "--host",
                f"ha{uid}",
                "--interface",
                ADDR_A,
            ) as adv,
        ):
            adv.expect_event("published", PUBLISH_TIMEOUT)

            def resolved(line: str) -> bool:
                f = line.split(";")
                return len(f) >= 10 and f[0] == "=" and avahi_unescape(f[3]) == name

            fields = browse.expect(resolved, 5, f"avahi '=' line for {name!r}").split(";")
            # =;iface;proto;name;type;domain;host;address;port;txt
            assert fields[1] == netns.veth_b
            assert fields[2] == "IPv4"
            assert fields[4] == "_libvirt._tcp"
            assert fields[5] == "local"
            assert fields[6] == f"ha{uid}.local"
            assert fields[7] == ADDR_A
            assert fields[8] == "16514"
            assert '"transport=tls"' in fields[9]
            adv.signal()
            adv.expect_event("closed", 10)
            t_closed = time.monotonic()

            def gone(line: str) -> bool:
                f = line.split(";")
                return len(f) >= 4 and f[0] == "-" and avahi_unescape(f[3]) == name

            browse.expect(gone, 5, f"avahi '-' line for {name!r}")
            assert time.monotonic() - t_closed < GOODBYE_LIMIT + 1.0
            assert adv.wait(10) == 0


def test_same_name_on_two_hosts_is_renamed(netns: NetnsPair, uid: str) -> None:
    """(d): a second host probing a name that is taken renames itself ("Name #2"), logs it,
    and both services stay visible."""
    name = f"Virtualization Host dup{uid}"
    with advertiser(
        netns.a,
        "--name",
        name,
        "--port",
        "16509",
        "--txt",
        "transport=tcp",
        "--host",
        f"ha{uid}",
        "--interface",
        ADDR_A,
    ) as first:
        pub1 = first.expect_event("published", PUBLISH_TIMEOUT)
        assert pub1["ok"], first.output()
        assert pub1["name"] == name
        with advertiser(
            netns.b,
            "--name",
            name,
            "--port",
            "16510",
            "--txt",
            "transport=tcp",
            "--host",
            f"hb{uid}",
            "--interface",
            ADDR_B,
            "--backend",
            "trio",
        ) as second:
            pub2 = second.expect_event("published", PUBLISH_TIMEOUT)
            assert pub2["ok"], second.output()
            assert pub2["renamed"]
            assert pub2["name"] == f"{name} #2"
            assert pub2["requested_name"] == name
            warnings = [
                e["msg"]
                for e in second.events("log")
                if e["level"] == "WARNING" and e["logger"] == "netrpc.mdns"
            ]
            assert any("already in use" in m and f"{name} #2" in m for m in warnings), warnings
            assert not [e for e in first.events("log") if e["level"] == "WARNING"]

            res = run(
                in_ns(
                    netns.a,
                    PY,
                    "-m",
                    "netrpc.cli.discover",
                    "--json",
                    "--timeout",
                    "2.5",
                    "--interface",
                    ADDR_A,
                ),
                timeout=20,
            )
            assert res.returncode == 0, res.stderr
            found = {s["name"]: s for s in json.loads(res.stdout)}
            assert found[name]["port"] == 16509
            assert found[name]["addresses"] == [ADDR_A]
            assert found[f"{name} #2"]["port"] == 16510
            assert found[f"{name} #2"]["addresses"] == [ADDR_B]
            second.signal()
            assert second.wait(10) == 0
        first.signal()
        assert first.wait(10) == 0


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_zeroconf_failure_is_logged_not_raised(netns: NetnsPair, backend: str) -> None:
    """(e): an interface address that does not exist makes zeroconf fail; publish() logs a
    warning and returns a failed registration, and withdraw/aclose still work."""
    argv = in_ns(
        netns.a,
        PY,
        str(HERE / "nsrun_advertise.py"),
        "--name",
        "Broken",
        "--port",
        "16509",
        "--interface",
        "10.99.99.99",
        "--seconds",
        "0",
        "--withdraw",
        "--backend",
        backend,
    )
    res = run(argv, timeout=20)
    assert res.returncode == 0, res.stdout + res.stderr
    events = [json.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    pub = next(e for e in events if e["ev"] == "published")
    assert not pub["ok"], pub
    assert pub["error"], pub
    logs = [e for e in events if e["ev"] == "log" and e["level"] == "WARNING"]
    assert any("cannot advertise 'Broken'" in e["msg"] for e in logs), events
    assert [e["ev"] for e in events][-2:] == ["closing", "closed"]
    assert "Traceback" not in res.stderr, res.stderr


def test_netrpc_discover_cli(netns: NetnsPair, uid: str) -> None:
    """(f): netrpc-discover --json and the table output, run in the other namespace."""
    name = f"Virtualization Host cli{uid}"
    with advertiser(
        netns.a,
        "--name",
        name,
        "--port",
        "16509",
        "--txt",
        "transport=tcp",
        "--host",
        f"ha{uid}",
        "--interface",
        ADDR_A,
    ) as adv:
        adv.expect_event("published", PUBLISH_TIMEOUT)
        res = run(
            in_ns(
                netns.b,
                PY,
                "-m",
                "netrpc.cli.discover",
                "--json",
                "--timeout",
                "2.5",
                "--interface",
                ADDR_B,
                "--backend",
                "trio",
            ),
            timeout=20,
        )
        assert res.returncode == 0, res.stderr
        servers = json.loads(res.stdout)
        assert [s["name"] for s in servers] == [name]
        assert servers[0] == {
            "name": name,
            "type": "_libvirt._tcp",
            "server": f"ha{uid}.local.",
            "addresses": [ADDR_A],
            "port": 16509,
            "txt": {"transport": "tcp"},
            "transport": "tcp",
            "uris": [f"test+tcp://{ADDR_A}:16509/default"],
        }
        res = run(
            in_ns(netns.b, PY, "-m", "netrpc.cli.discover", "--timeout", "2.5", "--interface", ADDR_B),
            timeout=20,
        )
        assert res.returncode == 0, res.stderr
        header, row = res.stdout.splitlines()
        assert header.split() == ["NAME", "ADDRESS", "PORT", "TRANSPORT", "URI"]
        assert row.startswith(name)
        assert row.split()[-4:] == [ADDR_A, "16509", "tcp", f"test+tcp://{ADDR_A}:16509/default"]
        adv.signal()
        assert adv.wait(10) == 0


def test_netrpc_discover_cli_watch(netns: NetnsPair, uid: str) -> None:
    """netrpc-discover --watch --json streams 'added' then 'removed' and stops at --timeout."""
    name = f"Virtualization Host cw{uid}"
    cli = Proc(
        in_ns(
            netns.b,
            PY,
            "-m",
            "netrpc.cli.discover",
            "--watch",
            "--json",
            "--timeout",
            "15",
            "--interface",
            ADDR_B,
        )
    )
    with (
        cli,
        advertiser(
            netns.a,
            "--name",
            name,
            "--port",
            "16509",
            "--txt",
            "transport=tcp",
            "--host",
            f"ha{uid}",
            "--interface",
            ADDR_A,
            "--no-probe",
        ) as adv,
    ):

        def event(kind: str) -> dict[str, object]:
            line = cli.expect(
                lambda x: (
                    x.startswith("{")
                    and json.loads(x).get("event") == kind
                    and json.loads(x).get("name") == name
                ),
                8,
                f"{kind} {name}",
            )
            return dict(json.loads(line))

        added = event("added")
        assert added["port"] == 16509
        assert added["addresses"] == [ADDR_A]
        adv.signal()
        event("removed")
        assert adv.wait(10) == 0
        cli.signal(2)  # SIGINT, like ^C
        assert cli.wait(10) in (0, 130), cli.output()
