"""Shared fixtures: every I/O test runs on both anyio backends."""

from __future__ import annotations

import pytest


@pytest.fixture(params=[pytest.param("asyncio", id="asyncio"), pytest.param("trio", id="trio")])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each async test once on asyncio and once on trio."""
    return str(request.param)
