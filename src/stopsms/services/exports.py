"""Export files: one CSV dialect for every export, the format from the file name, all or nothing.

- Every CSV export (contacts, a campaign's recipients, opt-outs) uses ``;`` as its delimiter and,
  written to a file, UTF-8 with a byte-order mark: what a spreadsheet set to French opens in
  columns with accents intact (``,`` is the decimal separator there). On stdout there is no mark.
- The format is ``format`` if given, else the extension of ``output`` (``.xlsx`` → xlsx,
  anything else → csv); an ``output`` ending ``.csv`` or ``.xlsx`` that contradicts
  ``format`` is refused rather than writing one format under the other's name.
- A file is written beside its destination under a temporary name and renamed over it only once
  complete (:func:`written_whole`): an export that fails — unknown campaign, disk full, a folder
  that does not exist — leaves no file, and an earlier export under the same name intact.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from stopsms.errors import InvalidInput, ServiceError

__all__ = [
    "CSV_DELIMITER",
    "CSV_FILE_ENCODING",
    "FORMATS",
    "UnwritableFile",
    "export_format",
    "written_whole",
]

CSV_DELIMITER = ";"
CSV_FILE_ENCODING = "utf-8-sig"
FORMATS = ("csv", "xlsx")


class UnwritableFile(ServiceError):
    """An export cannot be written where asked (nothing was written)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"cannot write {path}: {reason} (nothing was written)")
        self.path = path
        self.reason = reason


def export_format(output: Path | None, format: str | None) -> str:
    """The export's format from ``format`` and ``output`` (see the module doc)."""
    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    if format is None:
        chosen = "xlsx" if suffix == "xlsx" else "csv"
    else:
        chosen = format.strip().lower()
        if chosen not in FORMATS:
            raise InvalidInput("format", format, "csv or xlsx")
        if suffix in FORMATS and suffix != chosen:
            raise InvalidInput(
                "output",
                str(output),
                f"the name ends in .{suffix} but the format is {chosen}; name it .{chosen} or"
                " leave the format out",
            )
    if chosen == "xlsx" and output is None:
        raise InvalidInput("format", "xlsx", "an xlsx export needs an output file (FILE.xlsx)")
    return chosen


def _reason(error: OSError) -> str:
    return error.strerror or str(error)


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path``, else it goes.

    OS errors (no such folder, permission, disk full, ``path`` is a folder) become one
    :class:`UnwritableFile` line.
    """
    folder = path.parent
    if path.is_dir():
        raise UnwritableFile(path, "it is a folder")
    if not folder.is_dir():
        raise UnwritableFile(path, f"no folder {folder}")
    temporary = folder / f".{path.name}.{secrets.token_hex(4)}.part"
    try:
        temporary.open("xb").close()  # created now, with the user's usual permissions
    except OSError as error:
        raise UnwritableFile(path, _reason(error)) from None
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        raise UnwritableFile(path, _reason(error)) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
