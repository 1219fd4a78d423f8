"""Fixtures of the kvstore tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest


@pytest.fixture
def tmpdir_short() -> Iterator[str]:
    """A temporary directory with a short path (AF_UNIX paths are limited to 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="kv") as path:
        yield path
