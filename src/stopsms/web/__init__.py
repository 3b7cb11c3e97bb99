"""The web pages people open: the hosted unsubscribe page and the customer area.

Server-rendered (Jinja2), French and English, working without JavaScript. Each page reads the
process's :class:`stopsms.app.App` from ``request.app.state.stopsms`` (the server puts it
there) and calls the application layer, never a service directly.

- :mod:`.unsubscribe`: the hosted unsubscribe page (``/u/...``);
- :mod:`.pages`: what every page of the customer area shares (session, language, forms);
- :mod:`.area`: sign-in, dashboard, blacklist, static files;
- :mod:`.campaigns`: the campaign list, the composer, a campaign's progress, report and export.

A feature's pages are one module with its own router, added to :data:`ROUTERS`.
"""

from __future__ import annotations

from fastapi import APIRouter

from stopsms.web import area, campaigns, unsubscribe

__all__ = ["ROUTERS"]

#: The routers the server mounts, in this order.
ROUTERS: tuple[APIRouter, ...] = (unsubscribe.router, area.router, campaigns.router)
