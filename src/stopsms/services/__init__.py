"""stopsms.services."""
