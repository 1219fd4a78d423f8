"""Which driver instance a URI opens, and for how long it lives.

* ``test:///default`` and the QEMU views (``qemu:///system``, ``qemu:///session``) share
  one instance.  As libvirtd's test driver discards it when its last connection closes, the
  registry resets it to a fresh ``test:///default`` then, unless told to keep it
  (``keep_shared``: ``--keep-state``, ``--state FILE``, or a QEMU flavoured daemon, whose
  QEMU driver would keep its domains).
* ``test:///ABS/PATH.xml`` opens a private instance loaded from that node file
  (:mod:`.nodefile`), one per connection, gone when the connection closes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

from netrpc import ErrorCode, ErrorDomain, RPCError

from .hypervisor import Flavour, Hypervisor
from .nodefile import load_node_file

log = logging.getLogger("testvirtd.drivers")

__all__ = ("DriverRegistry", "uri_flavour")

_FROM_QEMU = 10


def uri_flavour(uri: str) -> Flavour:
    """The view a driver URI opens: "qemu" for ``qemu:///...``, else "test"."""
    return "qemu" if uri.split(":", 1)[0] == "qemu" else "test"


class DriverRegistry:
    """The driver instances of a daemon.

    :param shared: the instance ``test:///default`` (and the QEMU views) open.
    :param default_uri: what an empty CONNECT_OPEN name opens.
    :param keep_shared: keep the shared instance when its last connection closes.
    """

    def __init__(
        self, shared: Hypervisor, default_uri: str = "test:///default", *,
        keep_shared: bool = True,
    ) -> None:
        self.shared = shared
        self.default_uri = default_uri
        self.keep_shared = keep_shared
        #: called with each private instance once it is loaded (to subscribe to its events)
        self.on_private_open: list[Callable[[Hypervisor], None]] = []
        self._shared_users = 0
        self._private: set[Hypervisor] = set()

    def is_shared(self, driver: Hypervisor) -> bool:
        """Whether *driver* is the shared instance."""
        return driver is self.shared

    @property
    def private_count(self) -> int:
        """How many private (node file) instances are open."""
        return len(self._private)

    def open(self, name: str) -> Hypervisor:
        """The instance CONNECT_OPEN of *name* gets (the caller must :meth:`close` it
        again); raises libvirtd's error otherwise."""
        error = self.refusal(name)
        if error is not None:
            raise error
        path = self.node_file(name)
        if path is not None:
            driver = load_node_file(path, hostname=self.shared.host.hostname)
            self._private.add(driver)
            for hook in self.on_private_open:
                hook(driver)
            return driver
        self._shared_users += 1
        return self.shared

    def close(self, driver: Hypervisor) -> None:
        """A connection that had *driver* open closed."""
        if driver is self.shared:
            self._shared_users = max(0, self._shared_users - 1)
            if self._shared_users == 0 and not self.keep_shared:
                self.discard()
            return
        if driver in self._private:
            self._private.discard(driver)
            driver.close()

    def discard(self) -> None:
        """Reset the shared instance to a fresh ``test:///default``."""
        log.debug("last connection to the shared instance closed: discarding its state")
        self.shared.reset()  # (what serves its objects learns it through Hypervisor.on_reset)

    def node_file(self, name: str) -> str | None:
        """The node file a ``test:///PATH`` URI names (None for other URIs)."""
        if name.split(":", 1)[0] != "test":
            return None
        parts = urlsplit(name)
        path = unquote(parts.path)
        if parts.netloc or path in ("", "/", "/default"):
            return None
        return path

    def refusal(self, name: str) -> RPCError | None:
        """None when CONNECT_OPEN may open *name*, else the error libvirtd sends.

        The default URI is always accepted, and so are ``qemu:///system`` and
        ``qemu:///session`` (a QEMU view of the same hypervisor) and ``test:///default``.
        """
        try:
            parts = urlsplit(name)
        except ValueError:
            parts = None
        default = urlsplit(self.default_uri)
        scheme = name.split(":", 1)[0]  # urlsplit lowercases it; libvirt's match is exact
        if name == self.default_uri:
            return None
        if parts is not None and scheme == "qemu" and not parts.netloc and not parts.query:
            if parts.path in ("/system", "/session"):
                return None
            return RPCError.formatted(
                ErrorCode.INTERNAL_ERROR, _FROM_QEMU, "internal error: %s",
                f"unexpected QEMU URI path '{parts.path}', try qemu:///system",
            )
        if parts is not None and name == "test:///default":
            return None
        if parts is None or parts.netloc or scheme not in ("test", default.scheme):
            return RPCError.formatted(
                ErrorCode.NO_CONNECT, ErrorDomain.NONE, "no connection driver available for %s",
                name,
            )
        if scheme == "test":
            if parts.path in ("", "/"):
                return RPCError.formatted(
                    ErrorCode.INVALID_ARG, ErrorDomain.TEST, "invalid argument: %s",
                    "testOpen: supply a path or use test:///default",
                )
            return None  # a node file: loading it tells whether it can be opened
        if parts.path == default.path:
            return None
        return RPCError.formatted(
            ErrorCode.NO_CONNECT, ErrorDomain.NONE, "no connection driver available for %s", name
        )
