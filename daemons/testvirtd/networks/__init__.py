"""Virtual networks: definitions, state, lifecycle events and their procedures."""
