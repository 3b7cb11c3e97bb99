"""Issue 12, "Bad input": each careless or hostile input gets one clear line, a non-zero exit,
and changes or writes nothing. Run through the whole ``stopsms`` app, as a user types it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stopsms.cli.main import app

CONTACTS = "phone;first_name\n0612345678;Ann\n0612345679;Bob\n"


@pytest.fixture
def cli(cli: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """The shared runner (tests/integration/conftest.py), working in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return cli


def ok(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def refused(cli: CliRunner, *args: str, says: str) -> str:
    """The command fails with exit 2 and one line containing ``says``, no traceback."""
    result = cli.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    assert says in " ".join(result.output.split()), result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    return result.output


def balance(cli: CliRunner) -> float:
    return float(json.loads(ok(cli, "credits", "show", "--json"))["balance_millicredits"])


@pytest.fixture
def campaign(cli: CliRunner, tmp_path: Path) -> str:
    """A validated account with a sender, two consenting contacts in 'vip' and campaign 1."""
    ok(cli, "accounts", "set", "default", "--validated", "--shortcode", "36034")
    ok(cli, "senders", "add", "SHOP")
    (tmp_path / "c.csv").write_text(CONTACTS, encoding="utf-8")
    ok(cli, "contacts", "import", "c.csv", "--list", "vip", "--consent", "opt-in")
    ok(cli, "optouts", "add", "0612345670")
    return ok(cli, "campaign", "create", "--list", "vip", "--text", "Hi", "--sender", "SHOP")


# -- tracebacks ---------------------------------------------------------------------------------


def test_a_huge_credit_amount_is_refused_by_name(cli: CliRunner) -> None:
    before = balance(cli)
    refused(cli, "credits", "add", "9" * 26, says="invalid credits '" + "9" * 26 + "'")
    refused(cli, "credits", "add", "1000000000.5", says="at most 1 000 000 000 at a time")
    refused(cli, "accounts", "set", "default", "--alert-threshold", "9" * 20, says="at most")
    assert balance(cli) == before


@pytest.mark.parametrize("group", ["contacts", "campaign", "optouts"])
def test_an_export_into_a_missing_folder_is_one_line(
    cli: CliRunner, campaign: str, tmp_path: Path, group: str
) -> None:
    target = tmp_path / "missing" / "x.csv"
    args = [group, "export", *(["1"] if group == "campaign" else []), "--output", str(target)]
    refused(cli, *args, says=f"cannot write {target}: no folder")
    assert not target.parent.exists()
    args[-1] = str(tmp_path)
    refused(cli, *args, says="it is a folder")


def test_a_data_folder_that_cannot_be_created_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.delenv("STOPSMS_DATABASE_URL", raising=False)
    monkeypatch.setenv("STOPSMS_HOME", str(blocker / "stopsms"))
    refused(CliRunner(), "accounts", "list", says=f"cannot create the folder {blocker / 'stopsms'}")


@pytest.mark.parametrize(
    "url", ["mysql://me:secret@db.example/shop", "foo://x", "postgresql+psycopg2://u@h/d"]
)
def test_an_unsupported_database_url_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str
) -> None:
    monkeypatch.setenv("STOPSMS_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    cli = CliRunner()
    for args in (["accounts", "list"], ["replies", "list"], ["campaign", "send", "1"]):
        output = refused(cli, *args, says="unsupported database URL")
        assert "secret" not in output
        assert "sqlite:///" in output
    monkeypatch.setenv("STOPSMS_DATABASE_URL", "not a url")
    refused(cli, "accounts", "list", says="invalid database URL 'not a url'")
    assert list(tmp_path.iterdir()) == []


def test_a_binary_scenario_file_is_one_line(tmp_path: Path) -> None:
    scenario = tmp_path / "binary.csv"
    scenario.write_bytes(bytes(range(128, 256)))
    refused(CliRunner(), "smsc", "--scenario", str(scenario), says="not UTF-8 text")


# -- silent or wrong ----------------------------------------------------------------------------


def test_campaign_export_takes_its_format_from_the_extension(
    cli: CliRunner, campaign: str, tmp_path: Path
) -> None:
    ok(cli, "campaign", "export", "1", "--output", "x.xlsx")
    assert (tmp_path / "x.xlsx").read_bytes()[:2] == b"PK"  # a zip: a real workbook
    refused(cli, "campaign", "export", "1", "-o", "y.xlsx", "--format", "csv", says="ends in .xlsx")
    refused(cli, "contacts", "export", "-o", "y.csv", "--format", "xlsx", says="ends in .csv")
    refused(cli, "optouts", "export", "-o", "y.csv", "--format", "xlsx", says="ends in .csv")
    assert not list(tmp_path.glob("y.*"))
    assert not list(tmp_path.glob(".*part"))


def test_every_csv_export_uses_semicolons_and_a_bom_in_files(
    cli: CliRunner, campaign: str, tmp_path: Path
) -> None:
    for group, extra in (("contacts", []), ("campaign", ["1"]), ("optouts", [])):
        out = tmp_path / f"{group}.csv"
        ok(cli, group, "export", *extra, "--output", str(out))
        raw = out.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), group
        header = next(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
        assert len(header) > 3, (group, header)
        assert "," not in raw.decode("utf-8-sig").splitlines()[0], group
        streamed = ok(cli, group, "export", *extra)
        assert streamed.splitlines()[0] == raw.decode("utf-8-sig").splitlines()[0]


def test_a_failed_export_leaves_no_file_and_an_earlier_one_intact(
    cli: CliRunner, campaign: str, tmp_path: Path
) -> None:
    refused(cli, "campaign", "export", "99", "--output", "y.csv", says="no campaign 99")
    assert list(tmp_path.glob("*y.csv*")) == []
    ok(cli, "campaign", "export", "1", "--output", "good.csv")
    before = (tmp_path / "good.csv").read_bytes()
    refused(cli, "campaign", "export", "99", "--output", "good.csv", says="no campaign 99")
    assert (tmp_path / "good.csv").read_bytes() == before
    assert not list(tmp_path.glob(".*part"))


@pytest.mark.parametrize("shortcode", ["abc", "12", "123456789", "36 034", ""])
def test_preview_takes_only_a_shortcode_an_account_could_have(shortcode: str) -> None:
    refused(CliRunner(), "preview", "Soldes", "--shortcode", shortcode, says="invalid shortcode")


def test_preview_batch_checks_the_shortcode_too() -> None:
    result = CliRunner().invoke(
        app, ["preview", "--batch"], input='{"text": "x", "shortcode": "abc"}\n'
    )
    assert result.exit_code == 1
    assert "invalid shortcode 'abc'" in json.loads(result.stdout)["error"]


def test_a_domain_is_a_bare_host_and_is_said_allowed(cli: CliRunner) -> None:
    for value in ("http://evil.com/path", "evil.com/x", "user@evil.com", "evil.com:8080"):
        refused(cli, "domains", "add", value, says="give the host name alone")
    assert json.loads(ok(cli, "domains", "list", "--json")) == []
    said = ok(cli, "domains", "add", "Shop.Example.FR.")
    assert "shop.example.fr allowed" in said
    assert "verified" not in said


@pytest.mark.parametrize(
    "args",
    [
        ["contacts", "list", "--limit", "-1"],
        ["contacts", "list", "--offset", "-3"],
        ["optouts", "list", "--limit", "-1"],
        ["replies", "list", "--limit", "0"],
        ["credits", "show", "--history", "-2"],
        ["campaign", "send", "1", "--wait", "--receipt-timeout", "-5"],
        ["contacts", "list", "--limit", "9" * 20],
        ["campaign", "report", "9" * 20],
        ["campaign", "report", "0"],
    ],
)
def test_out_of_range_numbers_are_refused(cli: CliRunner, args: list[str]) -> None:
    refused(cli, *args, says="Invalid value for")


def test_an_empty_list_name_is_refused_not_ignored(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(CONTACTS, encoding="utf-8")
    refused(cli, "contacts", "import", "c.csv", "--list", "", says="invalid list name ''")
    assert json.loads(ok(cli, "contacts", "list", "--json"))["total"] == 0


def test_importing_an_empty_opt_out_file_fails(cli: CliRunner, tmp_path: Path) -> None:
    for name, content in (("empty.csv", ""), ("header.csv", "phone\n"), ("blank.txt", "\n\n")):
        (tmp_path / name).write_text(content, encoding="utf-8")
        refused(cli, "optouts", "import", name, says="holds no numbers")


@pytest.mark.parametrize("code", ["xx;DROP", "1234", "é", ""])
def test_the_simulator_failure_code_is_an_smpp_error_code(code: str) -> None:
    refused(CliRunner(), "smsc", "--failure-code", code, says="invalid --failure-code")


def test_negative_amounts_say_the_amount_must_be_positive(cli: CliRunner) -> None:
    before = balance(cli)
    refused(cli, "credits", "add", "-5", says="invalid amount '-5': must be a positive number")
    refused(cli, "credits", "transfer", "-5", "--to", "default", says="must be a positive")
    refused(cli, "campaign", "report", "-1", says="invalid campaign id '-1'")
    assert balance(cli) == before


def test_a_text_starting_with_a_dash_is_told_to_go_after_double_dash() -> None:
    refused(CliRunner(), "classify", "-5", says="goes after --")
    result = CliRunner().invoke(app, ["classify", "--json", "--", "-5 STOP"])
    assert result.exit_code == 0, result.output


def test_a_rate_that_is_not_a_finite_positive_number_is_refused(
    cli: CliRunner, campaign: str
) -> None:
    for rate in ("nan", "inf", "0"):
        refused(cli, "campaign", "preview", "1", "--rate", rate, says="invalid rate")


# -- found by trying more -----------------------------------------------------------------------


@pytest.mark.parametrize("group", ["contacts", "optouts"])
def test_a_reject_report_that_cannot_be_written_undoes_the_import(
    cli: CliRunner, tmp_path: Path, group: str
) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "in.csv").write_text("phone\nabc\n0612345673\n", encoding="utf-8")
    for target in ("folder", str(tmp_path / "missing" / "r.csv")):
        refused(cli, group, "import", "in.csv", "--rejects", target, says="cannot write")
    assert json.loads(ok(cli, "contacts", "list", "--json"))["total"] == 0
    assert json.loads(ok(cli, "optouts", "list", "--json")) == []


def test_a_refused_import_names_the_option_that_fixes_it(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("Nom;Ville\nDupont;Paris\n", encoding="utf-8")
    refused(
        cli,
        "contacts",
        "import",
        "in.csv",
        says="no phone column among 'Nom', 'Ville'; name it 'mobile' or 'téléphone', or say"
        " which column is the phone (nothing was changed) (--map COLUMN=phone)",
    )
    (tmp_path / "in.csv").write_text("Nom;Tel\nDupont;0612345678\n", encoding="utf-8")
    refused(
        cli,
        "contacts",
        "import",
        "in.csv",
        "--map",
        "GSM=phone",
        says="column map GSM=phone: no column 'GSM' (columns: 'Nom', 'Tel')",
    )
    (tmp_path / "in.csv").write_text("phone\nabc\n", encoding="utf-8")
    refused(
        cli,
        "contacts",
        "import",
        "in.csv",
        "--rejects",
        str(tmp_path / "missing" / "r.csv"),
        says="choose another place (--rejects FILE)",
    )


def test_an_opt_out_folder_is_named_as_a_folder(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    refused(cli, "optouts", "import", "folder", says="a folder, not a file")


def test_opt_out_exports_never_carry_a_formula(cli: CliRunner, tmp_path: Path) -> None:
    ok(cli, "optouts", "add", "0612345671", "--reason", '=HYPERLINK("http://x")')
    ok(cli, "optouts", "export", "--output", "o.csv")
    text = (tmp_path / "o.csv").read_text(encoding="utf-8-sig")
    row = next(csv.DictReader(io.StringIO(text), delimiter=";"))
    assert row["detail"] == '\'=HYPERLINK("http://x")'
