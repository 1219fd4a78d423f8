"""Pieces of network XML libvirt shares with other objects: tristate attributes, ``<vlan>``,
``<bandwidth>``, ``<virtualport>`` and ``<metadata>``, read and written as libvirt 9.0 does
(its ``virNetDevVlan``, ``virNetDevBandwidth``, ``virNetDevVPortProfile`` and
``virXMLFormatMetadata`` code, whose errors belong to no driver: domain 0)."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Final

from ..domxml import ErrCode, ErrDomain, VirtError, esc, format_uuid, parse_uuid
from ..netaddr import strtoui, strtoul_p

__all__ = (
    "Bandwidth",
    "MetadataElem",
    "Rate",
    "VirtualPort",
    "Vlan",
    "dump_metadata",
    "format_bandwidth",
    "format_virtualport",
    "format_vlan",
    "parse_bandwidth",
    "parse_metadata",
    "parse_virtualport",
    "parse_vlan",
    "tristate",
)

MetadataElem = ET.Element
_VPORT_TYPES: Final = ("802.1Qbg", "802.1Qbh", "openvswitch", "midonet")
_NATIVE_MODES: Final = ("tagged", "untagged")


def _xml_error(info: str, domain: int = ErrDomain.NONE) -> VirtError:
    return VirtError.xml_error(domain, info)


def tristate(elem: ET.Element | None, attr: str) -> str | None:
    """``virXMLPropTristateBool``: "yes", "no" or None (absent); anything else is refused."""
    if elem is None:
        return None
    value = elem.get(attr)
    if value is None:
        return None
    if value not in ("yes", "no"):
        raise VirtError.fmt(
            ErrCode.XML_ERROR, ErrDomain.XML, "XML error: %s",
            f"Invalid value for attribute '{attr}' in element '{elem.tag}': '{value}'.")
    return value


# ------------------------------------------------------------------------------ vlan


@dataclass
class Vlan:
    """``<vlan>``: tags, trunk, the native tag and its mode."""

    tags: list[int]
    trunk: bool = False
    native_mode: str | None = None
    native_tag: int = 0


def parse_vlan(node: ET.Element) -> Vlan:
    """``virNetDevVlanParse``."""
    tag_nodes = node.findall("tag")
    if not tag_nodes:
        raise _xml_error("missing tag id - each <vlan> must have at least one <tag id='n'/> "
                         "subelement")
    vlan = Vlan(tags=[])
    for tag in tag_nodes:
        text = tag.get("id")
        value = strtoul_p(text) if text else None
        if value is None:
            raise _xml_error("missing or invalid vlan tag id attribute")
        if value > 4095:
            raise _xml_error(f"vlan tag id {value} too large (maximum 4095)")
        mode = tag.get("nativeMode") or None
        if mode is not None:
            if vlan.native_mode is not None:
                raise _xml_error("duplicate native vlan setting")
            if mode not in _NATIVE_MODES:
                raise _xml_error(f"Attribute \"nativeMode='{mode}'\" is invalid")
            vlan.native_mode = mode
            vlan.native_tag = value
        vlan.tags.append(value)
    vlan.trunk = len(vlan.tags) > 1
    trunk = node.get("trunk") or None
    if trunk is not None:
        vlan.trunk = trunk.lower() == "yes"
        if not vlan.trunk:
            if len(vlan.tags) > 1:
                raise _xml_error(f"invalid \"trunk='{trunk}'\" in <vlan> - trunk='yes' is "
                                 "required for more than one vlan tag")
            if vlan.native_mode is not None:
                raise _xml_error("invalid configuration in <vlan> - \"trunk='no'\" is not "
                                 "allowed with a native vlan id")
            if trunk.lower() != "no":
                raise _xml_error(f"invalid \"trunk='{trunk}'\" in <vlan> - must be yes or no")
    return vlan


def format_vlan(vlan: Vlan, indent: int) -> str:
    """``virNetDevVlanFormat``."""
    pad = " " * indent
    out = [f"{pad}<vlan{' trunk=' + chr(39) + 'yes' + chr(39) if vlan.trunk else ''}>\n"]
    for tag in vlan.tags:
        line = f"{pad}  <tag id='{tag}'"
        if vlan.native_mode is not None and vlan.native_tag == tag:
            line += f" nativeMode='{vlan.native_mode}'"
        out.append(line + "/>\n")
    out.append(f"{pad}</vlan>\n")
    return "".join(out)


# ------------------------------------------------------------------------------ bandwidth


@dataclass
class Rate:
    """One direction of ``<bandwidth>``."""

    average: int = 0
    peak: int = 0
    floor: int = 0
    burst: int = 0


@dataclass
class Bandwidth:
    """``<bandwidth>``."""

    inbound: Rate | None = None
    outbound: Rate | None = None


def _unsupported(info: str) -> VirtError:
    return VirtError.fmt(ErrCode.CONFIG_UNSUPPORTED, ErrDomain.NONE,
                         "unsupported configuration: %s", info)


def _detail(info: str) -> VirtError:
    return VirtError(ErrCode.XML_DETAIL, ErrDomain.NONE, info, str1="%s", str2=info)


def _parse_rate(node: ET.Element) -> Rate:
    rate = Rate()
    average, peak = node.get("average"), node.get("peak")
    burst, floor = node.get("burst"), node.get("floor")
    if average is not None:
        value = strtoul_p(average)
        if value is None:
            raise _unsupported(f"could not convert bandwidth average value '{average}'")
        rate.average = value
    elif floor is None:
        raise _detail("Missing mandatory average or floor attributes")
    if (peak is not None or burst is not None) and average is None:
        raise _detail("'peak' and 'burst' require 'average' attribute")
    for name, text in (("peak", peak), ("burst", burst)):
        if text is not None:
            value = strtoul_p(text)
            if value is None:
                raise _unsupported(f"could not convert bandwidth {name} value '{text}'")
            setattr(rate, name, value)
    if floor is not None:
        raise _unsupported("floor attribute is not supported for this config")
    return rate


def parse_bandwidth(node: ET.Element) -> Bandwidth | None:
    """``virNetDevBandwidthParse`` (no floor: not allowed in networks); None when it has
    neither direction."""
    inbound = outbound = None
    for child in node:
        if child.tag == "inbound":
            if inbound is not None:
                raise _detail("Only one child <inbound> element allowed")
            inbound = child
        elif child.tag == "outbound":
            if outbound is not None:
                raise _detail("Only one child <outbound> element allowed")
            outbound = child
    bw = Bandwidth()
    if inbound is not None:
        bw.inbound = _parse_rate(inbound)
        if not bw.inbound.average and not bw.inbound.floor:
            raise _detail("Missing mandatory average or floor attributes")
    if outbound is not None:
        bw.outbound = _parse_rate(outbound)
        if not bw.outbound.average:
            raise _detail("Missing mandatory average or floor attributes")
    if bw.inbound is None and bw.outbound is None:
        return None
    return bw


def format_bandwidth(bw: Bandwidth, indent: int) -> str:
    """``virNetDevBandwidthFormat``."""
    pad = " " * indent
    out = [f"{pad}<bandwidth>\n"]
    for name, rate in (("inbound", bw.inbound), ("outbound", bw.outbound)):
        if rate is None:
            continue
        line = f"{pad}  <{name}"
        for attr in ("average", "peak", "floor", "burst"):
            value = getattr(rate, attr)
            if value:
                line += f" {attr}='{value}'"
        out.append(line + "/>\n")
    out.append(f"{pad}</bandwidth>\n")
    return "".join(out)


# ------------------------------------------------------------------------------ virtualport


@dataclass
class VirtualPort:
    """``<virtualport>`` (``virNetDevVPortProfile``)."""

    type: str | None
    params: dict[str, str] = field(default_factory=dict)


#: attribute order of <parameters>, and the types each belongs to (None: no type)
_VPORT_PARAMS: Final = (
    ("managerid", ("802.1Qbg", None)),
    ("typeid", ("802.1Qbg", None)),
    ("typeidversion", ("802.1Qbg", None)),
    ("instanceid", ("802.1Qbg", None)),
    ("interfaceid", ("openvswitch", "midonet", None)),
    ("profileid", ("openvswitch", "802.1Qbh", None)),
)


def parse_virtualport(node: ET.Element, *, require_type: bool) -> VirtualPort:
    """``virNetDevVPortProfileParse`` (networks require a type, port groups do not)."""
    vtype = node.get("type")
    if vtype is not None and vtype not in _VPORT_TYPES:
        raise _unsupported(f"unknown virtualport type {vtype}")
    if vtype is None and require_type:
        raise _xml_error("missing required virtualport type")
    params: dict[str, str] = {}
    for child in node:
        if child.tag == "parameters":
            params = {k: v for k, v in child.attrib.items()
                      if k in dict(_VPORT_PARAMS)}
            break
    out: dict[str, str] = {}
    for name, limit in (("managerid", 0xFF), ("typeid", 0xFFFFFF), ("typeidversion", 0xFF)):
        if name in params:
            value = strtoui(params[name], base=0)
            if value is None:
                raise _xml_error(f"cannot parse value of {name} parameter")
            if value > limit:
                article = "for" if name == "typeid" else "of"
                raise _xml_error(f"value {article} {name} out of range")
            out[name] = str(value)
    for name in ("instanceid", "interfaceid"):
        if name in params:
            try:
                out[name] = format_uuid(parse_uuid(params[name]))
            except ValueError:
                raise _xml_error(f"cannot parse {name} parameter as a uuid") from None
    if "profileid" in params:
        if len(params["profileid"]) >= 40:
            raise _xml_error("profileid parameter too long")
        out["profileid"] = params["profileid"]
    for name, types in _VPORT_PARAMS:
        if name in out and vtype not in types:
            raise _xml_error(f"extra {name} unsupported in <virtualport type='{vtype}'>",
                             ErrDomain.NET)
    return VirtualPort(vtype, {name: out[name] for name, _types in _VPORT_PARAMS
                               if name in out})


def format_virtualport(vport: VirtualPort, indent: int) -> str:
    """``virNetDevVPortProfileFormat``."""
    pad = " " * indent
    head = f"{pad}<virtualport" + (f" type='{vport.type}'" if vport.type else "")
    if not vport.params:
        return head + "/>\n"
    attrs = "".join(f" {k}='{esc(v)}'" for k, v in vport.params.items())
    return f"{head}>\n{pad}  <parameters{attrs}/>\n{pad}</virtualport>\n"


# ------------------------------------------------------------------------------ metadata


def _namespace_of(elem: ET.Element, parents: list[ET.Element]) -> str | None:
    prefix = elem.tag.split(":", 1)[0] if ":" in elem.tag else None
    key = f"xmlns:{prefix}" if prefix else "xmlns"
    for node in [elem, *reversed(parents)]:
        if key in node.attrib:
            return node.attrib[key] or None
    return None


def _drop_blanks(elem: ET.Element) -> ET.Element:
    for node in elem.iter():
        if node.text is not None and not node.text.strip():
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    return elem


def parse_metadata(node: ET.Element, root: ET.Element) -> list[MetadataElem]:
    """The children of ``<metadata>`` libvirt keeps: those in a namespace, one per
    namespace (``virXMLNodeSanitizeNamespaces``)."""
    kept: list[MetadataElem] = []
    seen: set[str] = set()
    for child in node:
        ns = _namespace_of(child, [root, node])
        if ns is None or ns in seen:
            continue
        seen.add(ns)
        kept.append(_drop_blanks(copy.deepcopy(child)))
    return kept


def _attr_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("\n", "&#10;").replace("\r", "&#13;")
            .replace("\t", "&#9;"))


def _text_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def _dump(elem: ET.Element, level: int, fmt: bool) -> str:
    """libxml2's ``xmlNodeDump`` of an element with formatting (two spaces a level)."""
    items = list(elem.attrib.items())
    attrs = [kv for kv in items if kv[0] == "xmlns" or kv[0].startswith("xmlns:")]
    attrs += [kv for kv in items if not (kv[0] == "xmlns" or kv[0].startswith("xmlns:"))]
    out = f"<{elem.tag}" + "".join(f' {k}="{_attr_escape(v)}"' for k, v in attrs)
    children = list(elem)
    if not children and not elem.text:
        return out + "/>"
    mixed = bool(elem.text) or any(c.tail for c in children)
    inner = fmt and not mixed
    out += ">"
    if elem.text:
        out += _text_escape(elem.text)
    for child in children:
        if inner:
            out += "\n" + "  " * (level + 1)
        out += _dump(child, level + 1, inner)
        if child.tail:
            out += _text_escape(child.tail)
    if inner:
        out += "\n" + "  " * level
    return out + f"</{elem.tag}>"


def dump_metadata(elems: list[MetadataElem], level: int) -> str:
    """``virXMLFormatMetadata``: ``<metadata>`` at *level* (its own line, indented)."""
    holder = ET.Element("metadata")
    holder.extend(elems)
    return "  " * level + _dump(holder, level, True) + "\n"
