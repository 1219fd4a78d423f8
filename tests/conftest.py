"""Shared fixtures: every I/O test runs on both anyio backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .security.krb5realm import KerberosRealm

PLUGIN = "netrpc_testvirtd"


def pytest_configure(config: pytest.Config) -> None:
    # Installed, netrpc registers its pytest plugin through the pytest11 entry point; a
    # checkout used before (re)installing gets it here.
    if not config.pluginmanager.has_plugin(PLUGIN):
        from netrpc.testing import pytest_plugin

        config.pluginmanager.register(pytest_plugin, PLUGIN)


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each async test once on asyncio and once on trio."""
    return str(request.param)


@pytest.fixture(scope="session")
def krb5_realm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KerberosRealm]:
    """A private Kerberos realm (NETRPC.TEST) with a KDC on 127.0.0.1, the service keytab
    for ``libvirt/localhost``, and user ``fred`` (password ``secret123``) with a ticket in
    ``realm.ccache``.  The KDC stops at the end of the session.  Missing Kerberos tools skip
    the test, or fail it under CI."""
    from .security.krb5realm import KerberosRealm, RealmUnavailable

    try:
        realm = KerberosRealm.create(tmp_path_factory.mktemp("krb5"), hosts=["localhost"])
    except RealmUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Kerberos realm unavailable under CI: {exc}", pytrace=False)
        pytest.skip(f"Kerberos realm unavailable: {exc}")
    try:
        realm.add_user("fred", "secret123")
        realm.add_user("bob", "bobpw")
        realm.kinit("fred")
        yield realm
    finally:
        realm.close()
