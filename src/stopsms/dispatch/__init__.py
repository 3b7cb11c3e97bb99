"""stopsms.dispatch."""
