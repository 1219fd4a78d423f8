"""Which driver instance a URI opens.

``test:///default`` and the QEMU views (``qemu:///system``, ``qemu:///session``) share one
instance; any URI the daemon's default URI names opens it too.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from netrpc import ErrorCode, ErrorDomain, RPCError

from .hypervisor import Flavour, Hypervisor

__all__ = ("DriverRegistry", "uri_flavour")

_FROM_QEMU = 10


def uri_flavour(uri: str) -> Flavour:
    """The view a driver URI opens: "qemu" for ``qemu:///...``, else "test"."""
    return "qemu" if uri.split(":", 1)[0] == "qemu" else "test"


class DriverRegistry:
    """The driver instances of a daemon.

    :param shared: the instance ``test:///default`` (and the QEMU views) open.
    :param default_uri: what an empty CONNECT_OPEN name opens.
    """

    def __init__(self, shared: Hypervisor, default_uri: str = "test:///default") -> None:
        self.shared = shared
        self.default_uri = default_uri

    def is_shared(self, driver: Hypervisor) -> bool:
        """Whether *driver* is the shared instance."""
        return driver is self.shared

    def open(self, name: str) -> Hypervisor:
        """The instance CONNECT_OPEN of *name* gets; raises libvirtd's error otherwise."""
        error = self.refusal(name)
        if error is not None:
            raise error
        return self.shared

    def close(self, driver: Hypervisor) -> None:
        """A connection that had *driver* open closed."""

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
        if parts is None or scheme != default.scheme or parts.netloc:
            return RPCError.formatted(
                ErrorCode.NO_CONNECT, ErrorDomain.NONE, "no connection driver available for %s",
                name,
            )
        if parts.path == default.path:
            return None
        if parts.scheme == "test":
            if parts.path in ("", "/"):
                return RPCError.formatted(
                    ErrorCode.INVALID_ARG, ErrorDomain.TEST, "invalid argument: %s",
                    "testOpen: supply a path or use test:///default",
                )
            return RPCError.formatted(
                ErrorCode.XML_ERROR, ErrorDomain.TEST, "XML error: %s",
                f"failed to parse xml document '{parts.path}'",
            )
        return RPCError.formatted(
            ErrorCode.NO_CONNECT, ErrorDomain.NONE, "no connection driver available for %s", name
        )
