"""The bundled demo data (``stopsms demo``): a careless contact file."""
