"""Growth: import, preparation, report and export as a user runs them, at one size per run.

Opt-in by size (docs/scale.md's 3,000,000 and 10,000,000 rows take minutes per step):
``STOPSMS_BENCH_GROWTH_ROWS=3000000 python -m bench growth``; without it the benchmark says so
and returns (``make bench`` stays as long as it was).

Every step is the ``stopsms`` command in its own process on a new database per backend,
timed from outside with its peak RSS and CPU (``/usr/bin/time``), the benchmark's generated
file (``bench_import.generate``: 94% distinct numbers, 5% repeats, 1% invalid):

1. ``contacts import FILE --list bench --consent opt-in``;
2. ``accounts set``, ``senders add``, ``credits add``, ``campaign create --type informative``
   (not timed);
3. the **preparation**: ``campaign send ID --provider smpp://…`` to the fast SMPP sink of
   ``bench/smpp_sink.py``, interrupted (SIGINT, as Ctrl-C) as soon as it prints its first
   progress line. ``campaign send`` is the command that prepares (``preview`` decides in a
   read transaction and writes nothing; the API's ``campaign_send`` job prepares too, but
   needs ``serve`` and a jobs worker); it binds, prepares in one transaction, and only then
   starts the progress reporter, so that line is the preparation committed. The interrupt
   leaves the campaign ``paused`` (exit 130) with a few messages sent — the count is
   printed. The figure is the time to that line: start-up, bind and preparation;
4. ``campaign report ID --json`` and ``campaign export ID --output FILE.csv``.

Then the database's footprint: on PostgreSQL ``pg_table_size`` and ``pg_indexes_size`` of
the tables that grow, on SQLite the file. The load (``os.getloadavg``) is printed before and
after each step. ``STOPSMS_BENCH_LOCK=/tmp/bench.lock`` holds that lock (``flock``) for each
timed step only, so that others can measure between steps of a long run.

``STOPSMS_BENCH_GROWTH_BACKENDS`` (``sqlite,postgresql``) the sides;
``STOPSMS_BENCH_GROWTH_FILE`` a file already generated at that size (generating 10,000,000
rows takes minutes); ``STOPSMS_BENCH_POSTGRES_ADMIN_URL`` the server where the database is
made (dropped at the end); ``STOPSMS_BENCH_GROWTH_DIR`` where the SQLite database and the
export go (default the temporary directory).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import drop_database, scratch_database
from bench.bench_import import generate
from bench.bench_send import informative_campaign
from bench.smpp_sink import sink_process, sink_stop

ROWS = int(os.environ.get("STOPSMS_BENCH_GROWTH_ROWS", "0"))
BACKENDS = os.environ.get("STOPSMS_BENCH_GROWTH_BACKENDS", "sqlite,postgresql").split(",")
SOURCE = os.environ.get("STOPSMS_BENCH_GROWTH_FILE")
LOCK = os.environ.get("STOPSMS_BENCH_LOCK")
WORKDIR = os.environ.get("STOPSMS_BENCH_GROWTH_DIR")
POSTGRES_ADMIN_URL = os.environ.get(
    "STOPSMS_BENCH_POSTGRES_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TABLES = ("contacts", "consents", "list_members", "messages")
_TIME = "/usr/bin/time"
_FORMAT = "%e %M %U %S"  # wall, peak RSS KiB, user CPU, system CPU


@dataclass
class Step:
    """One command's wall seconds, peak RSS (MiB), CPU seconds and the load around it."""

    seconds: float
    peak_mib: float
    cpu: float
    load: str

    def line(self, name: str) -> str:
        return (
            f"    {name:<28} {self.seconds:8.1f} s  {self.peak_mib:6.0f} MiB"
            f"  CPU {self.cpu:6.1f} s  ({self.load})"
        )


def _load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Hold ``STOPSMS_BENCH_LOCK`` (if set) for one measurement."""
    if not LOCK:
        yield
        return
    with open(LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "STOPSMS_DATABASE_URL": url, "COLUMNS": "200"}


def _command(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "stopsms"), *args]


def _measured(report: Path) -> tuple[float, float]:
    """(peak MiB, CPU seconds) from ``/usr/bin/time``'s last line."""
    wall, peak, user, system = report.read_text().split()[-4:]
    del wall
    return int(peak) / 1024, float(user) + float(system)


def _run(url: str, *args: str) -> str:
    """An untimed command (the set-up); its stdout."""
    done = subprocess.run(_command(*args), env=_env(url), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"stopsms {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    return done.stdout


def _timed(url: str, *args: str) -> tuple[Step, str]:
    """One timed command under the lock: its :class:`Step` and stdout."""
    report = Path(tempfile.mkstemp(prefix="stopsms-time-")[1])
    with _locked():
        before = _load()
        started = time.perf_counter()
        done = subprocess.run(
            [_TIME, "-f", _FORMAT, "-o", str(report), *_command(*args)],
            env=_env(url),
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        after = _load()
    if done.returncode != 0:
        raise RuntimeError(f"stopsms {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
    peak, cpu = _measured(report)
    report.unlink()
    return Step(seconds, peak, cpu, f"load {before} → {after}"), done.stdout


def _prepare(url: str, campaign: str) -> tuple[Step, float]:
    """``campaign send`` interrupted at its first progress line (the preparation committed):
    the step up to that line, and the whole command's wall (the interrupt included)."""
    report = Path(tempfile.mkstemp(prefix="stopsms-time-")[1])
    child, port = sink_process()
    provider = f"smpp://stopsms:pw@127.0.0.1:{port}?window=512"
    try:
        with _locked():
            before = _load()
            started = time.perf_counter()
            command = _command("campaign", "send", campaign, "--provider", provider)
            process = subprocess.Popen(
                [_TIME, "-f", _FORMAT, "-o", str(report), *command],
                env=_env(url),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # SIGINT to the group: time ignores it, stopsms not
            )
            assert process.stdout is not None
            prepared: float | None = None
            lines = []
            for line in process.stdout:
                lines.append(line.rstrip())
                if " · sent " in line:  # the first progress line: prepared
                    prepared = time.perf_counter() - started
                    os.killpg(process.pid, signal.SIGINT)
                    break
            _, errors = process.communicate()
            whole = time.perf_counter() - started
            after = _load()
    finally:
        counts = sink_stop(child)
    if prepared is None or process.returncode not in (0, 1, 130):
        raise RuntimeError(f"campaign send: exit {process.returncode}\n{lines}\n{errors}")
    peak, cpu = _measured(report)
    report.unlink()
    print(f"    send interrupted after {lines[-1]!r}; sink: {counts.get('submits', 0):,} submits")
    return Step(prepared, peak, cpu, f"load {before} → {after}"), whole


def _footprint(url: str) -> None:
    """Each growing table's rows, heap and index sizes (PostgreSQL), or the file (SQLite)."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        print(f"    SQLite file: {path.stat().st_size / 2**20:,.0f} MiB")
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        for table in TABLES:
            rows, heap, indexes = connection.execute(
                text(
                    f"SELECT (SELECT count(*) FROM {table}), pg_table_size('{table}'),"
                    f" pg_indexes_size('{table}')"
                )
            ).one()
            print(
                f"    {table:<14} {rows:>12,} rows  table {heap / 2**20:8,.0f} MiB"
                f"  indexes {indexes / 2**20:8,.0f} MiB"
                f"  ({(heap + indexes) / max(rows, 1):,.0f} B/row)"
            )
        size = connection.execute(text("SELECT pg_database_size(current_database())")).one()[0]
        print(f"    database       {size / 2**20:,.0f} MiB")
    engine.dispose()


def _path(url: str, source: Path, tmp: Path) -> dict[str, Step]:
    """The user's path on the database at ``url``: each timed step."""
    steps: dict[str, Step] = {}
    rejects = tmp / "rejects.csv"  # not beside a file given by STOPSMS_BENCH_GROWTH_FILE
    steps["import --list --consent"], _ = _timed(
        url,
        "contacts",
        "import",
        str(source),
        "--list",
        "bench",
        "--consent",
        "opt-in",
        "--rejects",
        str(rejects),
    )
    rejects.unlink(missing_ok=True)
    print(steps["import --list --consent"].line("import --list --consent"), flush=True)
    campaign = informative_campaign(url, _run, ROWS)
    steps["preparation (send, stopped)"], whole = _prepare(url, campaign)
    print(steps["preparation (send, stopped)"].line("preparation (send, stopped)"), flush=True)
    print(f"    (the send command until it stopped: {whole:.1f} s)")
    steps["campaign report"], out = _timed(url, "campaign", "report", campaign, "--json")
    print(steps["campaign report"].line("campaign report"), flush=True)
    report = json.loads(out)
    print(
        f"    report: status {report.get('campaign', {}).get('status', report.get('status'))},"
        f" targeted {report.get('targeted')}, ready {report.get('ready')},"
        f" sent {report.get('sent')}"
    )
    exported = tmp / f"export-{uuid.uuid4().hex[:6]}.csv"
    steps["campaign export (CSV)"], _ = _timed(
        url, "campaign", "export", campaign, "--output", str(exported)
    )
    print(steps["campaign export (CSV)"].line("campaign export (CSV)"), flush=True)
    with exported.open("rb") as handle:
        lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    print(f"    export: {exported.stat().st_size / 2**20:,.0f} MiB, {lines - 1:,} rows")
    exported.unlink()
    _footprint(url)
    return steps


def main() -> None:
    if ROWS <= 0:
        print("  skipped: set STOPSMS_BENCH_GROWTH_ROWS (3000000, 10000000: minutes per step)")
        return
    if not Path(_TIME).exists():
        print(f"  skipped: {_TIME} is needed for the peak RSS")
        return
    print(f"growth: {ROWS:,}-row file, {', '.join(BACKENDS)}; load {_load()}")
    with tempfile.TemporaryDirectory(prefix="stopsms-bench-growth-", dir=WORKDIR) as name:
        tmp = Path(name)
        if SOURCE:
            source = Path(SOURCE)
            print(f"  file: {source} ({source.stat().st_size / 2**20:,.0f} MiB)")
        else:
            source = tmp / "contacts.csv"
            held = generate(source, ROWS)
            print(f"  file: {held['distinct']:,} distinct numbers; load {_load()}")
        results: dict[str, dict[str, Step]] = {}
        if "sqlite" in BACKENDS:
            print(f"  SQLite (load {_load()})", flush=True)
            database = tmp / "growth.db"
            results["SQLite"] = _path(f"sqlite:///{database}", source, tmp)
            for leftover in tmp.glob("growth.db*"):
                leftover.unlink()
        if "postgresql" in BACKENDS:
            created = scratch_database(POSTGRES_ADMIN_URL, "stopsms_bench_growth")
            if created is None:
                raise RuntimeError("no PostgreSQL server answers at " + POSTGRES_ADMIN_URL)
            url, database_name = created
            print(f"  PostgreSQL, database {database_name} (load {_load()})", flush=True)
            try:
                results["PostgreSQL"] = _path(url, source, tmp)
            finally:
                drop_database(POSTGRES_ADMIN_URL, database_name)
    print(f"  done (load {_load()})")
    for backend, steps in results.items():
        print(f"  {backend}:")
        for step, measured in steps.items():
            print(measured.line(step))
    if shutil.which("uptime"):
        subprocess.run(["uptime"], check=False)
