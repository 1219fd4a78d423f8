#!/usr/bin/env python3
"""Compare the XML syntax errors of testvirtd with the real libvirtd's, on generated documents.

Small valid domain, network and storage pool documents are broken in many ways (cut at every
byte, stray ``<``, ``&`` and quotes, bad names, unclosed comments, CDATA sections and
processing instructions, bad character references, repeated attributes, mismatched tags,
junk after the root, bytes beyond ASCII, byte order marks, XML declarations with odd
versions, encodings and standalone values), and each is sent to both daemons with
virDomainDefineXML, virNetworkDefineXML or virStoragePoolDefineXML over one connection each.
Their answers (success, or the error's code, domain and message) are compared; what was
defined is undefined again at once.  The run is bounded: every document is sent once.

    python3 bench/xml_syntax_diff.py               # counts, and the differences by kind
    python3 bench/xml_syntax_diff.py --show 20     # also 20 examples of each kind
    python3 bench/xml_syntax_diff.py --json out.json

:func:`documents` is the generator, :func:`answer` one call; tests/interop uses them.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import anyio

from netrpc import Client, RPCError

__all__ = ("KINDS", "SEEDS", "answer", "compare", "documents")

REMOTE = 0x20008086
#: the kinds of document: (define procedure, undefine procedure)
KINDS = {"domain": (11, 35), "network": (41, 49), "pool": (77, 82)}
#: one small valid document of each kind
SEEDS = {
    "domain": b"<domain type='test'><name>xd</name><memory unit='KiB'>1024</memory>"
              b"<os><type>hvm</type></os><!-- c --></domain>",
    "network": b"<network><name>xn</name><bridge name=\"virbr9\"/>"
               b"<ip address='10.9.9.1' netmask='255.255.255.0'/></network>",
    "pool": b"<pool type='dir'><name>xp</name><target><path>/tmp/xp</path></target></pool>",
}

#: what is inserted before or after each tag (and inside start tags)
_TOKENS = [
    b"<", b">", b"&", b"'", b'"', b"<>", b"</>", b"&amp", b"&;", b"&#;", b"&#x;", b"&#0;",
    b"&#65;", b"&#xD800;", b"&#x110000;", b"&#99999999999;", b"&foo;", b"&#x41", b"<!--",
    b"<!-- a -- b -->", b"<![CDATA[", b"<![CDATA[x]]>", b"<?pi", b"<?pi x?>", b"<?xml?>",
    b"<?xml version='1.0'?>", b"]]>", b"\xff", b"\xc3\xa9", b"\xc3", b"\x00", b"\x01", b"\x7f",
    b"<1a>", b"</x>", b"<a b='1' b='2'/>", b"<a b=1/>", b"<a b/>", b"<a 'b'/>", b"<a b='<'/>",
    b"<a:b:c/>", b"<a\xc3\xa9/>", b"<-a/>", b"<a>", b"<!DOCTYPE x>", b"<!x>", b"<!-->",
    b"<a b='&'/>", b"<a b='&#0;'/>", b"&lt", b"\xef\xbb\xbf",
]
_ATTR_TOKENS = [
    b" a='1' a='2'", b" a=1", b" a", b" 'a'", b" a='<'", b" a='&'", b" 1a='x'", b"a='1'",
    b" a='1'b='2'", b" a=\"'\"", b" a='", b" a=\"", b"/", b" /", b" =", b" a=='1'",
    b" a='&#0;'", b" a='\xff'", b" \xc3\xa9='1'",
]
_VERSIONS = [b"1.0", b"1.1", b"2.0", b"1", b"abc", b""]
_ENCODINGS = [b"UTF-8", b"utf8", b"ISO-8859-1", b"latin1", b"US-ASCII", b"UTF-16", b"bogus",
              b"EBCDIC", b"", b"UTF 8"]
_STANDALONE = [b"yes", b"no", b"maybe", b""]


def _positions(doc: bytes) -> list[int]:
    """Where to insert: before every "<", after every ">", and the two ends."""
    out = {0, len(doc)}
    for i, byte in enumerate(doc):
        if byte == 0x3C:
            out.add(i)
        elif byte == 0x3E:
            out.add(i + 1)
    return sorted(out)


def _start_tag_ends(doc: bytes) -> list[int]:
    """Where each start tag's name ends (attributes go there)."""
    out = []
    i = doc.find(b"<")
    while i >= 0:
        if doc[i + 1:i + 2] not in (b"/", b"!", b"?"):
            j = i + 1
            while j < len(doc) and doc[j:j + 1] not in (b" ", b">", b"/"):
                j += 1
            out.append(j)
        i = doc.find(b"<", i + 1)
    return out


def documents(*, truncations: bool = True) -> Iterator[tuple[str, str, bytes]]:
    """(kind, label, document) for every generated case."""
    for kind, seed in SEEDS.items():
        if truncations:
            for k in range(len(seed)):
                yield kind, f"cut at {k}", seed[:k]
        for pos in _positions(seed):
            for token in _TOKENS:
                yield kind, f"insert {token!r} at {pos}", seed[:pos] + token + seed[pos:]
        for pos in _start_tag_ends(seed):
            for token in _ATTR_TOKENS:
                yield kind, f"attribute {token!r} at {pos}", seed[:pos] + token + seed[pos:]
        root = seed[1:seed.find(b" ") if kind != "network" else seed.find(b">")]
        close = b"</" + root + b">"
        body = seed[:-len(close)]
        for other in (b"</x>", b"</" + root + b"x>", b"</" + root + b" >", b"</" + root,
                      b"</" + root.upper() + b">", b"", b"</>"):
            yield kind, f"close {other!r}", body + other
        for junk in (b"x", b"<a/>", b"<!-- c -->", b"<?pi?>", b"&amp;", b"  \n", b"]]>",
                     b"<", b"\xff", b"<" + root + b"/>", b"\x00"):
            yield kind, f"after root {junk!r}", seed + junk
            yield kind, f"before root {junk!r}", junk + seed
        for name in (b"1x", b"-x", b"x y", b"x:y:z", b".x", b"x\xc3\xa9", b"\xc3\xa9x", b":x"):
            yield kind, f"root named {name!r}", seed.replace(root, name)
        for bom in (b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff",
                    b"\xef\xbb"):
            yield kind, f"bom {bom!r}", bom + seed
        for version in _VERSIONS:
            for encoding in _ENCODINGS:
                decl = b"<?xml version='" + version + b"' encoding='" + encoding + b"'?>"
                yield kind, f"declared {version!r} {encoding!r}", decl + seed
        for standalone in _STANDALONE:
            decl = b"<?xml version='1.0' standalone='" + standalone + b"'?>"
            yield kind, f"standalone {standalone!r}", decl + seed
        for decl in (b"<?xml?>", b"<?xml encoding='UTF-8'?>", b"<?xml version='1.0'",
                     b"<?xml version=1.0?>", b"<?xml version='1.0' encoding='UTF-8' ?>",
                     b"<?xml version='1.0' standalone='yes' encoding='UTF-8'?>",
                     b" <?xml version='1.0'?>", b"\n<?xml version='1.0'?>",
                     b"<?XML version='1.0'?>", b"<?xml version='1.0' foo='bar'?>",
                     b"<?xml  version = '1.0' ?>", b"<?xml version=\"1.0'?>",
                     b"\xef\xbb\xbf<?xml version='1.0'?>", b"<?xml version='1.0'?><?xml?>"):
            yield kind, f"declaration {decl!r}", decl + seed
        for nonascii in (b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xed\xa0\x80",
                         b"\xc0\x80", b"\xf8\x88\x80\x80\x80", b"\xef\xbf\xbe"):
            yield kind, f"text {nonascii!r}", seed.replace(b"</name>", nonascii + b"</name>")


def _xstr(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data + bytes(-len(data) % 4)


async def answer(client: Client, kind: str, doc: bytes) -> tuple[Any, ...]:
    """Define *doc* as a *kind*: ("ok",) (and undefine it) or (code, domain, message)."""
    define, undefine = KINDS[kind]
    try:
        ret = await client.call(REMOTE, 1, define, _xstr(doc))
    except RPCError as exc:
        return (exc.code, exc.domain, exc.message)
    # the define's reply (a nonnull object) is the undefine's argument
    await client.call(REMOTE, 1, undefine, ret)
    return ("ok",)


async def _opened(client: Client) -> Client:
    # CONNECT_OPEN: an optional name (present), then the flags
    await client.call(REMOTE, 1, 1, b"\0\0\0\1" + _xstr(b"test:///default") + bytes(4))
    return client


def _category(theirs: tuple[Any, ...], ours: tuple[Any, ...]) -> str:
    """A short name for a difference: libvirt's message without positions and names."""
    if len(theirs) == 1 or len(ours) == 1:
        return f"{theirs[0]!s:.3} / {ours[0]!s:.3}"
    line = str(theirs[2]).split("\n", 1)[0]
    text = line.split(": ", 1)[-1] if ":" in line else line
    return text[:70]


async def compare(libvirtd: str, testvirtd: str, cases: list[tuple[str, str, bytes]]
                  ) -> list[tuple[str, str, bytes, tuple[Any, ...], tuple[Any, ...]]]:
    """Every case where the two daemons (unix socket paths) answer differently."""
    differences = []
    async with Client.unix(libvirtd) as theirs_client, Client.unix(testvirtd) as ours_client:
        await _opened(theirs_client)
        await _opened(ours_client)
        for kind, label, doc in cases:
            theirs = await answer(theirs_client, kind, doc)
            ours = await answer(ours_client, kind, doc)
            if theirs != ours:
                differences.append((kind, label, doc, theirs, ours))
    return differences


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--show", type=int, default=2, help="examples of each kind of difference")
    p.add_argument("--json", help="write every difference to this file")
    p.add_argument("--libvirtd", help="the real libvirtd's unix socket (else one is started)")
    p.add_argument("--testvirtd", help="testvirtd's unix socket (else one is started)")
    args = p.parse_args(argv)
    cases = list(documents())

    def run(libvirtd: str, testvirtd: str) -> list[Any]:
        return anyio.run(compare, libvirtd, testvirtd, cases)

    if args.libvirtd and args.testvirtd:
        differences = run(args.libvirtd, args.testvirtd)
    else:
        from bench import servers

        with servers.running(["libvirtd", "testvirtd"]) as started:
            differences = run(started["libvirtd"].unix_path, started["testvirtd"].unix_path)
    groups: dict[str, list[Any]] = collections.defaultdict(list)
    for diff in differences:
        groups[_category(diff[3], diff[4])].append(diff)
    print(f"{len(cases)} documents, {len(differences)} answered differently")
    for name, members in sorted(groups.items(), key=lambda item: -len(item[1])):
        print(f"{len(members):6d}  {name}")
        for kind, label, doc, theirs, ours in members[:args.show]:
            print(f"          {kind} {label}: {doc[:90]!r}")
            print(f"            libvirtd:  {theirs!r}"[:400])
            print(f"            testvirtd: {ours!r}"[:400])
    if args.json:
        with open(args.json, "w") as out:
            json.dump([{"kind": k, "label": lb, "doc": d.decode("latin-1"), "libvirtd": t,
                        "testvirtd": o} for k, lb, d, t, o in differences], out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
