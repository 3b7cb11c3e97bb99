"""Import → preview → send → report → export, as a user runs it, on SQLite and PostgreSQL.

Every step is the ``stopsms`` command in its own process, timed from outside (start-up
included) with its peak memory (``/usr/bin/time``'s maximum RSS, or ``resource``'s of the
children where that tool is missing), on a fresh database per backend:

1. ``contacts import FILE --list bench --consent opt-in`` (the benchmark's generated file:
   94% distinct numbers, 5% repeats, 1% invalid);
2. ``senders add``, ``credits add``, ``campaign create --type informative`` (not timed);
3. ``campaign preview`` (decides every recipient: the preparation);
4. ``campaign send ID --provider smpp://…@127.0.0.1:PORT --wait``: the whole send, every
   receipt recorded, to the fast SMPP sink of ``bench/smpp_sink.py`` (its own process: the
   peer is not what is measured);
5. ``campaign report`` and ``campaign export --output FILE.csv``.

The campaign is **informative** (a notification: no sending hours), so that the run does not
depend on the clock: a marketing campaign sends only in the legal window (France: Monday to
Friday 08:00–20:00, Saturday 10:00–18:00), and the same messages would then wait. What is
measured (preparation, dispatch, receipts) is the same code for both types.

The goal (issue 13): ``campaign send`` on PostgreSQL within 1.5× of SQLite, same run, same
file. ``STOPSMS_BENCH_SEND_ROWS`` sets the file's rows (default 200,000),
``STOPSMS_BENCH_SEND_BACKENDS`` the sides (``sqlite,postgresql``);
``STOPSMS_BENCH_POSTGRES_ADMIN_URL`` the server where a fresh database is made (default the
test server). ``python -m bench send``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench import drop_database, scratch_database
from bench.bench_import import generate
from bench.smpp_sink import sink_process, sink_stop

ROWS = int(os.environ.get("STOPSMS_BENCH_SEND_ROWS", "200000"))
POSTGRES_ADMIN_URL = os.environ.get(
    "STOPSMS_BENCH_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
#: ``STOPSMS_BENCH_SEND_BACKENDS=sqlite`` or ``postgresql``: one side only (a large size
#: in two shorter runs; the ratio is then the reader's, from the same file size).
BACKENDS = os.environ.get("STOPSMS_BENCH_SEND_BACKENDS", "sqlite,postgresql").split(",")
GOAL_RATIO = 1.5
_TIME = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _stopsms(url: str, *args: str) -> tuple[float, float | None, str]:
    """``(wall seconds, peak RSS MiB, stdout)`` of one ``stopsms`` command."""
    command = [str(Path(sys.executable).parent / "stopsms"), *args]
    report = None
    if _TIME is not None:
        report = Path(tempfile.mkstemp(prefix="stopsms-time-")[1])
        command = [_TIME, "-f", "%M", "-o", str(report), *command]
    env = {**os.environ, "STOPSMS_DATABASE_URL": url, "COLUMNS": "200"}
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    peak: float | None = None
    if report is not None:
        measured = report.read_text().split()
        report.unlink()
        peak = int(measured[-1]) / 1024 if done.returncode == 0 else None
    if done.returncode != 0:
        raise RuntimeError(f"stopsms {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    if report is None:
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, peak, done.stdout


def informative_campaign(url: str, run: Callable[..., str], rows: int) -> str:
    """Ready the default account at ``url`` (shortcode, sender, credits for ``rows``) and
    create the informative campaign to the list ``bench``; its id. ``run(url, *args)`` runs
    one ``stopsms`` command and returns its stdout."""
    run(url, "accounts", "set", "default", "--shortcode", "38200")
    run(url, "senders", "add", "BENCH")
    run(url, "credits", "add", str(rows * 10))
    created = run(
        url,
        "campaign",
        "create",
        "--list",
        "bench",
        "--text",
        "Votre commande est prête, {first_name}.",
        "--sender",
        "BENCH",
        "--type",
        "informative",
        "--json",
    )
    return str(json.loads(created)["id"])


def _path(url: str, source: Path, tmp: Path) -> dict[str, tuple[float, float | None]]:
    """The user's path on the database at ``url``; each step's (seconds, MiB)."""
    steps: dict[str, tuple[float, float | None]] = {}
    seconds, peak, _ = _stopsms(
        url, "contacts", "import", str(source), "--list", "bench", "--consent", "opt-in"
    )
    steps["import --list --consent"] = (seconds, peak)
    campaign = informative_campaign(url, lambda url, *args: _stopsms(url, *args)[2], ROWS)
    seconds, peak, _ = _stopsms(url, "campaign", "preview", campaign)
    steps["campaign preview (decides, writes nothing)"] = (seconds, peak)
    child, port = sink_process()
    try:
        provider = f"smpp://stopsms:pw@127.0.0.1:{port}?window=512"
        seconds, peak, _ = _stopsms(
            url, "campaign", "send", campaign, "--provider", provider, "--wait"
        )
    finally:
        counts = sink_stop(child)
    steps["campaign send --wait"] = (seconds, peak)
    seconds, peak, out = _stopsms(url, "campaign", "report", campaign, "--json")
    steps["campaign report"] = (seconds, peak)
    report = json.loads(out)
    delivered = report.get("delivered", report.get("counts", {}).get("delivered"))
    print(f"    sink: {counts.get('submits', 0):,} submits; report: delivered {delivered}")
    exported = tmp / f"export-{uuid.uuid4().hex[:6]}.csv"
    seconds, peak, _ = _stopsms(url, "campaign", "export", campaign, "--output", str(exported))
    steps["campaign export (CSV)"] = (seconds, peak)
    exported.unlink(missing_ok=True)
    return steps


def main() -> None:
    print(f"import → preview → send → report → export, {ROWS:,}-row file, informative campaign")
    with tempfile.TemporaryDirectory(prefix="stopsms-bench-send-") as name:
        tmp = Path(name)
        source = tmp / "contacts.csv"
        held = generate(source, ROWS)
        print(f"  file: {held['distinct']:,} distinct numbers; {_load()}")
        results: dict[str, dict[str, tuple[float, float | None]]] = {}
        if "sqlite" in BACKENDS:
            print(f"  SQLite ({_load()})")
            results["SQLite"] = _path(f"sqlite:///{tmp}/bench.db", source, tmp)
        postgres = (
            scratch_database(POSTGRES_ADMIN_URL, "bench_send") if "postgresql" in BACKENDS else None
        )
        if postgres is not None:
            print(f"  PostgreSQL ({_load()})")
            try:
                results["PostgreSQL"] = _path(postgres[0], source, tmp)
            finally:
                drop_database(POSTGRES_ADMIN_URL, postgres[1])
        print(f"  done ({_load()})")
    steps = next(iter(results.values()))
    for step in steps:
        line = f"  {step:<42}"
        for backend, measured in results.items():
            seconds, peak = measured[step]
            line += f" | {backend} {seconds:7.1f} s {peak or 0:5.0f} MiB"
        if len(results) == 2:
            ratio = results["PostgreSQL"][step][0] / results["SQLite"][step][0]
            line += f"  ×{ratio:.2f}"
            if step.startswith("campaign send"):
                verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
                line += f" (goal ≤ ×{GOAL_RATIO}: {verdict})"
        print(line)
    recipients = held["distinct"]
    for backend, measured in results.items():
        send = measured["campaign send --wait"][0]
        print(f"  {backend} send: {recipients / send:,.0f} recipients/s, whole command")


if __name__ == "__main__":
    main()
