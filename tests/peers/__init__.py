"""SMPP peers from libraries we did not write, run in their own process for fault tests."""
