"""stopsms.inbound."""
