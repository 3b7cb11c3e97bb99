"""The account's time zone in the customer area: set on /settings by an owner (audited,
refused by a sentence naming the field), every page's times in it, an offset-less schedule
read in it, and another account's zone never shown."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import select

from stopsms.services.access.audit import audit_entries
from stopsms.services.accounts.accounts import AccountChanges, get_account, update_account
from stopsms.services.optouts.optouts import record_optout
from stopsms.store import tables as t
from tests.integration.web.conftest import NOW, World, sign_in


def _opt_out(world: World, account: str, phone: str) -> None:
    with world.app.transaction() as connection:
        record_optout(connection, account, phone, source="manual", detail="", now=NOW)


def _set_zone(world: World, account: str, zone: str) -> None:
    with world.app.transaction() as connection:
        update_account(connection, account, AccountChanges(time_zone=zone))


def _row(page: str, phone: str) -> str:
    return page.split(phone)[1].split("</tr>")[0]


def test_an_owner_sets_the_zone_and_the_pages_follow_it(world: World, client: TestClient) -> None:
    _opt_out(world, "shop", "+33612345678")  # NOW: 09:00 UTC
    form = sign_in(client, "owner@shop.fr", "shop")
    assert "01/12/2026 10:00" in _row(client.get("/blacklist").text, "+33612345678")
    settings = client.get("/settings").text
    assert 'id="time_zone" name="time_zone" type="text" value="Europe/Paris"' in settings
    assert '<option value="America/Martinique">' in settings
    changed = client.post(
        "/settings",
        data={"csrf": form, "time_zone": "America/Martinique"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    row = _row(client.get("/blacklist").text, "+33612345678")
    assert "01/12/2026 05:00" in row
    assert "10:00" not in row
    with world.app.reader() as connection:
        shop = get_account(connection, "shop")
        audit = audit_entries(connection, shop.id)
    assert shop.time_zone == "America/Martinique"
    assert (audit[0].action, audit[0].detail) == (
        "account.updated",
        {"time_zone": "America/Martinique"},
    )
    client.cookies.set("lang", "en")
    assert "12/1/26, 5:00\u202fAM" in _row(client.get("/blacklist").text, "+33612345678")


def test_a_bad_zone_is_refused_naming_the_field_nothing_written(
    world: World, client: TestClient
) -> None:
    form = sign_in(client, "owner@shop.fr", "shop")
    answer = client.post(
        "/settings", data={"csrf": form, "time_zone": "Paris", "brand": "Autre Nom"}
    )
    assert answer.status_code == 422
    assert "time_zone" in answer.text
    assert "Europe/Paris" in answer.text
    with world.app.reader() as connection:
        shop = get_account(connection, "shop")
    assert (shop.time_zone, shop.brand) == ("Europe/Paris", "shop")
    viewer = sign_in(client, "viewer@shop.fr")
    refused = client.post("/settings", data={"csrf": viewer, "time_zone": "UTC"})
    assert refused.status_code == 403


def test_another_account_s_zone_never_shows(world: World, client: TestClient) -> None:
    _set_zone(world, "rival", "America/Martinique")
    _set_zone(world, "alerts", "Indian/Reunion")
    _opt_out(world, "shop", "+33612345678")
    _opt_out(world, "alerts", "+33612345678")
    sign_in(client, "owner@rival.fr")
    assert "America/Martinique" in client.get("/settings").text
    sign_in(client, "owner@shop.fr", "shop")  # also owns alerts, in Réunion
    page = client.get("/blacklist").text
    assert "01/12/2026 10:00" in _row(page, "+33612345678")
    settings = client.get("/settings").text
    assert 'value="Europe/Paris"' in settings
    assert 'value="America/Martinique" ' not in settings
    sign_in(client, "owner@shop.fr", "alerts")
    assert "01/12/2026 13:00" in _row(client.get("/blacklist").text, "+33612345678")


def _next_tuesday() -> datetime:
    today = datetime.now(UTC).date()
    day = today + timedelta(days=(1 - today.weekday()) % 7 or 7)
    return datetime(day.year, day.month, day.day, 9, 0)


def _schedule(world: World, client: TestClient, at: datetime) -> datetime:
    form = sign_in(client, "owner@shop.fr", "shop")
    page = client.get("/campaigns/new")
    assert "(Europe/Paris)" in page.text or "(America/Martinique)" in page.text
    answer = client.post(
        "/campaigns/new",
        data={
            "csrf": form,
            "action": "schedule",
            "list": "clients",
            "text": "Soldes",
            "at": at.strftime("%Y-%m-%dT%H:%M"),
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    campaign_id = int(answer.headers["location"].rsplit("/", 1)[1])
    with world.app.reader() as connection:
        scheduled = connection.execute(
            select(t.campaigns.c.scheduled_at).where(t.campaigns.c.id == campaign_id)
        ).scalar_one()
    shown = client.get(f"/campaigns/{campaign_id}").text
    assert at.strftime("%d/%m/%Y 09:00") in shown
    assert scheduled.tzinfo is not None
    return scheduled.astimezone(UTC)  # type: ignore[no-any-return]


def test_the_composer_s_schedule_is_read_in_the_account_s_zone(
    world: World, client: TestClient
) -> None:
    at = _next_tuesday()
    paris = _schedule(world, client, at)
    assert paris == at.replace(tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)
    _set_zone(world, "shop", "America/Martinique")
    martinique = _schedule(world, client, at)
    assert martinique == at.replace(tzinfo=ZoneInfo("America/Martinique")).astimezone(UTC)
    assert martinique - paris == (
        timedelta(hours=5) if paris.hour == 8 else timedelta(hours=6)
    )  # UTC-4 against UTC+1 in winter, UTC+2 in summer


def _days_chart(page: str) -> dict[str, list[int]]:
    found = re.search(r'id="days-chart"[^>]*data-series="([^"]+)"', page)
    assert found is not None
    data: dict[str, list[int]] = json.loads(html.unescape(found.group(1)))
    return data


def test_the_dashboard_cuts_its_days_at_midnight_in_the_account_s_zone(
    world: World, client: TestClient
) -> None:
    """A STOP an hour before midnight in Martinique is already the next day in Paris: the
    30-day chart counts it on the day the account lives it, its days starting at the zone's
    midnight (the pages run on the system clock: the instants are taken from now)."""
    martinique, paris = ZoneInfo("America/Martinique"), ZoneInfo("Europe/Paris")
    now = datetime.now(UTC)
    midnight = now.astimezone(martinique).replace(hour=0, minute=0, second=0, microsecond=0)
    stop = (midnight - timedelta(hours=1)).astimezone(UTC)
    with world.app.transaction() as connection:
        record_optout(connection, "shop", "+33612345678", source="manual", detail="", now=stop)
    sign_in(client, "owner@shop.fr", "shop")

    def expected(zone: ZoneInfo) -> tuple[int, int]:
        """The chart's last day start and the index of the STOP's day, in ``zone``."""
        today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
        ago = (today.date() - stop.astimezone(zone).date()).days
        return int(today.timestamp()), 29 - ago

    for zone in (paris, martinique):
        _set_zone(world, "shop", zone.key)
        page = client.get("/").text
        chart = _days_chart(page)
        assert f'data-zone="{zone.key}"' in page
        last, index = expected(zone)
        assert chart["x"][-1] == last
        assert [k for k, n in enumerate(chart["stops"]) if n] == [index]
