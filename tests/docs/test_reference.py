"""The reference pages are checked against the code: every command, subcommand and option of `python -m core` has
its place in docs/reference/cli.md, and every setting of core.config.Settings its row in
docs/reference/configuration.md. Documented commands and settings that no longer exist fail too."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from core.cli import build_parser
from core.config import Settings

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"
PROG = "python -m core"
# Read by scripts/run.sh, the Makefile and the tests, not by Settings; documented in their own section.
SCRIPT_SECTION = "Variables of `make run` and `make test`"


def sections(markdown: str) -> dict[str, str]:
    """Heading text -> the text under it up to the next heading (any level); code blocks are not headings."""
    out: dict[str, list[str]] = {}
    current, fenced = "", False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            current = line.lstrip("#").strip()
            out.setdefault(current, [])
            continue
        out.setdefault(current, []).append(line)
    return {heading: "\n".join(lines) for heading, lines in out.items()}


def commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and subcommand of the real parser with its own parser, e.g. (('budget', 'set'), parser)."""
    out = []

    def walk(parser: argparse.ArgumentParser, prefix: tuple[str, ...]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    out.append((prefix + (name,), sub))
                    walk(sub, prefix + (name,))

    walk(build_parser(), ())
    return out


def expected_words(parser: argparse.ArgumentParser) -> list[str]:
    """What a command's section must name: each option string, each positional (upper case, as in usage lines)
    and each value an option accepts from a fixed list."""
    words = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if action.option_strings:
            words += action.option_strings
        else:
            words.append((action.metavar or action.dest).upper())
        words += [str(choice) for choice in action.choices or ()]
    return words


def mentioned(word: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text) is not None


def cli_sections() -> dict[tuple[str, ...], str]:
    """Command path -> its section, from headings written as `python -m core budget set`."""
    found = {}
    for heading, body in sections((REFERENCE / "cli.md").read_text(encoding="utf-8")).items():
        m = re.fullmatch(rf"`{re.escape(PROG)} ([a-z][a-z0-9 -]*)`", heading)
        if m:
            found[tuple(m.group(1).split())] = body
    return found


ALL_COMMANDS = commands()


def test_the_parser_is_walked():
    paths = {path for path, _ in ALL_COMMANDS}
    assert {("migrate",), ("import",), ("budget", "set"), ("alerts", "ack"), ("user", "add")} <= paths


@pytest.mark.parametrize("path, parser", ALL_COMMANDS, ids=[" ".join(p) for p, _ in ALL_COMMANDS])
def test_every_command_and_option_is_in_the_cli_reference(path, parser):
    documented = cli_sections()
    title = f"`{PROG} {' '.join(path)}`"
    assert path in documented, f"docs/reference/cli.md has no heading {title}"
    missing = [w for w in expected_words(parser) if not mentioned(w, documented[path])]
    assert missing == [], f"docs/reference/cli.md, section {title}, does not mention {missing}"


def test_the_cli_reference_documents_only_real_commands():
    real = {path for path, _ in ALL_COMMANDS}
    stale = [" ".join(path) for path in cli_sections() if path not in real]
    assert stale == [], f"docs/reference/cli.md documents commands that do not exist: {stale}"


def setting_names() -> list[str]:
    """The environment variable of each setting, as pydantic-settings reads it."""
    prefix = Settings.model_config.get("env_prefix") or ""
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        names.append((alias or prefix + name).upper())
    return names


def documented_variables() -> tuple[set[str], set[str]]:
    """Variables named in the first cell of a table row: (in the settings' sections, in the scripts' section)."""
    settings, scripts = set(), set()
    for heading, body in sections((REFERENCE / "configuration.md").read_text(encoding="utf-8")).items():
        names = set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", body, flags=re.M))
        (scripts if heading == SCRIPT_SECTION else settings).update(names)
    return settings, scripts


def test_every_setting_is_in_the_configuration_reference():
    settings, _ = documented_variables()
    missing = [name for name in setting_names() if name not in settings]
    assert missing == [], f"docs/reference/configuration.md has no row for {missing}"


def test_the_configuration_reference_documents_only_real_settings():
    settings, scripts = documented_variables()
    assert scripts, f"docs/reference/configuration.md has no section '{SCRIPT_SECTION}'"
    stale = sorted(settings - set(setting_names()))
    assert stale == [], f"docs/reference/configuration.md documents settings that do not exist: {stale}"
