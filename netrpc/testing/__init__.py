"""Helpers for testing code that talks to libvirt-style servers.

* :class:`TestVirtd`: testvirtd in a child process, with URIs for every transport, a
  throwaway PKI, state reset between tests and fault injection
  (:mod:`netrpc.testing.testvirtd`);
* the ``testvirtd`` pytest fixture (:mod:`netrpc.testing.pytest_plugin`, registered through
  the ``pytest11`` entry point: inert until a test asks for it);
* :class:`SyncClient`: a blocking client for scripts and fixtures without an event loop.

May import: core, security, discovery, io, admin.
"""

from ._sync import SyncClient as SyncClient
from .testvirtd import TestVirtd as TestVirtd
from .testvirtd import TestVirtdError as TestVirtdError

__all__ = ("SyncClient", "TestVirtd", "TestVirtdError")
