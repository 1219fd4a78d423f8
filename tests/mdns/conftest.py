"""Fixtures for the mDNS tests (helpers live in _support.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.mdns._support import NetnsPair, netns_pair, require_netns


@pytest.fixture(scope="module")
def netns() -> Iterator[NetnsPair]:
    """Two fresh namespaces joined by veth (10.253.0.1 in ``a``, 10.253.0.2 in ``b``)."""
    require_netns()
    with netns_pair() as pair:
        yield pair


@pytest.fixture
def uid() -> str:
    """A short token that makes instance and host names unique per test."""
    return secrets.token_hex(3)
