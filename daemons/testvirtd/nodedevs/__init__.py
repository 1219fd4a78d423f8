"""Node devices."""
