"""testvirtd: a libvirtd-compatible daemon serving an in-memory test hypervisor.

``hypervisor`` models ``test:///default`` (domains, networks, storage), ``domxml`` parses and
formats its XML safely, ``qmp`` fakes a QEMU monitor per running domain and ``agent`` a
QEMU guest agent.
"""
