"""Where the database is (issue 12, item 12): one place per user, not the current folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from stopsms.config import default_database_path, load_settings


def test_the_default_database_does_not_depend_on_the_current_folder() -> None:
    home = {"HOME": "/home/ana"}
    assert default_database_path(home) == Path("/home/ana/.local/share/stopsms/stopsms.db")
    xdg = {**home, "XDG_DATA_HOME": "/data/ana"}
    assert default_database_path(xdg) == Path("/data/ana/stopsms/stopsms.db")
    # The XDG spec: a relative XDG_DATA_HOME is ignored.
    assert default_database_path({**home, "XDG_DATA_HOME": "data"}) == default_database_path(home)
    assert default_database_path({**xdg, "STOPSMS_HOME": "/srv/stopsms"}) == Path(
        "/srv/stopsms/stopsms.db"
    )
    assert load_settings(home).database_url == "sqlite:////home/ana/.local/share/stopsms/stopsms.db"
    url = "postgresql+psycopg://u@h/db"
    assert load_settings({**home, "STOPSMS_DATABASE_URL": url}).database_url == url


def test_the_suite_never_uses_the_real_home() -> None:
    assert "STOPSMS_DATABASE_URL" not in os.environ
    assert not default_database_path().is_relative_to(Path.home() / ".local")


def _stopsms(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STOPSMS_", "XDG_"))}
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "stopsms.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_first_use_says_where_the_database_is_and_other_folders_share_it(tmp_path: Path) -> None:
    home, here, there = tmp_path / "home", tmp_path / "here", tmp_path / "there"
    for folder in (home, here, there):
        folder.mkdir()
    expected = home / ".local" / "share" / "stopsms" / "stopsms.db"

    first = _stopsms(["accounts", "create", "shop"], here, home)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stderr.splitlines() == [f"created database at {expected}"]
    assert expected.exists()

    second = _stopsms(["accounts", "list"], there, home)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "shop" in second.stdout  # the same database, seen from another folder
    assert "created database" not in second.stderr
    assert not (here / "stopsms.db").exists()
    assert not (there / "stopsms.db").exists()
