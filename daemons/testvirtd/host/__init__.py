"""The host and connection: node info, capabilities, handshake and connection calls."""
