"""A broken document is answered in about the time expat takes to read it: the libxml2-style
walk (daemons/testvirtd/xmlsyntax.py) takes plain stretches in single regular-expression
matches, so that no client can hold the event loop for seconds with 1 MiB documents that are
broken near their end; and the fast patterns come to the very answer the careful walk comes
to, on documents broken every way bench/xml_syntax_diff.py breaks them and more.

The texts themselves are compared with the real libvirtd in
tests/interop/test_xml_syntax_errors.py."""

from __future__ import annotations

import random
import re
import time

import pytest

from bench.xml_syntax_diff import SEEDS, documents
from daemons.testvirtd import xmlsyntax
from daemons.testvirtd.domxml import MAX_XML_SIZE, VirtError, parse_xml
from daemons.testvirtd.textguard import XML_MAX_DEPTH

#: CPU seconds one document may take (today's worst is far below; before the fast patterns a
#: 1 MiB document broken at its end took 1 to 8 s)
BOUND = 1.0

_DISK = b"<disk type='file' device='disk'><source file='/a/b'/><target dev='vda'/></disk>"


def _filled(unit: bytes, head: bytes = b"<domain>", tail: bytes = b"") -> bytes:
    """*unit* repeated between *head* and *tail*, as close to MAX_XML_SIZE as it fits."""
    return head + unit * ((MAX_XML_SIZE - len(head) - len(tail)) // len(unit)) + tail


def _devices(tail: bytes) -> bytes:
    head = b"<domain type='test'><name>x</name><memory>1024</memory><devices>"
    return _filled(_DISK, head, tail)


#: (label, document, the start of the message libvirtd gives)
LARGE = [
    ("cut in a start tag at the end", _devices(b"</devices><bad"),
     "Couldn't find end of Start Tag bad line 1"),
    ("junk after the root", _devices(b"</devices></domain>&x"),
     "Extra content at the end of the document"),
    ("end tag mismatch at the end", _devices(b"</x>"),
     "Opening and ending tag mismatch: devices line 1 and x"),
    ("cut in the middle of content", _devices(b"")[:-9],
     "attributes construct error"),
    ("long attribute value", _filled(b"x", b"<domain a='"), "AttValue: ' expected"),
    ("many attributes", b"<domain" + b"".join(b" a%d='1'" % i for i in range(80000)),
     "attributes construct error"),
    ("repeated attribute among many",
     b"<domain" + b"".join(b" a%d='1'" % i for i in range(80000)) + b" a7='2'/>",
     "Attribute a7 redefined"),
    ("deepest nesting allowed", _filled(_DISK, b"<a>" * (XML_MAX_DEPTH - 2), b"<bad"),
     "Couldn't find end of Start Tag bad line 1"),
    ("long text", _filled(b"x"), "Premature end of data in tag domain line 1"),
    ("]]> at the end of long text", _filled(b"x", tail=b"]]>"),
     "Sequence ']]>' not allowed in content"),
    ("non-ASCII text", _filled(b"a\xc3\xa9\xe2\x82\xac"),
     "Premature end of data in tag domain line 1"),
    ("comments", _filled(b"<!-- c - d -->"), "Premature end of data in tag domain line 1"),
    ("single hyphens in an open comment", _filled(b"-a", b"<domain><!--"),
     "Comment not terminated"),
    ("processing instructions", _filled(b"<?p q?>"),
     "Premature end of data in tag domain line 1"),
    ("CDATA sections", _filled(b"<![CDATA[x]]>"), "Premature end of data in tag domain line 1"),
    ("comments after the root", _filled(b"<!-- c -->", b"<d/>", b"x"),
     "Extra content at the end of the document"),
    ("references", _filled(b"&amp;&#65;&#x42;"), "Premature end of data in tag domain line 1"),
    ("references in values", _filled(b"<a b='&#65;&amp;'/>"),
     "Premature end of data in tag domain line 1"),
    ("leaves with text", _filled(b"<a x='1'>t</a>", tail=b"</b>"),
     "Opening and ending tag mismatch: domain line 1 and b"),
    ("many lines", _filled(b"<a>\n</a>\n", tail=b"<"), "StartTag: invalid element name"),
    ("non-ASCII names", _filled(b"<\xc3\xa9 \xe2\x82\xacx='1'/>"),
     "Premature end of data in tag domain line 1"),
    ("a long non-ASCII name", _filled(b"\xc3\xa9", b"<"), "Couldn't find end of Start Tag"),
    ("elements with many attributes",
     _filled(b"<a " + b" ".join(b"%c=''" % c for c in b"bcdefghijklmnop") + b"/>"),
     "Premature end of data in tag domain line 1"),
    ("character references beyond U+D7FF", _filled(b"&#57344;&#x10FFFF;&#55295;"),
     "Premature end of data in tag domain line 1"),
]


@pytest.mark.parametrize(("label", "doc", "message"), LARGE, ids=[c[0] for c in LARGE])
def test_large_broken_document_answered_quickly(label: str, doc: bytes, message: str) -> None:
    assert len(doc) <= MAX_XML_SIZE
    started = time.thread_time()
    with pytest.raises(VirtError) as caught:
        parse_xml(doc, "domain", context="domain_definition", err_domain=10)
    spent = time.thread_time() - started
    assert caught.value.code == 35
    assert caught.value.message.split("\n", 1)[0].split(": ", 1)[1].startswith(message)
    assert spent < BOUND, f"{label}: {spent:.2f} s of CPU"


def _mutated(rng: random.Random, doc: bytes, tokens: list[bytes]) -> bytes:
    for _ in range(rng.randint(1, 3)):
        at = rng.randint(0, len(doc))
        kind = rng.random()
        if kind < 0.5:
            doc = doc[:at] + rng.choice(tokens) + doc[at:]
        elif kind < 0.65:
            doc = doc[:at] + bytes([rng.randrange(256)]) + doc[at:]
        elif kind < 0.8:
            doc = doc[:at] + doc[at + rng.randint(1, 8):]
        elif kind < 0.9:
            doc = doc[:at]
        else:
            doc = doc[:at] + doc[at:at + rng.randint(1, 40)] + doc[at:]
    return doc


_RICH = (
    b"<?xml version='1.0'?><!-- c --><?pi x?><domain type='test' id=\"1\">"
    b"<name>x&amp;y&#65;&#x42;&#55295;&#57344;&#x10FFFF;</name><memory unit='KiB'>1024</memory>"
    b"<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os><devices>" + _DISK
    + b"<address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0' x='1'/>"
    b"<a><b><c><d><e x='1'>t<![CDATA[ x ] ]] ]]><!-- - --><?p q?></e></d></c></b></a>"
    b"<desc>\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80</desc><\xc3\xa9l \xc3\xa9a='1'/>"
    b"\n<x\n a = '1'\n b=\"2\"\n/>\n</devices></domain>\n<!-- t -->\n"
)
_DEEP = [b"<r>" + b"<a x='1'>" * depth + b"<b><c/><d>t</d></b><e/>" + b"</a>" * depth + b"</r>"
         for depth in range(XML_MAX_DEPTH - 6, XML_MAX_DEPTH + 2)]
#: a container with more children than the fast patterns follow inside one element
_WIDE = b"<r><devices>" + _DISK * 70 + b"<x><y>" + b"<z a='1'/>t" * 70 + b"</y></x></devices></r>"
_TOKENS = [
    b"<", b">", b"&", b"'", b'"', b"&#;", b"&#0;", b"&#65;", b"&#xD800;", b"&#x110000;",
    b"&foo;", b"&#x41", b"<!--", b"-", b"--", b"<![CDATA[", b"]]>", b"]", b"<?pi", b"?>",
    b"<?xml?>", b"<?XmL?>", b"<?xmlx?>", b"\xff", b"\xc3", b"\xc3\xa9", b"\xef\xbf\xbe",
    b"\x00", b"\x01", b"\n", b" ", b"/>", b"=", b"<a>", b"</a>", b"</x>", b"<a b='1' b='2'/>",
    b"<a b='1' c='2' d='3' b='4'>", b" a='1' a='2'", b" a='1'b='2'", b" a", b"&#55000;",
    b"&#x9;", b"&#0009;", b"&#xCFFF;", b"&#xd000;", b"&#54999;",
    b" " + b" ".join(b"%c='1'" % c for c in b"abcdefghijklmnopq"), b" b='1' a='2'",
]


def test_fast_patterns_answer_as_the_careful_walk() -> None:
    rng = random.Random(15)
    seeds = [*SEEDS.values(), _RICH, _WIDE, *_DEEP]
    cases = [doc for _kind, _label, doc in documents()][::3] + seeds
    cases += [_mutated(rng, rng.choice(seeds), _TOKENS) for _ in range(1500)]
    different = []
    for doc in cases:
        answers = []
        for fast in (True, False):
            try:
                xmlsyntax._Walk(doc, fast=fast).document()
            except xmlsyntax._Found as found:
                answers.append(found.complaint)
            except xmlsyntax._GiveUp:
                answers.append(None)
            else:
                answers.append(None)
        if answers[0] != answers[1]:
            different.append((doc, *answers))
    assert different == []


def test_patterns_for_names_and_references() -> None:
    # every code point (a sample in steps of 7, and each range's ends) is a name character, or
    # a character a reference may name, exactly when XML says so
    name_start = re.compile(xmlsyntax._utf8(xmlsyntax._NAME_START_RANGES))
    name_char = re.compile(xmlsyntax._utf8(xmlsyntax._NAME_CHAR_RANGES))
    reference = re.compile(xmlsyntax._CHAR_REF_FAST)
    ends = {v + d for low, high in (*xmlsyntax._NAME_CHAR_RANGES, *xmlsyntax._CHAR_RANGES)
            for v in (low, high) for d in (-1, 0, 1)}
    for value in sorted(ends | set(range(0, 0x110400, 7))):
        if 0xD800 <= value <= 0xDFFF or value < 0:
            continue
        if value >= 0x80 and value <= 0x10FFFF:
            encoded = chr(value).encode()
            assert bool(name_start.fullmatch(encoded)) == xmlsyntax._name_start(chr(value))
            assert bool(name_char.fullmatch(encoded)) == xmlsyntax._name_char(chr(value))
        allowed = xmlsyntax._is_char(value)
        for text in (b"&#%d;" % value, b"&#00%d;" % value, b"&#x%x;" % value,
                     b"&#x0%X;" % value):
            assert bool(reference.fullmatch(text)) == allowed, text


def test_declaration_cut_short() -> None:
    # the end of the document right after "<?xml" or a value is no crash
    for doc in (b"<?xml", b"<?xml version='1.0'", b"<?xml version='1.0' encoding='UTF-8'"):
        with pytest.raises(VirtError) as caught:
            parse_xml(doc, "domain", context="domain_definition", err_domain=10)
        assert caught.value.code == 35
