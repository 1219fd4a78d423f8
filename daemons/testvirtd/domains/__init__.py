"""Domains: definitions, state machine, lifecycle events and their procedures."""
