"""The command-line reference: every command of `python -m core` is shown in the documentation."""
from tests.helpers import ROOT
from tests.helpers.commands import commands


def test_every_command_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [" ".join(p) for p in commands() if f"python -m core {' '.join(p)}" not in readme]
    assert missing == [], f"commands missing from README.md: {missing}"
