"""stopsms.cli."""
