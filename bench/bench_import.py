"""Contact import: a generated 1,000,000-row CSV, every case a user runs, on both backends.

The file (``Mobile;Prénom;Nom;Email;Société``, UTF-8) mixes the number formats people send:
``06 12 34 56 78``, ``0612345678``, ``+33 6…``, ``0033…``, ``33612345678`` (Excel dropped the
``+``), ``612345678`` (Excel dropped the 0), ``06.12…``, ``33612345678.0`` (a float); 5% of the
rows repeat an earlier number (in another format), 1% are invalid (mostly distinct values:
too short, too long, a wrong prefix, letters).

Every figure is on the whole file (no extrapolation), each import in a fresh subprocess,
timed from opening the database to closing it; memory is the peak RSS of the importing
process and the peak of the sum of the PSS of it and its workers (a forked worker shares its
parent's pages: two RSS would count them twice). Beside it, the same import as a user runs
it — the ``stopsms contacts import`` command, start-up included — timed from outside:

- the naive importer (``csv`` + ``phonenumbers`` per row + one ``INSERT`` per row with the
  standard ``sqlite3`` module, one transaction), on the whole file: the baseline;
- plain, ``--list --consent``, and the same file imported again over its contacts
  (``--list --consent``: every number updated, a ledger row each), into SQLite and into
  PostgreSQL (``STOPSMS_BENCH_POSTGRES_URL``, default the test server), side by side: the
  goal is PostgreSQL within 2.5× of SQLite for ``--list --consent``;
- the row path (``row_path=True``: the csv module, chunk by chunk), alone and with its parse
  worker: what the files of 64 MiB or less the columnar reader leaves to it get (larger ones
  are streamed).

``STOPSMS_BENCH_IMPORT_ROWS`` changes the size (default 1,000,000; 3,000,000 and 10,000,000
are the sizes of docs/scale.md: above 64 MiB of file the import streams it, and the whole
command's peak RSS, printed beside its time, stays under 1 GiB;
``STOPSMS_BENCH_IMPORT_COMMANDS=1`` runs only the whole commands); the machine's load
(``os.getloadavg``) is printed beside the figures. ``STOPSMS_BENCH_IMPORT_VARIANT`` makes the
same rows a file Arrow cannot read as the csv module does, which the csv module's reader
takes (streamed by batches above 64 MiB, as the others): ``cp1252`` (what a French Excel
writes) or ``ragged`` (every 1,000th row without its last field).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import Rate, drop_database, machine_speed, report, scratch_database

ROWS = int(os.environ.get("STOPSMS_BENCH_IMPORT_ROWS", "1000000"))
#: ``STOPSMS_BENCH_IMPORT_COMMANDS=1``: only the whole commands (for the large sizes, where
#: the naive importer and the row path would take many minutes each).
COMMANDS_ONLY = os.environ.get("STOPSMS_BENCH_IMPORT_COMMANDS") == "1"
#: ``cp1252`` or ``ragged``: the file as the csv module's reader must take it (module doc).
VARIANT = os.environ.get("STOPSMS_BENCH_IMPORT_VARIANT", "")
VARIANTS = ("", "cp1252", "ragged")
#: The goal's run is repeated: on a shared machine one run says little.
COLUMNAR_RUNS = 3
GOAL_SECONDS = 5.0
GOAL_MIB = 1024
LISTED_GOAL_SECONDS = 6.0
POSTGRES_GOAL_RATIO = 2.5
POSTGRES_URL = os.environ.get(
    "STOPSMS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
HEADER = "Mobile;Prénom;Nom;Email;Société\n"
FIRST = ("Jean", "Hélène", "François", "Zoé", "Mathis", "Chloé", "Noé", "Inès", "Léa", "Hugo")
LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Lefèvre")
COMPANY = ("", "", "ACME", "Boulangerie Dupré", "Société Générale des Eaux", "")
#: Shapes of invalid cells; ``#`` becomes a random digit, so that (as in a real file) most
#: invalid values are distinct and their reasons cannot be memoised.
INVALID = ("06####", "+999########", "06############", "+33 6 ##", "###", "", "n/a", "06-xx-##")


def _formats(national: str) -> list[str]:
    """Ways people write the FR mobile ``national`` (9 digits, no leading 0)."""
    pairs = " ".join(national[i : i + 2] for i in range(1, 9, 2))
    return [
        f"0{national[0]} {pairs}",
        f"0{national}",
        f"+33{national}",
        f"+33 {national[0]} {pairs}",
        f"0033{national}",
        f"33{national}",
        national,
        f"0{national[0]}." + pairs.replace(" ", "."),
        f"33{national}.0",
    ]


def generate(path: Path, rows: int, seed: int = 3, variant: str = "") -> dict[str, int]:
    """Write the benchmark file; returns what it holds (distinct, duplicates, invalid).

    ``variant`` (:data:`VARIANTS`): ``cp1252`` encodes it so, ``ragged`` leaves the company
    field out of every 1,000th row (the same rows, contacts and rejects either way).
    """
    from stopsms.domain.phone import normalise_many

    if variant not in VARIANTS:
        raise ValueError(f"STOPSMS_BENCH_IMPORT_VARIANT: one of {VARIANTS}, not {variant!r}")

    rng = random.Random(seed)
    invalid = rows // 100
    duplicates = rows * 5 // 100
    distinct = rows - invalid - duplicates
    numbers: set[str] = set()
    while len(numbers) < distinct:
        wanted = distinct - len(numbers)
        candidates = [
            f"{rng.choice('67')}{rng.randrange(10**8):08d}" for _ in range(wanted + wanted // 5)
        ]
        valid = normalise_many(candidates, "FR")
        numbers.update(c for c, e in zip(candidates, valid, strict=True) if e is not None)
    population = sorted(numbers)[:distinct]
    rng.shuffle(population)
    kinds = ["new"] * distinct + ["dup"] * duplicates + ["bad"] * invalid
    rng.shuffle(kinds)
    seen: list[str] = []
    fresh = iter(population)
    encoding = "cp1252" if variant == "cp1252" else "utf-8"
    ragged = 1_000 if variant == "ragged" else 0
    with path.open("w", encoding=encoding, newline="") as handle:
        handle.write(HEADER)
        for i, kind in enumerate(kinds):
            if kind == "dup" and seen:
                national = rng.choice(seen)
            elif kind == "bad":
                national = ""
            else:
                national = next(fresh, None) or rng.choice(seen)
                seen.append(national)
            if kind == "bad":
                phone = "".join(
                    str(rng.randrange(10)) if c == "#" else c for c in rng.choice(INVALID)
                )
            else:
                phone = rng.choice(_formats(national))
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = rng.choice(COMPANY)
            if ragged and i % ragged == ragged - 1:
                handle.write(f"{phone};{first};{last};{first.lower()}.{i}@example.fr\n")
                continue
            handle.write(f"{phone};{first};{last};{first.lower()}.{i}@example.fr;{company}\n")
    return {"rows": rows, "distinct": distinct, "duplicates": duplicates, "invalid": invalid}


# -- the measured runs (each in a subprocess: python -m bench.bench_import RUN …) ---------


def _peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: ``ru_maxrss`` would include the parent's at exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pss_kib(pid: int) -> int:
    """Proportional set size of ``pid`` (pages shared with another process count half)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:  # the process has just ended
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


class _PeakMemory:
    """Peak memory of this process and its workers together, sampled every 200 ms.

    A forked worker shares its parent's pages: the sum of two peak RSS counts them twice.
    The sum of PSS (each shared page split between the processes sharing it) is the memory
    the import takes from the machine. (Reading it costs ~10 ms of CPU for 600 MiB: sampled
    more often, the sampler would slow the import it measures.)
    """

    def __init__(self) -> None:
        import threading

        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.2):
            total = _pss_kib(me) + sum(_pss_kib(child) for child in _children(me))
            self.peak_kib = max(self.peak_kib, total)


def _run_stopsms(url: str, path: str, extra: str) -> dict[str, object]:
    """One import, timed from opening the database to closing it (what a user waits for)."""
    import resource

    from stopsms.services.contacts.importing import ImportOptions, import_contacts
    from stopsms.store.database import open_database

    mode = extra.split("+")[0]
    parallel = {"serial": False, "parallel": True}.get(mode)
    listed = {"list_name": "bench", "consent": "opt-in"} if "list" in extra else {}
    options = ImportOptions(parallel=parallel, **listed)  # type: ignore[arg-type]
    with _PeakMemory() as memory:
        start = time.perf_counter()
        database = open_database(url)
        # As the command runs it (import_contacts_committed): without SQLite's foreign-key
        # checks, which the import's write lock makes redundant.
        with database.transaction(foreign_keys=False) as connection:
            summary = import_contacts(
                connection, "default", path, options, row_path=mode != "columnar"
            )
        database.close()
        seconds = time.perf_counter() - start
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return {
        "seconds": seconds,
        # CPU of this process and its workers: what the import costs, whatever else the
        # machine is running (wall time on a shared machine also measures the others).
        "cpu_s": sum(u.ru_utime + u.ru_stime for u in used),
        "rss_mib": _peak_rss_mib(),  # this process
        "pss_mib": memory.peak_kib / 1024,  # this process and its workers
        "columnar": summary.columnar,
        "imported": summary.imported,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected,
        "consents": summary.consents_recorded,
    }


def _run_naive(url: str, path: str, limit: int) -> dict[str, object]:
    """csv + phonenumbers per row + one INSERT per row (``sqlite3``): a first version."""
    import csv
    import sqlite3
    from datetime import UTC, datetime

    import phonenumbers

    from stopsms.store.database import open_database

    open_database(url).close()  # the schema
    start = time.perf_counter()
    done = 0
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    with connection, open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        next(reader)
        for row in reader:
            if done >= limit:
                break
            done += 1
            try:
                number = phonenumbers.parse(row[0], "FR")
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_valid_number(number):
                continue
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            now = datetime.now(UTC).isoformat(" ")
            connection.execute(
                "INSERT INTO contacts (account_id, phone_e164, region, first_name, last_name,"
                " email, company, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (account_id, phone_e164) DO UPDATE SET first_name ="
                " excluded.first_name, last_name = excluded.last_name, email = excluded.email,"
                " company = excluded.company, updated_at = excluded.updated_at",
                (
                    e164,
                    phonenumbers.region_code_for_number(number),
                    *row[1:5],
                    now,
                    now,
                ),
            )
    connection.close()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_mib": _peak_rss_mib(), "rows": done}


def _subprocess(*args: str) -> dict[str, object]:
    # The files the previous run wrote (the generated CSV, a database) go to disk first, so
    # that their write-back does not land in this run's commit.
    os.sync()
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_import", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.strip().splitlines()[-1] if result.stderr else "failed")
    data: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def _postgres_database() -> tuple[str, str] | None:
    """A fresh PostgreSQL database for the run: ``(url, name)``, or None if unreachable."""
    return scratch_database(POSTGRES_URL, "stopsms_bench")


def _drop_postgres(name: str) -> None:
    drop_database(POSTGRES_URL, name)


def _line(label: str, rows: int, result: dict[str, object], baseline: Rate | None) -> Rate:
    seconds = float(str(result["seconds"]))
    rate = Rate(label, rows, seconds)
    report(rate, baseline=baseline)
    details = ", ".join(f"{k} {v:,}" for k, v in result.items() if isinstance(v, int))
    cpu = float(str(result.get("cpu_s", 0)))
    rss = float(str(result["rss_mib"]))
    memory = f"peak RSS {rss:,.0f} MiB"
    if "pss_mib" in result:
        pss = float(str(result["pss_mib"]))
        memory += f", with workers {pss:,.0f} MiB (PSS)"
    print(f"{'':<48} {seconds:.2f} s (CPU {cpu:.1f} s), {memory}; {details}")
    return rate


_TIME = "/usr/bin/time" if Path("/usr/bin/time").exists() else None


def _cli(url: str, path: Path, *options: str) -> tuple[float, float | None]:
    """Seconds and peak RSS (MiB, where ``/usr/bin/time`` is there to say) of ``stopsms
    contacts import`` as a user runs it (start-up included)."""
    command = [str(Path(sys.executable).parent / "stopsms"), "contacts", "import", str(path)]
    timing = None
    if _TIME is not None:
        timing = Path(tempfile.mkstemp(prefix="stopsms-time-")[1])
        command = [_TIME, "-f", "%M", "-o", str(timing), *command]
    os.sync()
    start = time.perf_counter()
    try:
        subprocess.run(
            [*command, *options, "--json"],
            env={**os.environ, "STOPSMS_DATABASE_URL": url},
            capture_output=True,
            check=True,
        )
        seconds = time.perf_counter() - start
        peak = None if timing is None else int(timing.read_text().split()[-1]) / 1024
    finally:
        if timing is not None:
            timing.unlink(missing_ok=True)
    return seconds, peak


def _load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


_LISTED = ("--list", "bench", "--consent", "opt-in")


def _commands(tmp: str, source: Path) -> None:
    """Only the whole commands, each into a new database: plain and ``--list --consent``
    into SQLite, ``--list --consent`` into PostgreSQL (the sizes of docs/scale.md)."""
    _command_line("SQLite", "", _cli(f"sqlite:///{tmp}/cli.db", source), GOAL_SECONDS)
    goal = LISTED_GOAL_SECONDS
    _command_line(
        "SQLite", " --list --consent", _cli(f"sqlite:///{tmp}/cli-l.db", source, *_LISTED), goal
    )
    created = _postgres_database()
    if created is not None:
        try:
            measured = _cli(created[0], source, *_LISTED)
            _command_line("PostgreSQL", " --list --consent", measured, None)
        finally:
            _drop_postgres(created[1])


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stopsms-bench-import-") as tmp:
        source = Path(tmp) / "contacts.csv"
        started = time.perf_counter()
        # In a subprocess: Linux keeps a process's peak RSS across fork and exec, so a
        # generator holding a million strings here would inflate every later measurement.
        held = _subprocess("generate", "-", str(source), str(ROWS))
        size = source.stat().st_size / 2**20
        kind = f"{VARIANT} " if VARIANT else ""
        took = time.perf_counter() - started
        print(
            f"generated {ROWS:,} {kind}rows ({size:.0f} MiB) in {took:.1f} s:"
            f" {held['distinct']:,} distinct, {held['duplicates']:,} duplicates,"
            f" {held['invalid']:,} invalid; {_load()}",
            flush=True,
        )
        if COMMANDS_ONLY:
            _commands(tmp, source)
            return
        naive = _subprocess("naive", f"sqlite:///{tmp}/naive.db", str(source), str(ROWS))
        naive_rate = Rate(
            "naive importer (sqlite3, row by row)", ROWS, float(str(naive["seconds"]))
        )
        report(naive_rate)
        print(f"machine speed: sum(range(10**8)) in {machine_speed():.2f} s; {_load()}")
        for run in range(COLUMNAR_RUNS):
            result = _subprocess(
                "stopsms", f"sqlite:///{tmp}/columnar-{run}.db", str(source), "columnar"
            )
            rate = _line("stopsms import → SQLite (columnar)", ROWS, result, naive_rate)
            _verdict(rate, result)
        _command_line("SQLite", "", _cli(f"sqlite:///{tmp}/cli.db", source), GOAL_SECONDS)
        created = _postgres_database()
        try:
            _listed_cases(tmp, source, naive_rate, created[0] if created else None)
        finally:
            if created is not None:
                _drop_postgres(created[1])
        print(f"machine speed: sum(range(10**8)) in {machine_speed():.2f} s; {_load()}")
        result = _subprocess("stopsms", f"sqlite:///{tmp}/serial.db", str(source), "serial")
        _line("stopsms import → SQLite, row path", ROWS, result, naive_rate)
        result = _subprocess("stopsms", f"sqlite:///{tmp}/parallel.db", str(source), "parallel")
        _line("stopsms import → SQLite, row path + parse worker", ROWS, result, naive_rate)


def _command_line(
    backend: str, options: str, measured: tuple[float, float | None], goal: float | None
) -> None:
    seconds, peak = measured
    line = f"  `stopsms contacts import{options}` → {backend}, whole command: {seconds:.2f} s"
    if peak is not None:
        line += f", peak {peak:.0f} MiB [{'under' if peak < GOAL_MIB else 'OVER'} 1 GiB]"
    if goal is not None:
        line += f" [{'meets' if seconds <= goal else 'MISSES'} goal ≤ {goal:.0f} s]"
    print(f"{line}; {_load()}", flush=True)


def _listed_cases(tmp: str, source: Path, naive: Rate, postgres: str | None) -> None:
    """``--list --consent``, then the same again over the stored contacts, SQLite then
    PostgreSQL side by side (in-process, then as a command), and the ratio of the two."""
    urls = {"SQLite": f"sqlite:///{tmp}/listed.db"}
    if postgres is not None:
        urls["PostgreSQL"] = postgres
    for case in ("--list --consent", "again, over its contacts, --list --consent"):
        seconds: dict[str, float] = {}
        for backend, url in urls.items():
            result = _subprocess("stopsms", url, str(source), "columnar+list")
            rate = _line(f"stopsms import → {backend}, {case}", ROWS, result, naive)
            seconds[backend] = rate.seconds
        if "PostgreSQL" in seconds:
            ratio = seconds["PostgreSQL"] / seconds["SQLite"]
            verdict = "meets" if ratio <= POSTGRES_GOAL_RATIO else "MISSES"
            print(f"  PostgreSQL / SQLite: ×{ratio:.2f} [{verdict} goal ≤ ×{POSTGRES_GOAL_RATIO}]")
    for backend, url in urls.items():
        if backend == "PostgreSQL":
            _reset_postgres(url)
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(url.removeprefix("sqlite:///") + suffix).unlink(missing_ok=True)
        goal = LISTED_GOAL_SECONDS if backend == "SQLite" else None
        _command_line(backend, " --list --consent", _cli(url, source, *_LISTED), goal)


def _verdict(rate: Rate, result: dict[str, object]) -> None:
    verdict = "meets" if rate.seconds <= GOAL_SECONDS else "MISSES"
    print(f"{'':<48} [{verdict} goal ≤ {GOAL_SECONDS:.0f} s end to end]")
    memory = float(str(result.get("pss_mib", result["rss_mib"])))
    verdict = "meets" if memory < GOAL_MIB else "MISSES"
    print(f"{'':<48} [{verdict} goal < {GOAL_MIB:,} MiB of memory]")


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE contacts, lists CASCADE"))
    engine.dispose()


if __name__ == "__main__":
    run, url, file, extra = sys.argv[1:5]
    if run == "generate":
        print(json.dumps(generate(Path(file), int(extra), variant=VARIANT)))
    elif run == "naive":
        print(json.dumps(_run_naive(url, file, int(extra))))
    else:
        print(json.dumps(_run_stopsms(url, file, extra)))
