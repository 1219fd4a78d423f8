"""The I/O shell: anyio sockets and listeners around the sans-IO core.

:mod:`.server` runs servers (services that listen, connections that read, dispatch and
write, daemons that hold several servers); :mod:`.client` is the client; :mod:`._sockio`
holds what both ends share (reading into a connection, the single writer of a socket,
passing file descriptors).  The client and server sides never import each other.

May import: core, security, discovery.
"""
