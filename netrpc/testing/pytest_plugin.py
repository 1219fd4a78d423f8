"""pytest plugin: the ``testvirtd`` fixture.

Installed with netrpc through the ``pytest11`` entry point.  It does nothing until a test
asks for one of its fixtures::

    import libvirt

    def test_lists_the_default_domain(testvirtd):
        conn = libvirt.open(testvirtd.uri)
        assert [d.name() for d in conn.listAllDomains()] == ["test"]

``testvirtd`` is a :class:`~netrpc.testing.TestVirtd` with fresh ``test:///default`` state
and no fault rules: the daemon is started once per session (once per worker with
pytest-xdist) and reset before each test.  ``testvirtd_session`` is the same daemon without
the reset.  The ini option ``testvirtd_args`` adds command line arguments to the daemon.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testvirtd import TestVirtd

__all__ = ("pytest_addoption", "testvirtd", "testvirtd_session")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the ``testvirtd_args`` ini option."""
    parser.addini(
        "testvirtd_args",
        "extra command line arguments for the daemon of the testvirtd fixture",
        type="args",
        default=[],
    )


@pytest.fixture(scope="session")
def testvirtd_session(pytestconfig: pytest.Config) -> Iterator[TestVirtd]:
    """One testvirtd for the whole session (per xdist worker); state is not reset."""
    daemon = TestVirtd(args=pytestconfig.getini("testvirtd_args"))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


@pytest.fixture
def testvirtd(testvirtd_session: TestVirtd) -> TestVirtd:
    """The session's testvirtd, reset: fresh ``test:///default`` state, no connections
    left from earlier tests, no fault rules."""
    testvirtd_session.reset()
    return testvirtd_session
