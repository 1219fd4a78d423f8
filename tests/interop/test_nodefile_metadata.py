"""<metadata> of node-file domains side by side: the test driver reads node files keeping
their blanks, with the namespaces declared around each domain; a running domain's
persistent definition is a copy, read again without them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._testvirtd import running
from .peers import RealLibvirtd
from .test_nodefile import at, same

pytestmark = pytest.mark.interop

NODE = """<node xmlns:r='http://r/'>
<domain type='test'>
  <name>inline</name>
  <uuid>5d1f0e6c-0000-4000-8000-300000000000</uuid>
  <memory>65536</memory>
  <os><type>hvm</type></os>
  <metadata>
        <q:y xmlns:q='http://q/'>
   <q:z a='1'/>  text
        </q:y>
     <r:w><!-- kept --></r:w>
     <plain/>
  </metadata>
</domain>
<domain file='other.xml'/>
</node>
"""

OTHER = """<domain type='test'>
  <name>fromfile</name>
  <uuid>5d1f0e6c-0000-4000-8000-300000000001</uuid>
  <memory>65536</memory>
  <os><type>hvm</type></os>
  <metadata>
    <q:y xmlns:q='http://q/'>
      <q:z/>
    </q:y>
  </metadata>
</domain>
"""


def test_node_file_metadata(real_libvirtd: RealLibvirtd, tmp_path: Path) -> None:
    node = tmp_path / "node.xml"
    node.write_text(NODE)
    (tmp_path / "other.xml").write_text(OTHER)
    with running() as testvirtd:
        real, tvd = at(real_libvirtd, node), at(testvirtd, node)
        for name in ("inline", "fromfile"):
            xml = same(real, tvd, "dumpxml", name)
            assert "<metadata" in xml
            same(real, tvd, "dumpxml", "--inactive", name)
            same(real, tvd, "metadata", name, "http://q/")
            same(real, tvd, "metadata", name, "http://r/")
