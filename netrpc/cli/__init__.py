"""Command-line tools: ``netrpc-certs``, ``netrpc-discover`` and ``netrpc-passwd``.

Each module holds one command's argument parsing and output around a library function of
another layer (:mod:`netrpc.security.certs`, :mod:`netrpc.discovery.mdns`,
:mod:`netrpc.security.sasl.passwd`); nothing imports it.

May import: core, security, discovery, io, admin.
"""
