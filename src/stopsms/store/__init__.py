"""stopsms.store."""
