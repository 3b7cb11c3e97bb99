"""The web pages people open: the hosted unsubscribe page and the customer area.

Server-rendered (Jinja2), French and English, working without JavaScript. Each page reads the
process's :class:`stopsms.app.App` from ``request.app.state.stopsms`` (the server puts it
there) and calls the application layer, never a service directly.

- :mod:`.unsubscribe`: the hosted unsubscribe page (``/u/...``);
- :mod:`.pages`: what every page of the customer area shares (session, language, forms) and
  the header's language switch (``POST /language``);
- :mod:`.area`: sign-in, dashboard, static files;
- :mod:`.campaigns`: the campaign list, the composer, a campaign's progress, report and export;
- :mod:`.contacts`: lists, search, a contact's page and erasure, the import of a file;
- :mod:`.blacklist`: the opt-outs, their import, export and review queue;
- :mod:`.credits`: the balance, ledger, threshold and transfers, and the replies inbox;
- :mod:`.settings`: the account's settings, API keys, webhooks and users;
- :mod:`.actions`: what every changing page checks first (session, form, role).

A feature's pages are one module with its own router, added to :data:`ROUTERS`.
"""

from __future__ import annotations

from fastapi import APIRouter

from stopsms.web import (
    area,
    blacklist,
    campaigns,
    contacts,
    credits,
    pages,
    settings,
    unsubscribe,
)

__all__ = ["ROUTERS"]

#: The routers the server mounts, in this order.
ROUTERS: tuple[APIRouter, ...] = (
    unsubscribe.router,
    area.router,
    campaigns.router,
    contacts.router,
    blacklist.router,
    credits.router,
    settings.router,
    pages.language_router(),
)
