"""Unit tests of stopsms.imports (file reading, columns, reject reports)."""
