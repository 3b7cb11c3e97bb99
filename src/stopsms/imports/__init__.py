"""Reading contact files: sniffing, decoding, column recognition, reject reports.

- :mod:`~stopsms.imports.reader`: open a CSV (any delimiter, UTF-8 / UTF-8 BOM / UTF-16 /
  CP1252 / Latin-1, quoted fields) or an Excel ``.xlsx`` (streamed) as a :class:`Table` of
  text rows with their line numbers; anything that cannot be read raises
  :class:`~stopsms.errors.UnreadableFile` naming the file (and line).
- :mod:`~stopsms.imports.columns`: recognise the columns (``mobile``, ``prénom``, ``société``…)
  and apply ``COLUMN=FIELD`` overrides.
- :mod:`~stopsms.imports.rejects`: the CSV report of rejected rows (line, value, reason).

Nothing here touches the database: the use case lives in
:mod:`stopsms.services.contacts.importing`.
"""
