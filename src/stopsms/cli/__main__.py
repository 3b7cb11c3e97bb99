"""``python -m stopsms.cli``: the same as the ``stopsms`` command."""

from stopsms.cli.main import app

app()
