"""stopsms.providers."""
