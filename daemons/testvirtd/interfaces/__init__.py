"""Host network interfaces."""
