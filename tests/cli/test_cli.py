"""The command line, run in this process: every command has --help; limits and export work, bad values are refused
with the field and value. Two fresh interpreters check what `--help` and `budget list` load."""

import csv
import io
import re
import subprocess
import sys

import pytest

from core.cli import main
from core.usage import record_usage
from tests.helpers import ROOT
from tests.helpers.commands import commands


def test_fixed_commands_exist():
    paths = set(commands())
    for required in [
        ("migrate",),
        ("demo",),
        ("export",),
        ("import",),
        ("budget", "set"),
        ("budget", "list"),
        ("quota", "set"),
        ("quota", "list"),
        ("price", "set"),
        ("price", "list"),
    ]:
        assert required in paths


@pytest.mark.parametrize("path", commands(), ids=lambda p: " ".join(p))
def test_every_command_has_help(path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(list(path) + ["--help"])
    assert exc.value.code == 0
    assert "usage: python -m core " + " ".join(path) in capsys.readouterr().out


def test_a_command_group_that_fails_to_import_is_an_error(monkeypatch):
    # Skipping the group would drop its commands from the command line and --help without a word.
    import core.cli as cli

    monkeypatch.setattr(cli, "MODULES", cli.MODULES + ("core.cli.no_such_cmds",))
    with pytest.raises(ModuleNotFoundError, match="core.cli.no_such_cmds"):
        cli.build_parser()


def test_budget_quota_price_round_trip(db, cli):
    proc = cli("budget", "set", "--company", "Humari", "--monthly-usd", "1234.5")
    assert proc.returncode == 0 and proc.stdout == "budget set: Humari / all providers: $1,234.50 per month\n"
    assert cli("budget", "set", "--company", "Humari", "--monthly-usd", "100").returncode == 0
    assert cli("budget", "set", "--company", "Humari", "--provider", "openai", "--monthly-usd", "60.5").returncode == 0
    out = cli("budget", "list").stdout
    assert re.search(r"Humari\s+all\s+\$100\.00\s", out) and re.search(r"Humari\s+openai\s+\$60\.50\s", out)
    assert (
        cli("quota", "set", "--company", "Humari", "--provider", "openai", "--monthly-tokens", "5000000").returncode
        == 0
    )
    assert re.search(r"Humari\s+openai\s+5,000,000\s", cli("quota", "list").stdout)
    assert (
        cli(
            "price",
            "set",
            "--provider",
            "ollama",
            "--model",
            "llama*",
            "--input-per-million",
            "0.1",
            "--output-per-million",
            "0.2",
            "--effective-from",
            "2025-01-01",
        ).returncode
        == 0
    )
    assert re.search(r"ollama\s+llama\*\s+\$0\.1000\s", cli("price", "list").stdout)


@pytest.mark.parametrize(
    "args, needle",
    [
        (("budget", "set", "--company", "A", "--monthly-usd", "-3"), "monthly_usd='-3'"),
        (("budget", "set", "--company", "A", "--monthly-usd", "ten"), "monthly_usd='ten'"),
        (("quota", "set", "--company", "A", "--provider", "openai"), "monthly"),
        (("quota", "set", "--company", "A", "--provider", "openai", "--monthly-tokens", "1.5"), "monthly_tokens"),
        (
            (
                "price",
                "set",
                "--provider",
                "x",
                "--model",
                "m",
                "--input-per-million",
                "nan",
                "--output-per-million",
                "1",
            ),
            "input_per_million",
        ),
        (
            (
                "price",
                "set",
                "--provider",
                "x",
                "--model",
                "m",
                "--input-per-million",
                "1",
                "--output-per-million",
                "1",
                "--effective-from",
                "soon",
            ),
            "effective_from",
        ),
    ],
)
def test_bad_values_are_refused_with_field_and_value(db, cli, args, needle):
    proc = cli(*args)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_export_filters_and_spreadsheet_safety(db, capsys):
    record_usage(
        job_id="e1",
        provider_name="openai",
        model_name="gpt-4o",
        input_tokens=10,
        output_tokens=5,
        description='=HYPERLINK("http://evil")',
        company="A",
    )
    record_usage(
        job_id="e2", provider_name="ollama", model_name="llama3.1:8b", input_tokens=10, output_tokens=5, company="A"
    )
    assert main(["export", "--provider-name", "openai"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["job_id"] for r in rows] == ["e1"]
    assert rows[0]["description"].startswith("'=")
    assert rows[0]["total_cost"] == "0.000075"


def test_export_to_file(db, tmp_path, cli):
    record_usage(job_id="f1", provider_name="openai", model_name="gpt-4o", input_tokens=10, output_tokens=5)
    out = tmp_path / "x.csv"
    proc = cli("export", "--output", str(out), "--created-at--gte", "2000-01-01")
    assert proc.returncode == 0 and "exported 1 record to" in proc.stderr
    data = out.read_bytes()
    assert data.count(b"\r\n") == 2
    assert data.startswith(b"\xef\xbb\xbfid,job_id,")  # the UTF-8 byte order mark: Excel reads accents right


def test_unknown_filter_value_is_an_error(db, cli):
    proc = cli("export", "--ai-job--status", "sideways")
    assert proc.returncode == 2 and "ai_job__status='sideways'" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("budget", "set", "--company", "X", "--provider", "opnai", "--monthly-usd", "10"),
        ("quota", "set", "--company", "X", "--provider", "opnai", "--monthly-tokens", "1000"),
        (
            "price",
            "set",
            "--provider",
            "opnai",
            "--model",
            "m",
            "--input-per-million",
            "1",
            "--output-per-million",
            "2",
        ),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_unknown_provider_is_refused_unless_declared_new(db, capsys, args):
    assert main(list(args)) == 2
    err = capsys.readouterr().err
    assert "provider='opnai': unknown provider — did you mean openai?" in err and "Traceback" not in err
    assert main(["budget", "list"]) == 0 and main(["quota", "list"]) == 0 and main(["price", "list"]) == 0
    assert "opnai" not in capsys.readouterr().out  # nothing was saved
    assert main([*args, "--allow-new-provider"]) == 0
    assert "opnai" in capsys.readouterr().out
    assert main([*args]) == 0  # named by a limit now: known from then on


def imported_modules(*args: str) -> set[str]:
    """Top-level modules a fresh interpreter imports to run `python -m core ARGS` (from -X importtime)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "core", *args], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def test_help_loads_no_data_library():
    """The smoke test of `python -m core` as a process: it starts, prints its usage, exits 0, light."""
    modules = imported_modules("--help")
    assert "argparse" in modules  # the listing is read right
    assert not {"pandas", "pyarrow", "numpy", "genai_prices", "openai", "apprise", "sqlalchemy"} & modules


def test_budget_list_loads_no_data_library(db):
    modules = imported_modules("budget", "list")
    assert "sqlalchemy" in modules  # it does read the database
    assert not {"pandas", "pyarrow", "numpy", "genai_prices", "openai", "apprise"} & modules
