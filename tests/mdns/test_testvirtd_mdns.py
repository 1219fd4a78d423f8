"""`testvirtd --mdns` in one namespace, found from another by netrpc-discover and by the real
avahi-browse, and gone within seconds of a graceful stop.

Needs root, iproute2 and Avahi (skipped otherwise, failed under CI=true).
"""

from __future__ import annotations

import json
import os
import tempfile
import time

import pytest

from tests.mdns._support import (
    ADDR_A,
    ADDR_B,
    PY,
    NetnsPair,
    Proc,
    avahi_unescape,
    in_ns,
    private_avahi,
    require_avahi,
    run,
)

pytestmark = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUBLISH_TIMEOUT = 15.0


def _discover(netns: NetnsPair) -> list[dict[str, object]]:
    res = run(
        in_ns(netns.b, PY, "-m", "netrpc.cli.discover", "--json", "--timeout", "3", "--interface", ADDR_B),
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    return list(json.loads(res.stdout))


def test_testvirtd_advertises_and_withdraws(netns: NetnsPair, uid: str) -> None:
    require_avahi()
    name = f"Virtualization Host tv{uid}"
    with (
        tempfile.TemporaryDirectory() as tmp,
        private_avahi(netns.b, netns.veth_b, host=f"avahi{uid}") as env,
    ):
        browse = Proc(in_ns(netns.b, "avahi-browse", "-rpk", "_libvirt._tcp"), env=env)
        daemon = Proc(
            in_ns(
                netns.a, PY, "-m", "daemons.testvirtd",
                "--listen", f"tcp://{ADDR_A}:16509",
                "--listen", f"unix://{tmp}/sock",
                "--no-admin", "--mdns", "--mdns-name", name,
            )
        )
        with browse, daemon:
            daemon.expect(lambda line: line.strip() == "ready", 20, "testvirtd ready")

            def resolved(line: str) -> bool:
                f = line.split(";")
                return len(f) >= 10 and f[0] == "=" and avahi_unescape(f[3]) == name

            fields = browse.expect(resolved, PUBLISH_TIMEOUT, f"avahi '=' line for {name!r}")
            fields_list = fields.split(";")
            assert fields_list[7] == ADDR_A
            assert fields_list[8] == "16509"
            assert '"transport=tcp"' in fields_list[9]

            found = [s for s in _discover(netns) if s["name"] == name]
            assert len(found) == 1
            assert found[0]["port"] == 16509
            assert found[0]["txt"] == {"transport": "tcp", "driver": "test", "path": "/default"}
            assert f"test+tcp://{ADDR_A}:16509/default" in found[0]["uris"]

            daemon.signal()
            assert daemon.wait(20) == 0
            stopped = time.monotonic()

            def gone(line: str) -> bool:
                f = line.split(";")
                return len(f) >= 4 and f[0] == "-" and avahi_unescape(f[3]) == name

            browse.expect(gone, 5, f"avahi '-' line for {name!r}")
            assert time.monotonic() - stopped < 5
            assert not [s for s in _discover(netns) if s["name"] == name]
