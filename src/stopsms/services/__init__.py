"""Use cases every interface calls (CLI now, API and workers later): plain data in and out."""
