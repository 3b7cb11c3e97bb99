"""The customer area's fixtures (``app``: shop, alerts and rival with their users; ``client``)
for every page's tests, from :mod:`tests.integration.web.test_area` where they were born."""

from tests.integration.web.test_area import app, client

__all__ = ["app", "client"]
