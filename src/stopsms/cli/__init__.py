"""The ``stopsms`` command line: one Typer app (:mod:`.main`), one module per command group."""
