"""Node files: what ``test:///ABS/PATH.xml`` opens, in libvirt's test driver format.

A ``<node>`` document describes a whole private driver instance::

    <node>
      <cpu><nodes/><sockets/><cores/><threads/><active/><mhz/><model/></cpu>
      <memory>KiB</memory>
      <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
        ...  <test:runstate>5</test:runstate> <test:transient/> <test:hasmanagedsave/>
        <test:domainsnapshot>...</test:domainsnapshot>
      </domain>
      <domain file='relative/or/absolute.xml'/>
      <network/> <interface/> <pool><volume/></pool> <device/>
    </node>

Every element may instead name a file (``file=``), resolved against the node file's
directory.  Objects are loaded in the test driver's order (node info, domains, networks,
interfaces, pools with their volumes, node devices) and a problem is reported with the
test driver's error, the first one found.  As in the test driver, domains start in the
given run state (running by default) and networks, interfaces and pools are active; pools
get a capacity of 100 GiB and volume paths and keys default to ``<pool path>/<name>``.

A non-empty ``<auth>`` makes opening ask for credentials, which only the daemon's auth.conf
can give (``LIBVIRT_AUTH_FILE``, ``$XDG_CONFIG_HOME/libvirt/auth.conf``,
``/etc/libvirt/auth.conf``), as in libvirtd.
"""

from __future__ import annotations

import configparser
import os
import xml.etree.ElementTree as ET
from typing import Final

from . import xmltree
from .domains.model import DomainState
from .domxml import ErrCode, ErrDomain, VirtError, parse_domain_xml, parse_xml
from .host.model import NodeInfo
from .hypervisor import Hypervisor
from .interfaces.xml import parse_interface
from .networks.xml import parse_network
from .nodedevs.xml import parse_nodedev
from .storage.xml import parse_pool, parse_volume

__all__ = ("TEST_NS", "load_node_file")

#: the test driver's domain XML namespace
TEST_NS: Final = "http://libvirt.org/schemas/domain/test/1.0"
_LABEL: Final = "\x00node-file\x00"
#: VIR_DOMAIN_LAST: run states 0..7
_DOMAIN_STATES: Final = 8


def _xml_error(info: str, domain: int = ErrDomain.TEST) -> VirtError:
    return VirtError.xml_error(domain, info)


def _read(path: str, root: str) -> ET.Element:
    """Parse the file *path*, whose root must be *root*, with libvirt's errors."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except IsADirectoryError:
        raw = b""  # libxml2 reads nothing from a directory
    except OSError:
        raise _xml_error(f"failed to parse xml document '{path}'") from None
    try:
        return parse_xml(raw, root, context=_LABEL, err_domain=ErrDomain.TEST)
    except VirtError as exc:
        if exc.code != ErrCode.XML_DETAIL:
            raise
        # libvirt labels file parse errors with the file name, not a document kind
        text = (exc.message or "").replace(f"({_LABEL})", path, 1)
        raise VirtError(ErrCode.XML_DETAIL, ErrDomain.TEST, text, str1="%s", str2=text) \
            from None


def _ref_path(elem: ET.Element, node_file: str) -> str | None:
    """The file *elem*'s ``file=`` names (relative to the node file), if any."""
    ref = elem.get("file")
    if ref is None:
        return None
    return ref if os.path.isabs(ref) else os.path.join(os.path.dirname(node_file), ref)


def _resolve(elem: ET.Element, node_file: str) -> ET.Element:
    """*elem*, or the document its ``file=`` names (relative to the node file)."""
    path = _ref_path(elem, node_file)
    return elem if path is None else _read(path, elem.tag)


def _libxml2_root(path: str) -> xmltree.Element:
    """The root element of the (already checked) file *path* as libxml2 keeps it: the test
    driver reads node files without dropping blanks."""
    with open(path, "rb") as fh:
        nodes = xmltree.parse_document(fh.read(), keep_blanks=True)
    return next(n for n in nodes if isinstance(n, xmltree.Element))


def _uint(root: ET.Element, path: str, what: str) -> int | None:
    """libvirt's virXPathUInt on ``string(path)``: None when missing, an XML error when
    not an unsigned number."""
    text = root.findtext(path)
    if text is None:
        return None
    try:
        value = int(text.strip(), 10)
        if value < 0 or value >= 1 << 32:
            raise ValueError
    except ValueError:
        raise _xml_error(f"invalid node {what} value") from None
    return value


def _node_info(hv: Hypervisor, root: ET.Element) -> None:
    info = hv.host.node_get_info("test")
    fields = {
        "nodes": info.nodes, "sockets": info.sockets, "cores": info.cores,
        "threads": info.threads,
    }
    for key in fields:
        value = _uint(root, f"cpu/{key}", f"cpu {key}")
        if value is not None:
            fields[key] = value
    cpus = fields["nodes"] * fields["sockets"] * fields["cores"] * fields["threads"]
    active = _uint(root, "cpu/active", "cpu active")
    if active is not None and active < cpus:
        cpus = active
    mhz = _uint(root, "cpu/mhz", "cpu mhz")
    model = root.findtext("cpu/model")
    memory_text = root.findtext("memory")
    memory = info.memory
    if memory_text is not None:
        try:
            memory = int(memory_text.strip(), 10)
            if memory < 0:
                raise ValueError
        except ValueError:
            raise _xml_error("invalid node memory value") from None
    if model is not None and len(model.encode()) >= 32:
        raise VirtError.internal_error(ErrDomain.TEST, f"Model {model} too big for destination")
    hv.host.set_node_info(NodeInfo(
        cpus=cpus, mhz=info.mhz if mhz is None else mhz,
        model=info.model if model is None else model, memory=memory, **fields,
    ))


def _test_prefixes(elem: ET.Element) -> set[str]:
    """The prefixes bound to the test namespace on *elem* ("test" by convention)."""
    found = {k.split(":", 1)[1] for k, v in elem.attrib.items()
             if k.startswith("xmlns:") and v == TEST_NS}
    return found or {"test"}


def _load_domain(hv: Hypervisor, elem: ET.Element, node_file: str,
                 source: xmltree.Element) -> None:
    """Load one domain; *source* is the same <domain> as libxml2 keeps it (its
    <metadata> is taken from there, whitespace and outer namespace declarations
    included)."""
    prefixes = _test_prefixes(elem)

    def ns(name: str) -> list[ET.Element]:
        """The children ``<test:NAME>`` of the domain element."""
        out = []
        for child in elem:
            prefix, _, local = child.tag.partition(":")
            if local == name and prefix in prefixes:
                out.append(child)
        return out

    snapshots = [_resolve(s, node_file) for s in ns("domainsnapshot")]
    transient = bool(ns("transient"))
    managed_save = bool(ns("hasmanagedsave"))
    state = DomainState.RUNNING
    runstate = ns("runstate")
    if runstate:
        try:
            value = int((runstate[0].text or "").strip(), 10)
            if value < 0:
                raise ValueError
        except ValueError:
            raise _xml_error("invalid runstate") from None
        if value >= _DOMAIN_STATES:
            raise _xml_error(f"runstate '{value}' out of range'")
        state = value
    if transient and state == DomainState.SHUTOFF:
        raise _xml_error("transient domain cannot have runstate 'shutoff'")
    if managed_save and state != DomainState.SHUTOFF:
        raise _xml_error("domain with managedsave data can only have runstate 'shutoff'")
    defn = parse_domain_xml(ET.tostring(elem), default_arch="i686")
    defn.metadata = xmltree.metadata_from_document([source])
    ref = hv.domains.load(defn, state=state, persistent=not transient,
                          managed_save=managed_save)
    if snapshots:
        hv.snapshots.load(ref, snapshots)


# ---------------------------------------------------------------------------- <auth>
# A node file with <auth> users makes the test driver ask for a username and password when
# the connection opens.  In a daemon nobody can be asked: only the daemon's own auth.conf
# can answer (the client's credentials never reach it).

#: VIR_ERR_AUTH_FAILED, VIR_ERR_CONF_SYNTAX, VIR_FROM_AUTH
_AUTH_FAILED: Final = 45
_CONF_SYNTAX: Final = 33
_FROM_AUTH: Final = 46


def _auth_users(root: ET.Element) -> dict[str, str | None]:
    """The users of ``/node/auth/user``: name -> password (None: none asked)."""
    users: dict[str, str | None] = {}
    for user in root.findall("auth/user"):
        name = "".join(user.itertext())
        if not name:
            raise _xml_error("missing username in /node/auth/user field")
        users.setdefault(name, user.get("password"))
    return users


def _auth_conf() -> str | None:
    """The auth.conf libvirt would read in this process (virAuthGetConfigFilePath)."""
    if "LIBVIRT_AUTH_FILE" in os.environ:
        return os.environ["LIBVIRT_AUTH_FILE"]
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    for path in (os.path.join(config, "libvirt", "auth.conf"), "/etc/libvirt/auth.conf"):
        if os.access(path, os.R_OK):
            return path
    return None


class _CaseKeepingParser(configparser.ConfigParser):
    """auth.conf's keys keep their case (ConfigParser lowercases them by default)."""

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def _credential(name: str) -> str:
    """*name* ("username", "password") for service "test" on "localhost" from auth.conf."""
    path = _auth_conf()
    parser = _CaseKeepingParser(interpolation=None, delimiters=("=",),
                                comment_prefixes=("#",), strict=False)
    if path is not None:
        try:
            with open(path, encoding="utf-8") as fh:
                parser.read_file(fh)
        except (OSError, configparser.Error, UnicodeDecodeError):
            # libvirt gives up on a file it cannot load without saying why
            raise VirtError(ErrCode.INTERNAL_ERROR, 0,
                            "An error occurred, but the cause is unknown",
                            int1=0, int2=0) from None
    for group in ("auth-test-localhost", "auth-test-default"):
        if not parser.has_section(group):
            continue
        credentials = parser.get(group, "credentials", fallback=None)
        if credentials is None:
            raise VirtError.fmt(_CONF_SYNTAX, 0, "configuration file syntax error: %s",
                                f"Missing item 'credentials' in group '{group}' in '{path}'")
        section = f"credentials-{credentials}"
        if not parser.has_section(section):
            raise VirtError.fmt(_CONF_SYNTAX, 0, "configuration file syntax error: %s",
                                f"Missing group '{section}' referenced from group "
                                f"'{group}' in '{path}'")
        if parser.has_option(section, name):
            return parser.get(section, name)
        break
    raise VirtError.fmt(ErrCode.INVALID_ARG, _FROM_AUTH, "invalid argument: %s",
                        "Missing authentication credentials")


def _authenticate(users: dict[str, str | None]) -> None:
    """testConnectAuthenticate with no one to ask but auth.conf."""
    if not users:
        return
    username = _credential("username")
    known = username in users
    password = _credential("password") if not known or users[username] is not None else None
    if not known or (password is not None and users[username] != password):
        raise VirtError.fmt(_AUTH_FAILED, ErrDomain.TEST, "authentication failed: %s",
                            "authentication failed, see test XML for the correct "
                            "username/password")


def load_node_file(path: str, *, hostname: str | None = None) -> Hypervisor:
    """A private driver instance loaded from the node file *path* (absolute).

    :raises VirtError: with the test driver's error for the first problem found.
    """
    root = _read(path, "node")
    hv = Hypervisor(populate=False, hostname=hostname)
    try:
        hv.host.numa = False
        _node_info(hv, root)
        sources = [c for c in _libxml2_root(path).elements()
                   if c.name == "domain" and c.ns is None]
        for elem, inline in zip(root.findall("domain"), sources, strict=True):
            domain = _resolve(elem, path)
            ref = _ref_path(elem, path)
            _load_domain(hv, domain, path, inline if ref is None else _libxml2_root(ref))
        for elem in root.findall("network"):
            hv.networks.add(parse_network(_resolve(elem, path)))
        for elem in root.findall("interface"):
            hv.interfaces.add(parse_interface(_resolve(elem, path)))
        for elem in root.findall("pool"):
            pool = _resolve(elem, path)
            spec = parse_pool(pool)
            volumes = [parse_volume(_resolve(v, path), spec.type)
                       for v in pool.findall("volume")]
            hv.storage.add_pool(spec, volumes)
        for elem in root.findall("device"):
            hv.nodedevs.add(parse_nodedev(_resolve(elem, path)))
        _authenticate(_auth_users(root))
    except BaseException:
        hv.close()
        raise
    return hv
