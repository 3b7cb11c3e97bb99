"""Webhooks: endpoints per account, events recorded with their data, signed deliveries.

The lowest feature of the services: opt-outs, messages, campaigns and credits record their
events here (:func:`~stopsms.services.webhooks.events.record_event`) in the transaction of the
data the event concerns; the engine (:mod:`stopsms.engine.webhooks`) delivers them.
See docs/webhooks.md.
"""
