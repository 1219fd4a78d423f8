"""A driver instance: what one ``test:///...`` URI opens, as libvirt's test driver keeps it.

:class:`Hypervisor` is composed of one object per kind, each owning its objects, XML and
events, and reaching the others through their public methods only:

=================  ===================================================  ======================
attribute          kind                                                 module
=================  ===================================================  ======================
``host``           node info, capabilities, versions                    ``host.model``
``domains``        domains, their state machine and events              ``domains.model``
``snapshots``      domain snapshots and checkpoints                     ``snapshots.model``
``networks``       virtual networks                                     ``networks.model``
``storage``        storage pools and volumes                            ``storage.model``
``interfaces``     host interfaces                                      ``interfaces.model``
``nodedevs``       node devices                                         ``nodedevs.model``
=================  ===================================================  ======================

It knows nothing about RPC: the REMOTE program's handlers (``<kind>/procedures.py``) map
procedures onto these objects and turn :class:`VirtError` into error replies.  All public
methods are thread-safe; events are delivered to subscribers synchronously, outside the
state lock, in the order they happened.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, Final

from ..core import DriverCore, Event, EventCallback, Flavour, StateFileError
from ..domains.model import (
    DomainEventDetail,
    DomainEventType,
    DomainInfo,
    DomainKey,
    DomainLifecycleEvent,
    DomainRebootEvent,
    DomainRef,
    Domains,
    DomainState,
    MonitorEvent,
)
from ..domxml import VirtError, parse_uuid
from ..host.model import Host, NodeInfo
from ..interfaces.model import Interfaces
from ..networks.model import NetworkLifecycleEvent, NetworkRef, Networks
from ..nodedevs.model import NodeDevices
from ..persist import write_atomically
from ..snapshots.model import Snapshots
from ..storage.model import (
    PoolInfo,
    PoolLifecycleEvent,
    PoolRef,
    Storage,
    VolumeData,
    VolumeInfo,
    VolumeRef,
)

log = logging.getLogger("testvirtd.hypervisor")

__all__ = (
    "DomainEventDetail",
    "DomainEventType",
    "DomainInfo",
    "DomainKey",
    "DomainLifecycleEvent",
    "DomainRebootEvent",
    "DomainRef",
    "DomainState",
    "Event",
    "Flavour",
    "Hypervisor",
    "MonitorEvent",
    "NetworkLifecycleEvent",
    "NetworkRef",
    "NodeInfo",
    "PoolInfo",
    "PoolLifecycleEvent",
    "PoolRef",
    "StateFileError",
    "VirtError",
    "VolumeData",
    "VolumeInfo",
    "VolumeRef",
)

STATE_FORMAT: Final = "testvirtd-state"
STATE_VERSION: Final = 1


class Hypervisor:
    """One driver instance.  A fresh one equals a freshly opened ``test:///default``.

    :param flavour: ``"test"`` (type TEST, the test driver's capabilities) or ``"qemu"``
        (type QEMU, x86_64 KVM/QEMU capabilities; domain types qemu/kvm only).
    :param storage_dir: where volume backing files live.  ``None`` uses a private temporary
        directory removed by :meth:`close`.
    :param hostname: what ``CONNECT_GET_HOSTNAME`` answers (default: this machine's name,
        as the test driver does).
    :param populate: add test:///default's objects (domain "test", network "default",
        pool "default-pool").
    """

    def __init__(
        self,
        *,
        flavour: Flavour = "test",
        storage_dir: str | None = None,
        hostname: str | None = None,
        populate: bool = True,
    ) -> None:
        self.core = DriverCore(flavour)
        self._hostname = hostname
        #: called (without arguments, in the resetting thread) after every :meth:`reset`:
        #: whatever serves objects of the old state (QMP sockets) learns that they are gone,
        #: since a reset sends no events
        self.on_reset: list[Callable[[], None]] = []
        # The first storage room owns the temporary volume directory, for the instance's
        # whole life (reset() builds new rooms in the same directory).
        self._storage_owner = Storage(self.core, storage_dir)
        self._build(self._storage_owner, populate=populate)

    def _build(self, storage: Storage, *, populate: bool) -> None:
        self.host = Host(self.core, self._hostname)
        self.domains = Domains(self.core)
        self.snapshots = Snapshots(self.core, self.domains)
        self.networks = Networks(self.core)
        self.storage = storage
        self.interfaces = Interfaces(self.core)
        self.nodedevs = NodeDevices(self.core)
        storage.vports = self.nodedevs
        if populate:
            self.domains.populate_default()
            self.networks.populate_default()
            self.storage.populate_default()
            self.interfaces.populate_default()
            self.nodedevs.populate_default()

    def reset(self) -> None:
        """Go back to the state of a fresh instance (a newly opened ``test:///default``):
        the default objects only, domain ids from 1, no volumes.  Subscribers stay; no
        events are sent, but the :attr:`on_reset` hooks run."""
        with self.core.lock:
            self.core.discard_pending()
            for pool in self.storage.dump():
                for volume in pool["volumes"]:
                    if not volume["file"]:
                        continue
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(self.storage_dir, volume["file"]))
            self._build(Storage(self.core, self.storage_dir), populate=True)
            self.core.reset_callback_ids()
        for hook in list(self.on_reset):
            try:
                hook()
            except Exception:
                log.exception("reset hook failed")

    @property
    def flavour(self) -> Flavour:
        """The instance's own flavour."""
        return self.core.flavour

    @property
    def storage_dir(self) -> str:
        """Where volume backing files live."""
        return self.storage.storage_dir

    def close(self) -> None:
        """Release the temporary volume directory (if the instance created one)."""
        self._storage_owner.close()

    def __enter__(self) -> Hypervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- events

    def subscribe(self, callback: EventCallback) -> int:
        """Register *callback* for every event of every kind; see
        :meth:`DriverCore.subscribe`."""
        return self.core.subscribe(callback)

    def unsubscribe(self, token: int) -> None:
        """Remove a subscription (unknown tokens are ignored)."""
        self.core.unsubscribe(token)

    # ---------------------------------------------------------------- persistence

    def snapshot(self) -> dict[str, Any]:
        """:meth:`to_json`, except that the domains are :meth:`Domains.snapshot` tuples
        (formatting them is left to the caller, which may do it in another thread)."""
        with self.core.lock:
            next_id, domains = self.domains.snapshot()
            return {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "flavour": self.flavour,
                "next_id": next_id,
                "domains": domains,
                "networks": self.networks.dump(),
                "pools": self.storage.dump(),
                "interfaces": self.interfaces.dump(),
                "nodedevs": self.nodedevs.dump(),
            }

    def to_json(self) -> dict[str, Any]:
        """The whole mutable state as a JSON-serialisable dict."""
        with self.core.lock:
            domains = self.domains.dump()
            return {
                "format": STATE_FORMAT,
                "version": STATE_VERSION,
                "flavour": self.flavour,
                "next_id": domains["next_id"],
                "domains": domains["domains"],
                "networks": self.networks.dump(),
                "pools": self.storage.dump(),
                "interfaces": self.interfaces.dump(),
                "nodedevs": self.nodedevs.dump(),
            }

    def save(self, path: str) -> None:
        """Write the state to *path* atomically (temp file, fsync, rename, fsync dir)."""
        write_atomically(path, json.dumps(self.to_json(), indent=1, sort_keys=True).encode())

    @classmethod
    def load(
        cls, path: str, *, storage_dir: str | None = None, hostname: str | None = None
    ) -> Hypervisor:
        """Restore a hypervisor saved with :meth:`save`.

        Volume files missing from *storage_dir* are recreated empty (sparse) with their
        capacity.  :raises StateFileError: if the file is unreadable or malformed; the
        message names the file and what is wrong.  Nothing is ever silently replaced.
        """
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            raise StateFileError(f"{path}: cannot read state file: {exc.strerror}") from exc
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StateFileError(f"{path}: not valid JSON: {exc}") from exc
        try:
            return cls._from_json(data, storage_dir=storage_dir, hostname=hostname)
        except StateFileError as exc:
            raise StateFileError(f"{path}: {exc}") from exc
        except VirtError as exc:
            raise StateFileError(f"{path}: invalid definition: {exc.message}") from exc
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateFileError(f"{path}: malformed state: {type(exc).__name__}: {exc}") from exc

    @classmethod
    def _from_json(cls, data: Any, *, storage_dir: str | None, hostname: str | None) -> Hypervisor:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise StateFileError(f"not a {STATE_FORMAT} file")
        if data.get("version") != STATE_VERSION:
            raise StateFileError(f"unsupported state version {data.get('version')!r}")
        hv = cls(
            flavour=data["flavour"], storage_dir=storage_dir, hostname=hostname, populate=False
        )
        hv.domains.restore({"next_id": data["next_id"], "domains": data["domains"]})
        hv.snapshots.restore({
            parse_uuid(ET.fromstring(item["xml"]).findtext("uuid") or ""): item["moments"]
            for item in data["domains"] if item.get("moments")
        })
        hv.networks.restore(data["networks"])
        hv.storage.restore(data["pools"])
        # state files written before interfaces and node devices were kept have the
        # test driver's own
        if "interfaces" in data:
            hv.interfaces.restore(data["interfaces"])
        else:
            hv.interfaces.populate_default()
        if "nodedevs" in data:
            hv.nodedevs.restore(data["nodedevs"])
        else:
            hv.nodedevs.populate_default()
        return hv
