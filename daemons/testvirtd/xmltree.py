"""XML kept and written back as libvirt keeps it with libxml2: namespaces, comments, CDATA,
processing instructions and whitespace.

Most of a domain definition is modelled field by field, but some parts (``<metadata>``)
libvirt stores as a libxml2 node tree and writes out with ``xmlNodeDump``.  This module
gives such parts the same treatment:

* :func:`parse_document` builds the tree the way libxml2 does: namespace declarations per
  element in document order, prefixes resolved (an undeclared prefix stays part of the
  name, without namespace), attribute values normalised, and, unless blanks are kept (libvirt
  turns them off while parsing a definition), whitespace-only text dropped where libxml2's
  heuristic drops it;
* :func:`copy_node` copies a subtree as ``xmlCopyNode`` does, declaring namespaces that were
  declared outside it on its root;
* :func:`dump` writes a node as ``xmlNodeDump(buf, NULL, node, level, 1)`` does (two spaces
  per level, no indentation inside elements holding text, double-quoted attributes, non-ASCII
  attribute characters as character references).

The documents come from :func:`~daemons.testvirtd.domxml.parse_xml`'s callers after it
accepted them (size, depth and DTD limits are enforced there).
"""

from __future__ import annotations

import xml.parsers.expat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = (
    "XML_NAMESPACE",
    "Attr",
    "CData",
    "Comment",
    "Element",
    "Node",
    "Ns",
    "ProcessingInstruction",
    "Text",
    "copy_node",
    "dump",
    "from_json",
    "inject_namespace",
    "iter_elements",
    "metadata_element",
    "metadata_from_document",
    "parse_document",
    "reparse_metadata",
    "replace_metadata_element",
    "sanitize_metadata",
    "to_json",
)


@dataclass(eq=False, slots=True)
class Ns:
    """A namespace declaration (``xmlns:prefix='href'``; no prefix: the default namespace).
    Elements and attributes refer to the declaration object itself."""

    prefix: str | None
    href: str


#: the ``xml:`` namespace, bound without a declaration
XML_NAMESPACE = Ns("xml", "http://www.w3.org/XML/1998/namespace")


@dataclass(eq=False, slots=True)
class Attr:
    """An attribute; *name* is the local name (the whole name when its prefix is undeclared)."""

    name: str
    value: str
    ns: Ns | None = None


@dataclass(eq=False, slots=True)
class Text:
    """Character data."""

    text: str


@dataclass(eq=False, slots=True)
class CData:
    """A CDATA section."""

    text: str


@dataclass(eq=False, slots=True)
class Comment:
    """A comment."""

    text: str


@dataclass(eq=False, slots=True)
class ProcessingInstruction:
    """A processing instruction (``<?target data?>``)."""

    target: str
    data: str


@dataclass(eq=False, slots=True)
class Element:
    """An element: its namespace, the declarations made on it, attributes and children."""

    name: str
    ns: Ns | None = None
    ns_defs: list[Ns] = field(default_factory=list)
    attrs: list[Attr] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def elements(self) -> list[Element]:
        """The child elements."""
        return [c for c in self.children if isinstance(c, Element)]


Node = Element | Text | CData | Comment | ProcessingInstruction

_BLANK = frozenset(" \t\n\r")


def iter_elements(elem: Element) -> Iterator[Element]:
    """*elem* and every element below it, in document order."""
    yield elem
    for child in elem.children:
        if isinstance(child, Element):
            yield from iter_elements(child)


# ------------------------------------------------------------------------------- parsing


class _Builder:
    """Expat callbacks building the libxml2 view of a document (non-namespace mode: the
    prefixes and declarations are resolved here, as written)."""

    def __init__(self, raw: bytes, keep_blanks: bool) -> None:
        self.raw = raw
        self.keep_blanks = keep_blanks
        self.doc: list[Node] = []
        self.stack: list[Element] = []
        self.scopes: list[dict[str | None, Ns | None]] = [{"xml": XML_NAMESPACE}]
        #: libxml2's space state per open element: 1 xml:space="preserve", 0 "default",
        #: -1 unset, -2 unset but character data was seen (blanks are then kept)
        self.space: list[int] = [-1]
        self.pending: list[str] = []
        self.cdata: list[str] | None = None
        self.parser = xml.parsers.expat.ParserCreate("UTF-8")
        p = self.parser
        p.ordered_attributes = True
        p.StartElementHandler = self.start
        p.EndElementHandler = self.end
        p.CharacterDataHandler = self.data
        p.CommentHandler = self.comment
        p.ProcessingInstructionHandler = self.pi
        p.StartCdataSectionHandler = self.start_cdata
        p.EndCdataSectionHandler = self.end_cdata

    # -- helpers

    def _children(self) -> list[Node]:
        return self.stack[-1].children if self.stack else self.doc

    def _add_text(self, text: str) -> None:
        if not self.stack:
            return  # character data outside the root element is not kept
        children = self.stack[-1].children
        if children and isinstance(children[-1], Text):
            children[-1].text += text
        else:
            children.append(Text(text))

    def _blank_dropped(self, closing_empty: bool) -> bool:
        """libxml2's heuristic for whitespace-only text followed by markup, blanks off."""
        if self.keep_blanks or not self.stack or self.space[-1] in (1, -2):
            return False
        children = self.stack[-1].children
        if not children:
            return not closing_empty  # "<a>  </a>" keeps its whitespace
        return not isinstance(children[-1], Text) and not isinstance(children[0], Text)

    def _flush(self, *, before_ref: bool = False, closing: bool = False) -> None:
        """Add the pending literal text; *before_ref*: a reference follows it, *closing*:
        the current element's end tag does."""
        if not self.pending:
            return
        text = "".join(self.pending)
        self.pending.clear()
        if (
            not before_ref
            and all(ch in _BLANK for ch in text)
            and self._blank_dropped(closing and not self.stack[-1].children)
        ):
            return
        self._add_text(text)
        if self.stack and self.space[-1] == -1:
            self.space[-1] = -2

    def _resolve(self, qname: str, *, attribute: bool) -> tuple[str, Ns | None]:
        prefix, sep, local = qname.partition(":")
        scope = self.scopes[-1]
        if not sep:
            return qname, (None if attribute else scope.get(None))
        if prefix in scope and scope[prefix] is not None:
            return local, scope[prefix]
        return qname, None  # undeclared prefix: libxml2 keeps the whole name, no namespace

    # -- expat callbacks

    def start(self, qname: str, attr_list: list[str]) -> None:
        self._flush()
        scope = dict(self.scopes[-1])
        ns_defs: list[Ns] = []
        plain: list[tuple[str, str]] = []
        for i in range(0, len(attr_list), 2):
            name, value = attr_list[i], attr_list[i + 1]
            if name == "xmlns" or name.startswith("xmlns:"):
                prefix = name[6:] or None
                decl = Ns(prefix, value)
                ns_defs.append(decl)
                scope[prefix] = decl if (value or prefix is not None) else None
            else:
                plain.append((name, value))
        self.scopes.append(scope)
        name, ns = self._resolve(qname, attribute=False)
        elem = Element(name, ns, ns_defs)
        space = -1 if self.space[-1] == -2 else self.space[-1]
        for aname, value in plain:
            local, ans = self._resolve(aname, attribute=True)
            elem.attrs.append(Attr(local, value, ans))
            if ans is XML_NAMESPACE and local == "space" and value in ("default", "preserve"):
                space = 1 if value == "preserve" else 0
        self._children().append(elem)
        self.stack.append(elem)
        self.space.append(space)

    def end(self, _qname: str) -> None:
        self._flush(closing=True)
        self.stack.pop()
        self.scopes.pop()
        self.space.pop()

    def data(self, text: str) -> None:
        if self.cdata is not None:
            self.cdata.append(text)
            return
        index = self.parser.CurrentByteIndex
        if 0 <= index < len(self.raw) and self.raw[index] == 0x26:  # "&": a reference
            self._flush(before_ref=True)
            self._add_text(text)  # libxml2 never drops what a reference produced
        else:
            self.pending.append(text)

    def comment(self, text: str) -> None:
        self._flush()
        self._children().append(Comment(text))

    def pi(self, target: str, data: str) -> None:
        self._flush()
        self._children().append(ProcessingInstruction(target, data))

    def start_cdata(self) -> None:
        self._flush()
        self.cdata = []

    def end_cdata(self) -> None:
        text = "".join(self.cdata or [])
        self.cdata = None
        if self.stack:
            self.stack[-1].children.append(CData(text))


def parse_document(raw: bytes, *, keep_blanks: bool) -> list[Node]:
    """The top-level nodes of a well-formed document (comments and processing instructions
    around the root element included), as libxml2 builds them.

    :param keep_blanks: False as libvirt parses definitions (``xmlKeepBlanksDefault(0)``),
        True as it parses other documents (``virDomainSetMetadata``'s element).
    :raises xml.parsers.expat.ExpatError: if *raw* is not well-formed (callers check first).
    """
    builder = _Builder(raw, keep_blanks)
    builder.parser.Parse(raw, True)
    return builder.doc


# ------------------------------------------------------------------------------- copying


def _search(path: list[Element], prefix: str | None) -> Ns | None:
    if prefix == "xml":
        return XML_NAMESPACE
    for elem in reversed(path):
        for decl in elem.ns_defs:
            if decl.prefix == prefix:
                return decl
    return None


def _reconcile(ns: Ns | None, path: list[Element]) -> Ns | None:
    if ns is None:
        return None
    found = _search(path, ns.prefix)
    if found is not None:
        return found
    # declared outside the copied subtree: declared again on the copy's root
    decl = Ns(ns.prefix, ns.href)
    path[0].ns_defs.append(decl)
    return decl


def _copy(src: Node, path: list[Element]) -> Node:
    if not isinstance(src, Element):
        if isinstance(src, ProcessingInstruction):
            return ProcessingInstruction(src.target, src.data)
        return type(src)(src.text)
    new = Element(src.name, None, [Ns(d.prefix, d.href) for d in src.ns_defs])
    inner = [*path, new]
    new.ns = _reconcile(src.ns, inner)
    new.attrs = [Attr(a.name, a.value, _reconcile(a.ns, inner)) for a in src.attrs]
    new.children = [_copy(child, inner) for child in src.children]
    return new


def copy_node(src: Element) -> Element:
    """A deep copy of *src* as ``xmlCopyNode(src, 1)`` makes it: namespaces its subtree uses
    but does not declare are declared on the copy."""
    new = _copy(src, [])
    assert isinstance(new, Element)
    return new


# ------------------------------------------------------------------------------- writing

#: libxml2 indents at most this many levels (MAX_INDENT / 2)
_MAX_LEVELS = 30


def _escape_text(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


_ATTR_ESCAPES = {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;", '"': "&quot;", "<": "&lt;",
                 ">": "&gt;", "&": "&amp;"}


def _escape_attr(value: str) -> str:
    # A node without a document (as libvirt's copies are) has no encoding: characters
    # beyond ASCII are written as character references.
    out = []
    for ch in value:
        if ch in _ATTR_ESCAPES:
            out.append(_ATTR_ESCAPES[ch])
        elif ord(ch) >= 0x80:
            out.append(f"&#x{ord(ch):X};")
        else:
            out.append(ch)
    return "".join(out)


def _quoted(value: str) -> str:
    # xmlBufWriteQuotedString: double quotes unless the value has some
    if '"' in value:
        if "'" in value:
            return '"' + value.replace('"', "&quot;") + '"'
        return f"'{value}'"
    return f'"{value}"'


def _qname(name: str, ns: Ns | None) -> str:
    return f"{ns.prefix}:{name}" if ns is not None and ns.prefix is not None else name


def _dump(out: list[str], node: Node, level: int, fmt: bool, root: bool) -> None:
    pad = "  " * min(level, _MAX_LEVELS) if fmt and not root else ""
    if isinstance(node, Element):
        out.append(f"{pad}<{_qname(node.name, node.ns)}")
        for decl in node.ns_defs:
            if decl.prefix == "xml":
                continue
            qname = f"xmlns:{decl.prefix}" if decl.prefix is not None else "xmlns"
            out.append(f" {qname}={_quoted(decl.href)}")
        for attr in node.attrs:
            out.append(f' {_qname(attr.name, attr.ns)}="{_escape_attr(attr.value)}"')
        if not node.children:
            out.append("/>")
        else:
            # text among the children turns indentation off inside this element
            inner = fmt and not any(isinstance(c, (Text, CData)) for c in node.children)
            out.append(">\n" if inner else ">")
            for child in node.children:
                _dump(out, child, level + 1, inner, False)
            if inner:
                out.append("  " * min(level, _MAX_LEVELS))
            out.append(f"</{_qname(node.name, node.ns)}>")
    elif isinstance(node, Text):
        out.append(_escape_text(node.text))
    elif isinstance(node, CData):
        out.append(f"<![CDATA[{node.text}]]>")
    elif isinstance(node, Comment):
        out.append(f"{pad}<!--{node.text}-->")
    else:
        data = f" {node.data}" if node.data else ""
        out.append(f"{pad}<?{node.target}{data}?>")
    if fmt and not root:
        out.append("\n")


def dump(node: Node, level: int = 0) -> str:
    """*node* written as ``xmlNodeDump(buf, NULL, node, level, 1)`` writes it (children
    indented from *level* + 1; the node itself neither indented nor followed by a newline)."""
    out: list[str] = []
    _dump(out, node, level, True, True)
    return "".join(out)


# ------------------------------------------------------------------------------- <metadata>
# libvirt keeps a definition's <metadata> as such a tree (domains and networks alike).


def sanitize_metadata(meta: Element) -> None:
    """``virXMLNodeSanitizeNamespaces``: keep only child elements with a namespace, the first
    one of each namespace URI."""
    kept: list[Node] = []
    seen: set[str] = set()
    for child in meta.children:
        if isinstance(child, Element) and child.ns is not None:
            if child.ns.href not in seen:
                seen.add(child.ns.href)
                kept.append(child)
    meta.children = kept


def metadata_from_document(nodes: list[Node]) -> Element | None:
    """The ``<metadata>`` of a parsed definition (its root's first), as libvirt stores it:
    copied out of the document, then sanitized."""
    root = next((n for n in nodes if isinstance(n, Element)), None)
    if root is None:
        return None
    found = next((c for c in root.elements() if c.name == "metadata" and c.ns is None), None)
    if found is None:
        return None
    meta = copy_node(found)
    sanitize_metadata(meta)
    return meta


def reparse_metadata(meta: Element) -> Element:
    """*meta* written out and read back as part of a definition (what ``virDomainDefCopy``
    and a daemon restart do to it: whitespace libxml2 takes for formatting is dropped)."""
    # wrapped in a root of its own, as it is in the <domain> document
    text = b"<r>" + dump(meta, 1).encode("utf-8") + b"</r>"
    try:
        again = metadata_from_document(parse_document(text, keep_blanks=False))
    except xml.parsers.expat.ExpatError:
        # A prefix with blanks (which virDomainSetMetadata accepts) makes a document
        # libvirt cannot read back either; testvirtd keeps the element as it is.
        return copy_node(meta)
    assert again is not None
    return again


def metadata_element(meta: Element | None, uri: str) -> str | None:
    """``virXMLExtractNamespaceXML``: the child element of namespace *uri* written without
    that namespace, or None."""
    if meta is None:
        return None
    found = next((c for c in meta.elements() if c.ns is not None and c.ns.href == uri), None)
    if found is None:
        return None
    node = copy_node(found)
    for elem in iter_elements(node):
        if elem.ns is not None and elem.ns.href == uri:
            elem.ns = None
    for i, decl in enumerate(node.ns_defs):
        if decl.href == uri:
            del node.ns_defs[i]
            break
    return dump(node)


def inject_namespace(elem: Element, uri: str, prefix: str) -> None:
    """``virXMLInjectNamespace``: declare *prefix* for *uri* on *elem* and put every element
    below it that has no namespace into it."""
    decl = Ns(prefix, uri)
    elem.ns_defs.append(decl)
    for node in iter_elements(elem):
        if node.ns is None:
            node.ns = decl


def replace_metadata_element(meta: Element | None, new: Element | None, uri: str
                             ) -> Element | None:
    """Remove every child element of namespace *uri*, then append *new* (if any); a
    ``<metadata>`` is created for it when there is none."""
    if meta is None:
        if new is None:
            return None
        meta = Element("metadata")
    meta.children = [c for c in meta.children
                     if not (isinstance(c, Element) and c.ns is not None and c.ns.href == uri)]
    if new is not None:
        meta.children.append(new)
    return meta


# ------------------------------------------------------------------------------- state file


def _ns_json(ns: Ns | None) -> list[str | None] | None:
    return None if ns is None else [ns.prefix, ns.href]


def to_json(node: Node) -> Any:
    """*node* as JSON data, exactly (for the state file; :func:`from_json` reads it)."""
    if isinstance(node, Element):
        return {"e": node.name, "ns": _ns_json(node.ns),
                "defs": [[d.prefix, d.href] for d in node.ns_defs],
                "attrs": [[a.name, a.value, _ns_json(a.ns)] for a in node.attrs],
                "c": [to_json(c) for c in node.children]}
    if isinstance(node, ProcessingInstruction):
        return {"pi": [node.target, node.data]}
    kind = {Text: "t", CData: "cdata", Comment: "comment"}[type(node)]
    return {kind: node.text}


def _ns_from(ref: Any, path: list[Element]) -> Ns | None:
    if ref is None:
        return None
    prefix, href = str(ref[0]) if ref[0] is not None else None, str(ref[1])
    if prefix == "xml":
        return XML_NAMESPACE
    for elem in reversed(path):
        for decl in elem.ns_defs:
            if decl.prefix == prefix and decl.href == href:
                return decl
    return Ns(prefix, href)


def _from(data: Any, path: list[Element]) -> Node:
    if "e" in data:
        elem = Element(str(data["e"]), None,
                       [Ns(p if p is None else str(p), str(h)) for p, h in data["defs"]])
        inner = [*path, elem]
        elem.ns = _ns_from(data["ns"], inner)
        elem.attrs = [Attr(str(n), str(v), _ns_from(ns, inner)) for n, v, ns in data["attrs"]]
        elem.children = [_from(c, inner) for c in data["c"]]
        return elem
    if "pi" in data:
        return ProcessingInstruction(str(data["pi"][0]), str(data["pi"][1]))
    if "t" in data:
        return Text(str(data["t"]))
    if "cdata" in data:
        return CData(str(data["cdata"]))
    return Comment(str(data["comment"]))


def from_json(data: Any) -> Element:
    """The element :func:`to_json` wrote.

    :raises KeyError, TypeError, ValueError: if *data* is not such an element.
    """
    node = _from(data, [])
    if not isinstance(node, Element):
        raise ValueError("not an element")
    return node
