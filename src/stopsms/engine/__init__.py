"""The sending engine: what runs around a provider bind, above the services it calls.

- :mod:`~stopsms.engine.sending`: ``send_campaign`` and ``run_worker``, which wire the parts;
- :mod:`~stopsms.engine.dispatcher`: the async loop from the outbox to the wire (windows,
  pacing, placeholder and length checks);
- :mod:`~stopsms.engine.gate`: the in-process suppression gate (nothing after a STOP);
- :mod:`~stopsms.engine.inbound`: the provider's event handlers (MO, receipts), group-committed
  (:mod:`~stopsms.engine.group_commit`) and acknowledged after commit;
- :mod:`~stopsms.engine.database_thread`: the one thread every database call runs on.

What the engine writes, it writes through service functions that take a ``Connection``
(:mod:`stopsms.services.messages.outbox`, :mod:`~stopsms.services.messages.mo`,
:mod:`~stopsms.services.messages.receipts`);
the engine adds when and on which thread they run. No service imports the engine (checked by
``make test``: the import contracts in ``pyproject.toml``).
"""
