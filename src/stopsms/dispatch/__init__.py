"""Dispatch: outbox claims, sending windows, the suppression gate, pacing, the dispatcher."""
