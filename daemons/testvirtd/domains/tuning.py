"""Changes the test driver makes to a domain's definition through the tuning APIs, and the
queries that read them back: IOThreads (add, delete, pin, polling parameters).

Changes apply to the live definition, the persistent one, or both, as the
``VIR_DOMAIN_AFFECT_*`` flags select (see :func:`.runtime.select_def`); the XML shows them.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

from ..domxml import DomainDef, ErrCode, ErrDomain, VirtError
from .model import DomainKey, Domains
from .runtime import (
    AFFECT_CONFIG,
    AFFECT_LIVE,
    T_UINT,
    T_ULLONG,
    TypedParam,
    check_flags,
    cpumap_bytes,
    cpus_from_map,
    format_cpuset,
    parse_cpuset,
    priv,
    select_def,
    select_defs,
    validate_params,
)

__all__ = ("DomainTuning", "host_online_cpus")

POLL_MAX_NS_DEFAULT = 32768


def host_online_cpus() -> list[int]:
    """The CPUs online on the machine the daemon runs on: libvirt's default IOThread
    affinity is the real host's, even in the test driver."""
    try:
        with open("/sys/devices/system/cpu/online") as fh:
            return parse_cpuset(fh.read().strip())
    except OSError:
        return list(range(os.cpu_count() or 1))


def _iothread_ids(defn: DomainDef) -> list[int]:
    ids = defn.extra.get("iothreadids", [])
    if ids:
        return [int(t.get("id", "0")) for t in ids[0] if t.tag == "iothread"]
    count = defn.extra.get("iothreads", [])
    if count:
        return list(range(1, int((count[0].text or "0").strip() or 0) + 1))
    return []


def _set_iothread_ids(defn: DomainDef, ids: Sequence[int]) -> None:
    if not ids:
        defn.extra.pop("iothreads", None)
        defn.extra.pop("iothreadids", None)
        return
    count = ET.Element("iothreads")
    count.text = str(len(ids))
    holder = ET.Element("iothreadids")
    for n in ids:
        ET.SubElement(holder, "iothread", {"id": str(n)})
    defn.extra["iothreads"] = [count]
    defn.extra["iothreadids"] = [holder]


def cputune(defn: DomainDef, create: bool = True) -> ET.Element | None:
    """The ``<cputune>`` element (created empty on demand)."""
    tunes = defn.extra.get("cputune")
    if tunes:
        return tunes[0]
    if not create:
        return None
    elem = ET.Element("cputune")
    defn.extra["cputune"] = [elem]
    return elem


#: the order libvirt writes the children of <cputune> in
_CPUTUNE_ORDER = ("shares", "global_period", "global_quota", "period", "quota",
                  "emulator_period", "emulator_quota", "iothread_period", "iothread_quota",
                  "vcpupin", "emulatorpin", "iothreadpin", "vcpusched", "iothreadsched",
                  "cachetune", "memorytune")


def set_cputune_child(defn: DomainDef, tag: str, match: dict[str, str],
                      attrs: dict[str, str] | None) -> None:
    """Replace (or, with *attrs* None, remove) the ``<cputune>`` child *tag* whose
    attributes include *match*; keeps libvirt's order and drops an empty ``<cputune>``."""
    tune = cputune(defn)
    assert tune is not None
    for child in list(tune):
        if child.tag == tag and all(child.get(k) == v for k, v in match.items()):
            tune.remove(child)
    if attrs is not None:
        tune.append(ET.Element(tag, attrs))
    rank = {t: i for i, t in enumerate(_CPUTUNE_ORDER)}

    def key(e: ET.Element) -> tuple[int, int]:
        num = e.get("vcpu") or e.get("iothread") or "0"
        return rank.get(e.tag, len(rank)), int(num) if num.isdigit() else 0

    children = sorted(tune, key=key)
    for child in list(tune):
        tune.remove(child)
    tune.extend(children)
    if not len(tune):
        defn.extra.pop("cputune", None)


class DomainTuning:
    """The tuning APIs of the test driver on the domains of one driver instance."""

    def __init__(self, domains: Domains) -> None:
        self.domains = domains

    # ------------------------------------------------------------------ IOThreads

    def iothread_info(self, key: DomainKey, flags: int, maplen: int | None = None
                      ) -> list[tuple[int, list[int]]]:
        """``virDomainGetIOThreadInfo``: (id, CPUs) per IOThread of the selected
        definition."""
        check_flags("testDomainGetIOThreadInfo", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            out = []
            for n in _iothread_ids(defn):
                tune = cputune(defn, create=False)
                pin = None
                if tune is not None:
                    pin = next((c for c in tune if c.tag == "iothreadpin"
                                and c.get("iothread") == str(n)), None)
                if pin is not None:
                    cpus = parse_cpuset(pin.get("cpuset", ""))
                elif defn.vcpu_attrs.get("cpuset"):
                    cpus = parse_cpuset(defn.vcpu_attrs["cpuset"])
                else:
                    cpus = host_online_cpus()
                out.append((n, cpus))
            return out

    def add_iothread(self, key: DomainKey, iothread_id: int, flags: int) -> None:
        """``virDomainAddIOThread``."""
        check_flags("testDomainAddIOThread", flags, AFFECT_LIVE | AFFECT_CONFIG)
        if iothread_id == 0:
            raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST, "invalid argument: %s",
                                "invalid value of 0 for iothread_id")
        with self.domains.access(key) as d:
            _exclusive_affect(flags)
            live, config = select_defs(d, flags)
            for defn in (live, config):
                if defn is not None and iothread_id in _iothread_ids(defn):
                    raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN,
                                        "invalid argument: %s",
                                        f"an IOThread is already using iothread_id "
                                        f"'{iothread_id}'")
            for defn in (live, config):
                if defn is not None:
                    _set_iothread_ids(defn, [*_iothread_ids(defn), iothread_id])
            threads = priv(d)["iothreads"]
            threads.append({"id": iothread_id, "poll_max_ns": POLL_MAX_NS_DEFAULT,
                            "poll_grow": 0, "poll_shrink": 0})

    def del_iothread(self, key: DomainKey, iothread_id: int, flags: int) -> None:
        """``virDomainDelIOThread``."""
        check_flags("testDomainDelIOThread", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            _exclusive_affect(flags)
            live, config = select_defs(d, flags)
            for defn in (live, config):
                if defn is not None and iothread_id not in _iothread_ids(defn):
                    raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.DOMAIN,
                                        "invalid argument: %s",
                                        f"cannot find IOThread '{iothread_id}' in "
                                        "iothreadids list")
            for defn in (live, config):
                if defn is not None:
                    _set_iothread_ids(defn, [n for n in _iothread_ids(defn) if n != iothread_id])
                    if cputune(defn, create=False) is not None:
                        set_cputune_child(defn, "iothreadpin", {"iothread": str(iothread_id)},
                                          None)
            threads = priv(d)["iothreads"]
            threads[:] = [t for t in threads if t["id"] != iothread_id]

    def pin_iothread(self, key: DomainKey, iothread_id: int, cpumap: bytes,
                     flags: int) -> None:
        """``virDomainPinIOThread``."""
        check_flags("testDomainPinIOThread", flags, AFFECT_LIVE | AFFECT_CONFIG)
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            if iothread_id not in _iothread_ids(defn):
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s", f"iothreadid {iothread_id} not found")
            cpus = cpus_from_map(cpumap)
            if not cpus:
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s",
                                    "Empty iothread cpumap list for pinning")
            set_cputune_child(defn, "iothreadpin", {"iothread": str(iothread_id)},
                              {"iothread": str(iothread_id), "cpuset": format_cpuset(cpus)})

    def set_iothread_params(self, key: DomainKey, iothread_id: int,
                            params: Sequence[TypedParam], flags: int) -> None:
        """``virDomainSetIOThreadParams``: polling parameters of a live IOThread."""
        check_flags("testDomainSetIOThreadParams", flags, AFFECT_LIVE)
        validate_params(params, {"poll_max_ns": T_ULLONG, "poll_grow": T_UINT,
                                 "poll_shrink": T_UINT})
        with self.domains.access(key) as d:
            defn, _ = select_def(d, flags)
            if iothread_id not in _iothread_ids(defn):
                raise VirtError.fmt(ErrCode.INVALID_ARG, ErrDomain.TEST,
                                    "invalid argument: %s",
                                    f"cannot find IOThread '{iothread_id}' in iothreadids")
            for t in priv(d)["iothreads"]:
                if t["id"] == iothread_id:
                    for name, _ptype, value in params:
                        t[name] = value


def _exclusive_affect(flags: int) -> None:
    if flags & AFFECT_LIVE and flags & AFFECT_CONFIG:
        from .runtime import exclusive

        raise exclusive("VIR_DOMAIN_AFFECT_LIVE", "VIR_DOMAIN_AFFECT_CONFIG")


def iothread_cpumap(cpus: Sequence[int], maplen: int) -> bytes:
    """An IOThread's CPU map for the wire."""
    return cpumap_bytes(cpus, maplen)


_ = Any
