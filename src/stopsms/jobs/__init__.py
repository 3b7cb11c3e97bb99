"""Background jobs: long work outside any request, with a resource (state, progress, result).

- :mod:`~stopsms.jobs.resource`: the ``jobs`` rows (submit, read, list, claim, end), scoped
  by account, and their files.
- :mod:`~stopsms.jobs.kinds`: what each kind does (contact import, campaign send, campaign
  export) through its service's one entry point, all or nothing; the schedule check.
- :mod:`~stopsms.jobs.runner`: SQLite, in the server's process (:func:`start_in_process`).
- :mod:`~stopsms.jobs.queue`: PostgreSQL, procrastinate workers (``stopsms jobs worker``).

See docs/jobs.md.
"""
