"""``stopsms preview | window | classify``: single answers, batch mode, and bad input."""

import json

import pytest
from typer.testing import CliRunner, Result

from stopsms.cli.main import app

runner = CliRunner()


def run(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


def test_preview_json_has_the_final_text_and_its_measurements() -> None:
    result = run("preview", "Soldes -50% ce week-end", "--to", "06 12 34 56 78", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["text"] == "Soldes -50% ce week-end STOP 36034"
    assert answer["encoding"] == "GSM-7"
    assert answer["units"] == len("Soldes -50% ce week-end STOP 36034")
    assert answer["segments"] == 1
    assert answer["stop_mention"] == "STOP 36034"
    assert answer["recipient"]["e164"] == "+33612345678"
    assert answer["recipient"]["region"] == "FR"
    assert answer["warnings"] == []


def test_preview_warns_when_a_lookalike_forces_ucs2_and_smart_encoding_fixes_it() -> None:
    text = "C’est parti ! " + "x" * 60
    plain = json.loads(run("preview", text, "--json").stdout)
    assert plain["encoding"] == "UCS-2"
    assert plain["segments"] == 2
    assert any("’" in warning for warning in plain["warnings"])
    smart = json.loads(run("preview", text, "--json", "--smart-encoding").stdout)
    assert smart["encoding"] == "GSM-7"
    assert smart["segments"] == 1
    assert smart["replacements"] == [{"original": "’", "replacement": "'", "count": 1}]


def test_preview_uses_the_given_shortcode_and_format_and_never_adds_twice() -> None:
    answer = json.loads(
        run(
            "preview",
            "Offre du jour",
            "--shortcode",
            "36173",
            "--mention-format",
            "STOP au {shortcode}",
            "--json",
        ).stdout
    )
    assert answer["text"] == "Offre du jour STOP au 36173"
    again = json.loads(
        run("preview", "Offre du jour STOP au 36173", "--shortcode", "36173", "--json").stdout
    )
    assert again["text"] == "Offre du jour STOP au 36173"
    # Another shortcode's mention does not reach this account: its own is appended.
    other = json.loads(run("preview", "Offre du jour STOP au 36173", "--json").stdout)
    assert other["text"] == "Offre du jour STOP au 36173 STOP 36034"


def test_preview_human_output_shows_text_parts_and_mention() -> None:
    result = run("preview", "Bonjour", "--to", "+32470123456")
    assert result.exit_code == 0, result.output
    assert "Bonjour STOP 36034" in result.stdout
    assert "BE" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["preview", "x", "--to", "12"], "invalid phone number '12'"),
        (["preview", "x", "--type", "promo"], "invalid type 'promo'"),
        (["preview", "x", "--sender", "SMS Info"], "invalid sender ID 'SMS Info'"),
        (["window", "--to", "+33612345678", "--policy", "nope"], "unknown sending-window policy"),
        (["window", "--to", "+33612345678", "--at", "samedi"], "invalid at 'samedi'"),
        (["window"], "missing --to"),
        (["preview"], "missing TEXT"),
    ],
)
def test_bad_input_gives_one_clear_line_and_a_non_zero_exit(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2  # one line, maybe soft-wrapped


def test_window_saturday_evening_holds_until_monday_morning() -> None:
    answer = json.loads(
        run("window", "--to", "0612345678", "--at", "2026-11-28T18:00:00+01:00", "--json").stdout
    )
    assert answer["allowed"] is False
    assert answer["next_allowed"] == "2026-11-30T08:00:00+01:00"
    assert answer["local_time"] == "2026-11-28T18:00:00+01:00"
    assert answer["policy"] == "fr-default"


def test_window_reads_a_naive_instant_in_the_recipients_local_time() -> None:
    answer = json.loads(
        run("window", "--to", "+262692123456", "--at", "2026-11-28T17:50", "--json").stdout
    )
    assert answer["local_time"] == "2026-11-28T17:50:00+04:00"
    assert answer["allowed"] is True
    assert answer["window_end"] == "2026-11-28T18:00:00+04:00"


def test_window_informative_is_never_held() -> None:
    answer = json.loads(
        run(
            "window",
            "--to",
            "0612345678",
            "--at",
            "2026-11-29T03:00+01:00",
            "--type",
            "informative",
            "--json",
        ).stdout
    )
    assert answer["allowed"] is True


def test_classify_json() -> None:
    answer = json.loads(run("classify", "Stop36034", "--json").stdout)
    assert answer == {"intent": "opt_out", "certain": True, "keyword": "STOP"}


def test_batch_answers_every_line_in_order_and_reports_bad_lines() -> None:
    lines = [
        {"text": "Bonjour", "to": "0612345678"},
        "not json",
        {"text": "Hi", "to": "+15551234"},
        {"txt": "typo"},
        {"text": "Hello", "to": "+447400123456", "type": "informative"},
    ]
    stdin = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
    result = run("preview", "--batch", stdin=stdin)
    assert result.exit_code == 1  # some lines were bad
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 5
    assert answers[0]["text"] == "Bonjour STOP 36034"
    assert answers[1]["line"] == 2
    assert "invalid JSON" in answers[1]["error"]
    assert answers[2] == {"error": answers[2]["error"], "line": 3}
    assert "invalid phone number" in answers[2]["error"]
    assert "unknown field 'txt'" in answers[3]["error"]
    assert answers[4]["recipient"]["region"] == "GB"


def test_window_and_classify_batches() -> None:
    stdin = "\n".join(
        [
            json.dumps({"to": "0612345678", "at": "2026-11-29T12:00:00+01:00"}),
            json.dumps({"to": "0612345678", "at": "2026-11-30T12:00:00+01:00"}),
            json.dumps({"to": "0612345678", "at": "lundi"}),
        ]
    )
    answers = [json.loads(x) for x in run("window", "--batch", stdin=stdin).stdout.splitlines()]
    assert [a.get("allowed") for a in answers] == [False, True, None]
    assert answers[2]["line"] == 3

    stdin = "\n".join(json.dumps({"text": t}) for t in ["STOP", "start", "Merci !", "aide"])
    answers = [json.loads(x) for x in run("classify", "--batch", stdin=stdin).stdout.splitlines()]
    assert [a["intent"] for a in answers] == ["opt_out", "opt_in", "other", "help"]
