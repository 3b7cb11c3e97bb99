"""stopsms: SMS campaigns that are compliant by construction."""

__version__ = "0.1.0"
