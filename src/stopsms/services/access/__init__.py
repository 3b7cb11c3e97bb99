"""Who may do what: users and their roles per account, API keys, the audit log.

- :mod:`.roles`: the roles (owner, editor, viewer) and what each may do.
- :mod:`.users`: users (email, argon2id password hash, admin flag) and memberships.
- :mod:`.keys`: API keys (shown once, stored as a SHA-256 hash, looked up by prefix) and the
  :class:`~.keys.Principal` a key stands for.
- :mod:`.audit`: the audit log (who changed what, in the transaction of the change).
"""
