"""One module per migration, oldest first (``NNNN_what.py``)."""
