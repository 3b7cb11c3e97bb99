"""Where the database is (issue 12, item 12): one place per user, not the current folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stopsms.config import InvalidSetting, default_database_path, load_settings


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


@pytest.mark.parametrize(
    "value",
    [
        "sms.example.fr",
        "ftp://sms.example.fr",
        "https://sms.example.fr/?a=1",
        "https://sms.example.fr/#x",
        "https://user@sms.example.fr",
        "https://",
        "https://a b.fr",
    ],
)
def test_a_public_url_that_is_not_an_absolute_address_is_refused(value: str) -> None:
    with pytest.raises(InvalidSetting, match="STOPSMS_PUBLIC_URL"):
        load_settings({"STOPSMS_PUBLIC_URL": value})


def test_the_public_url_is_kept_without_its_trailing_slash() -> None:
    settings = load_settings({"STOPSMS_PUBLIC_URL": " https://sms.example.fr/base/ "})
    assert settings.public_url == "https://sms.example.fr/base"
    assert load_settings({}).public_url is None


def test_a_short_secret_key_is_refused_with_its_length() -> None:
    with pytest.raises(InvalidSetting, match="is 5 characters long"):
        load_settings({"STOPSMS_SECRET_KEY": "short"})
    assert load_settings({"STOPSMS_SECRET_KEY": "k" * 32}).secret_key == "k" * 32


def test_the_environment_is_production_or_development() -> None:
    assert load_settings({"STOPSMS_ENV": "production"}).production
    assert not load_settings({}).production
    with pytest.raises(InvalidSetting, match="STOPSMS_ENV"):
        load_settings({"STOPSMS_ENV": "staging"})


def test_private_webhook_targets_are_allowed_only_when_said_so() -> None:
    assert not load_settings({}).webhooks_allow_private
    assert load_settings({"STOPSMS_WEBHOOKS_ALLOW_PRIVATE": "1"}).webhooks_allow_private
    assert not load_settings({"STOPSMS_WEBHOOKS_ALLOW_PRIVATE": "0"}).webhooks_allow_private
    with pytest.raises(InvalidSetting, match="STOPSMS_WEBHOOKS_ALLOW_PRIVATE='maybe'"):
        load_settings({"STOPSMS_WEBHOOKS_ALLOW_PRIVATE": "maybe"})
