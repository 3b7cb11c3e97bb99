"""stopsms.smsc."""
