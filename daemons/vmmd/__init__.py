"""vmmd: a fake VM monitor speaking albatross's 2017 client wire (``vmm_wire``, version 0).

It shows that netrpc's :class:`~netrpc.Server`, :class:`~netrpc.Service` and
:class:`~netrpc.Program` serve another length-prefixed protocol unchanged once a
:class:`~netrpc.core.wire.Wire` maps its header (docs/wire.md):

* :mod:`daemons.vmmd.wire`: the wire (8-byte header: u16 body length, u16 id, u16 version,
  u16 tag), its strings and the body codecs;
* :mod:`daemons.vmmd.program`: the VMs and the commands (info, destroy, attach and detach
  console), console lines as unsolicited messages;
* :mod:`daemons.vmmd.client`: :class:`~daemons.vmmd.client.VmmClient`, a netrpc client;
* :mod:`daemons.vmmd.__main__`: the ``vmmd`` command.
"""
