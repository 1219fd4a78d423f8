"""The sans-IO core: everything about the protocol that is not input, output or time.

XDR encoding (:mod:`.xdr`) and the XDR language compiler (:mod:`.xdrlang`); message headers
and error payloads (:mod:`.protocol`); length-prefixed framing (:mod:`.framing`); the
connection state machine that turns bytes into events and events into bytes
(:mod:`.connection`); programs, procedures and dispatch (:mod:`.program`); stream packets
(:mod:`.stream`); keepalive (:mod:`.keepalive`); peer identities (:mod:`.identity`); errors
(:mod:`.errors`).  Nothing here reads a socket, looks at a clock or asks the operating system:
callers pass bytes and the current time in, and take bytes and deadlines out.

May import: nothing from netrpc (and from the standard library no I/O, clock or os module).
"""
