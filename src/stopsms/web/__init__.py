"""The web pages people open: the hosted unsubscribe page (:mod:`stopsms.web.unsubscribe`).

Server-rendered (Jinja2), French and English, working without JavaScript. Each page reads the
process's :class:`stopsms.app.App` from ``request.app.state.stopsms`` (the server puts it
there) and calls the application layer, never a service directly.
"""
