"""``virConnectBaselineCPU`` as libvirt 9.0's test driver computes it.

The input CPUs are parsed as host CPU definitions, then handed to the CPU driver of the
first one's architecture:

* x86 (i686, x86_64): the CPUID and MSR bits of every CPU (its model's features plus its
  own) are intersected, the first CPU's vendor added, and the result decoded back into the
  CPU model that needs the fewest extra or disabled features (newest model first; the
  model every input CPU names wins outright);
* ppc64: every CPU must name the same model;
* arm: the first CPU's model;
* anything else: libvirt's refusal.

The x86 models and features are libvirt's own CPU map, read from where libvirt installs it
(``/usr/share/libvirt/cpu_map``); without it, libvirt itself could not compute a baseline and
neither can testvirtd (it answers libvirt's error for a missing map).
"""

from __future__ import annotations

import os
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Final

from ..domxml import ErrCode, VirtError, parse_xml
from .cpu import ARCHITECTURES, FROM_CPU

__all__ = ("CPU_MAP_DIR", "baseline_cpu")

#: where libvirt installs its CPU map
CPU_MAP_DIR: Final = "/usr/share/libvirt/cpu_map"
#: VIR_CONNECT_BASELINE_CPU_EXPAND_FEATURES (the test driver takes no other flag)
EXPAND_FEATURES: Final = 1

_X86: Final = ("i686", "x86_64")
_PPC64: Final = ("ppc64", "ppc64le")
_ARM: Final = ("armv6l", "armv7l", "armv7b", "aarch64")
_S390: Final = ("s390", "s390x")

Bits = frozenset[tuple[str, int, int, str, int]]


# ------------------------------------------------------------------------------ the map


@dataclass
class _Model:
    name: str
    vendor: str | None
    data: Bits
    decode_host: bool = True
    decode_guest: bool = True
    #: features the model once had (QEMU dropped them): a guest CPU of this model has them
    #: disabled explicitly
    removed: tuple[str, ...] = ()


@dataclass
class _CpuMap:
    #: features in the map's order, with their bits
    features: list[tuple[str, Bits]] = field(default_factory=list)
    by_name: dict[str, Bits] = field(default_factory=dict)
    vendors: dict[str, Bits] = field(default_factory=dict)
    models: list[_Model] = field(default_factory=list)


def _bits(elem: ET.Element) -> Bits:
    """The bits one ``<cpuid>`` or ``<msr>`` element sets."""
    out: set[tuple[str, int, int, str, int]] = set()
    if elem.tag == "cpuid":
        leaf = (int(elem.get("eax_in", "0"), 0), int(elem.get("ecx_in", "0"), 0))
        regs: tuple[str, ...] = ("eax", "ebx", "ecx", "edx")
        kind = "cpuid"
    else:
        leaf = (int(elem.get("index", "0"), 0), 0)
        regs = ("eax", "edx")
        kind = "msr"
    for reg in regs:
        value = int(elem.get(reg, "0"), 0)
        out.update((kind, leaf[0], leaf[1], reg, bit) for bit in range(32) if value >> bit & 1)
    return frozenset(out)


def _vendor_bits(string: str) -> Bits:
    raw = string.encode().ljust(12, b"\0")[:12]
    words = {"ebx": raw[0:4], "edx": raw[4:8], "ecx": raw[8:12]}
    out: set[tuple[str, int, int, str, int]] = set()
    for reg, chunk in words.items():
        value = int.from_bytes(chunk, "little")
        out.update(("cpuid", 0, 0, reg, bit) for bit in range(32) if value >> bit & 1)
    return frozenset(out)


def _load_x86(directory: str) -> _CpuMap:
    cmap = _CpuMap()
    index = ET.parse(os.path.join(directory, "index.xml")).getroot()
    arch = next(a for a in index.findall("arch") if a.get("name") == "x86")
    for include in arch.findall("include"):
        root = ET.parse(os.path.join(directory, include.get("filename", ""))).getroot()
        for vendor in root.findall("vendor"):
            cmap.vendors[vendor.get("name", "")] = _vendor_bits(vendor.get("string", ""))
        for feature in root.findall("feature"):
            data: Bits = frozenset().union(*(_bits(e) for e in feature
                                             if e.tag in ("cpuid", "msr")))
            cmap.features.append((feature.get("name", ""), data))
            cmap.by_name[feature.get("name", "")] = data
        for model in root.findall("model"):
            decode = model.find("decode")
            model_vendor = model.find("vendor")
            names = [f.get("name", "") for f in model.findall("feature")
                     if f.get("removed") != "yes"]
            removed = tuple(f.get("name", "") for f in model.findall("feature")
                            if f.get("removed") == "yes")
            cmap.models.append(_Model(
                model.get("name", ""),
                model_vendor.get("name") if model_vendor is not None else None,
                frozenset().union(*(cmap.by_name[n] for n in names)),
                decode is None or decode.get("host") != "off",
                decode is None or decode.get("guest") != "off",
                removed,
            ))
    return cmap


_lock = threading.Lock()
_cache: dict[str, _CpuMap] = {}


def _x86_map() -> _CpuMap:
    with _lock:
        cmap = _cache.get(CPU_MAP_DIR)
        if cmap is None:
            try:
                cmap = _load_x86(CPU_MAP_DIR)
            except (OSError, ET.ParseError, KeyError, StopIteration, ValueError):
                raise VirtError.internal_error(
                    FROM_CPU, f"failed to load CPU map from {CPU_MAP_DIR}") from None
            _cache[CPU_MAP_DIR] = cmap
        return cmap


# ------------------------------------------------------------------------------ input


@dataclass
class _Cpu:
    arch: str
    model: str
    vendor: str | None
    features: list[str]


def _cpu_error(info: str, code: int = ErrCode.XML_ERROR) -> VirtError:
    template = {ErrCode.XML_ERROR: "XML error: %s", ErrCode.CONFIG_UNSUPPORTED:
                "unsupported configuration: %s"}[code]
    return VirtError.fmt(code, FROM_CPU, template, info)


def _parse_cpu(xml: str) -> _Cpu:
    """One of the CPUs to baseline, parsed as libvirt parses a host CPU definition."""
    try:
        root = parse_xml(xml, "cpu", context="CPU_definition", err_domain=FROM_CPU)
    except VirtError as exc:
        if exc.domain == FROM_CPU:
            raise
        # a document whose root is not <cpu>
        raise _cpu_error("XML does not contain expected 'cpu' element") from None
    if root.get("mode") is not None:
        raise _cpu_error("Attribute mode is only allowed for guest CPU",
                         ErrCode.CONFIG_UNSUPPORTED)
    arch = root.findtext("arch")
    if not arch:
        raise _cpu_error("Missing CPU architecture")
    if arch not in ARCHITECTURES:
        raise _cpu_error(f"Unknown architecture {arch}", ErrCode.CONFIG_UNSUPPORTED)
    model = root.findtext("model")
    if not model:
        raise _cpu_error("Missing CPU model name")
    features: list[str] = []
    for feature in root.findall("feature"):
        name = feature.get("name")
        if not name:
            raise _cpu_error("Invalid CPU feature name")
        if name in features:
            raise _cpu_error(f"CPU feature '{name}' specified more than once")
        features.append(name)
    return _Cpu(arch, model, root.findtext("vendor") or None, features)


# ------------------------------------------------------------------------------ output


def _format(model: str, forbid: bool, vendor: str | None,
            features: list[tuple[str, str]]) -> str:
    out = ["<cpu mode='custom' match='exact'>\n",
           f"  <model fallback='{'forbid' if forbid else 'allow'}'>{model}</model>\n"]
    if vendor is not None:
        out.append(f"  <vendor>{vendor}</vendor>\n")
    out.extend(f"  <feature policy='{policy}' name='{name}'/>\n" for policy, name in features)
    out.append("</cpu>\n")
    return "".join(out)


# ------------------------------------------------------------------------------ x86


def _model_data(cmap: _CpuMap, cpu: _Cpu) -> tuple[_Model, Bits]:
    model = next((m for m in cmap.models if m.name == cpu.model), None)
    if model is None:
        raise VirtError.internal_error(FROM_CPU, f"Unknown CPU model {cpu.model}")
    data = set(model.data)
    for name in cpu.features:
        bits = cmap.by_name.get(name)
        if bits is None:
            raise VirtError.internal_error(FROM_CPU, f"Unknown CPU feature {name}")
        data |= bits
    return model, frozenset(data)


def _features_of(cmap: _CpuMap, data: Bits) -> list[str]:
    """The map's features whose bits are all in *data*, in the map's order, each taking its
    bits away (as libvirt lists a CPU's features)."""
    left = set(data)
    names = []
    for name, bits in cmap.features:
        if bits and bits <= left:
            left -= bits
            names.append(name)
    return names


def _x86_baseline(cpus: list[_Cpu], flags: int) -> str:
    cmap = _x86_map()
    _first_model, base = _model_data(cmap, cpus[0])
    output_vendor = cpus[0].vendor is not None
    vendor = cpus[0].vendor
    if vendor is not None and vendor not in cmap.vendors:
        raise VirtError.failed(FROM_CPU, f"Unknown CPU vendor {vendor}")
    model_name: str | None = cpus[0].model
    matching = True
    for cpu in cpus[1:]:
        if matching:
            if model_name is None:
                model_name = cpu.model
            elif model_name != cpu.model:
                model_name, matching = None, False
        model, data = _model_data(cmap, cpu)
        if cpu.vendor is not None and model.vendor is not None and cpu.vendor != model.vendor:
            raise VirtError.failed(FROM_CPU, f"CPU vendor {model.vendor} of model "
                                             f"{model.name} differs from vendor {cpu.vendor}")
        cpu_vendor = cpu.vendor
        if cpu_vendor is None:
            output_vendor = False
            cpu_vendor = model.vendor
        if cpu_vendor is not None:
            if vendor is None:
                if cpu_vendor not in cmap.vendors:
                    raise VirtError.failed(FROM_CPU, f"Unknown CPU vendor {cpu_vendor}")
                vendor = cpu_vendor
            elif vendor != cpu_vendor:
                raise VirtError.failed(FROM_CPU, "CPU vendors do not match")
        base &= data
    if not base:
        raise VirtError.failed(FROM_CPU, "CPUs are incompatible")
    if vendor is not None:
        base |= cmap.vendors[vendor]
    chosen, features, found_vendor = _x86_decode(cmap, base, model_name)
    forbid = chosen == model_name
    if flags & EXPAND_FEATURES:
        expanded = {name: "require" for name in _features_of(
            cmap, next(m for m in cmap.models if m.name == chosen).data)}
        for policy, name in features:
            expanded[name] = policy
        features = [(expanded[n], n) for n in sorted(expanded)]
    return _format(chosen, forbid, found_vendor if output_vendor else None, features)


def _weight(features: list[tuple[str, str]]) -> tuple[int, int]:
    """How heavy a candidate's feature list is: (total, disabled weight), compared in that
    order.  Disabled features weigh more the more there are: with half of them (rounded up)
    ``h``, they count ``h * (h + 3) / 2`` in place of ``h``."""
    disabled = sum(1 for policy, _name in features if policy == "disable")
    half = (disabled + 1) // 2
    weight = half * (half + 3) // 2
    return len(features) - half + weight, weight


def _updated(features: list[tuple[str, str]],
             changes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``virCPUDefUpdateFeature``: a feature already listed takes the new policy in its
    place, others are added at the end."""
    out = list(features)
    for policy, name in changes:
        at = next((i for i, (_p, n) in enumerate(out) if n == name), None)
        if at is None:
            out.append((policy, name))
        else:
            out[at] = (policy, name)
    return out


def _x86_decode(cmap: _CpuMap, data: Bits,
                preferred: str | None) -> tuple[str, list[tuple[str, str]], str | None]:
    """The model (and the features to require or disable) that describes *data* best."""
    vendor = next((name for name, bits in cmap.vendors.items() if bits and bits <= data),
                  None)
    if vendor is not None:
        data = data - cmap.vendors[vendor]
    best: tuple[str, list[tuple[str, str]]] | None = None
    for candidate in reversed(cmap.models):
        if vendor is not None and candidate.vendor is not None and candidate.vendor != vendor:
            continue
        extra = [("require", n) for n in _features_of(cmap, data - candidate.data)]
        missing = [("disable", n) for n in _features_of(cmap, candidate.data - data)]
        features = _updated(extra + missing, [("disable", n) for n in candidate.removed])
        if not candidate.decode_guest:
            continue
        if preferred is not None and candidate.name == preferred:
            best = (candidate.name, features)
            break
        if best is None or _weight(features) < _weight(best[1]):
            best = (candidate.name, features)
    if best is None:
        raise VirtError.internal_error(FROM_CPU, "Cannot find suitable CPU model for given data")
    return best[0], best[1], vendor


# ------------------------------------------------------------------------------ entry


def baseline_cpu(xml_cpus: list[str], flags: int) -> str:
    """``virConnectBaselineCPU`` of the test driver: the guest CPU every one of *xml_cpus*
    can run, as libvirt formats it.

    :raises VirtError: libvirt's error for bad flags, definitions, models or features.
    """
    if flags & ~EXPAND_FEATURES:
        raise VirtError.bad_flags("testConnectBaselineCPU", flags & ~EXPAND_FEATURES)
    cpus = [_parse_cpu(xml) for xml in xml_cpus]
    arch = cpus[0].arch
    if arch in _X86:
        return _x86_baseline(cpus, flags)
    if arch in _PPC64:
        for cpu in cpus:
            if cpu.model not in _ppc64_models():
                raise VirtError.internal_error(FROM_CPU, f"Unknown CPU model {cpu.model}")
            if cpu.model != cpus[0].model:
                raise VirtError.failed(FROM_CPU, "CPUs are incompatible")
        return _format(cpus[0].model, True, None, [])
    if arch in _ARM:
        return _format(cpus[0].model, False, None, [])
    if arch in _S390:
        raise VirtError.no_support(FROM_CPU, f"cannot compute baseline CPU of {arch} "
                                             "architecture")
    raise VirtError.no_support(FROM_CPU, f"'{arch}' architecture is not supported by CPU "
                                         "driver")


def _ppc64_models() -> tuple[str, ...]:
    from .cpu import cpu_model_names

    return tuple(cpu_model_names("ppc64"))
