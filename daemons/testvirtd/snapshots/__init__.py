"""Domain snapshots and checkpoints."""
