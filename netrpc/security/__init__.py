"""Security: TLS contexts and handshakes (:mod:`.tls`), certificates and PKI directories
(:mod:`.certs`), and SASL authentication with its security layer (:mod:`.sasl`).

Policies and mechanisms that the I/O shell applies to a connection; they know the core's
types (errors, programs, identities), never the server or client that uses them.

May import: core.
"""
