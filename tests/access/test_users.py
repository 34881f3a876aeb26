"""Password-login users: bcrypt hashes in the users file, roles, company scope, CLI."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from core import config
from core.access.users import add_user, authenticate, list_users, remove_user
from core.errors import InvalidRecord

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def users_file(tmp_path, monkeypatch):
    path = tmp_path / "users.json"
    monkeypatch.setenv("USERS_FILE", str(path))
    config.reset_settings()
    yield path
    config.reset_settings()


def test_add_authenticate_and_scope(users_file):
    add_user("alice", "correct horse battery", role="admin", companies=["Humari"])
    add_user("bob", "another long secret", role="viewer", companies=["*"])
    stored = json.loads(users_file.read_text())
    assert stored["alice"]["password_hash"].startswith("$2")
    assert "correct horse" not in users_file.read_text()
    assert users_file.stat().st_mode & 0o077 == 0
    alice = authenticate("alice", "correct horse battery")
    assert alice.is_admin and alice.may_see("Humari") and not alice.may_see("Qadhya") and not alice.may_see(None)
    bob = authenticate("bob", "another long secret")
    assert not bob.is_admin and bob.may_see("Qadhya") and bob.may_see(None)
    assert authenticate("alice", "wrong password") is None
    assert authenticate("nobody", "correct horse battery") is None
    assert [u.username for u in list_users()] == ["alice", "bob"]
    assert remove_user("alice") and not remove_user("alice")
    assert authenticate("alice", "correct horse battery") is None


@pytest.mark.parametrize("kwargs, field", [
    ({"username": "bad name!", "password": "long enough pw", "companies": ["A"]}, "username"),
    ({"username": "x", "password": "short", "companies": ["A"]}, "password"),
    ({"username": "x", "password": "long enough pw", "companies": []}, "companies"),
    ({"username": "x", "password": "long enough pw", "companies": ["A"], "role": "root"}, "role"),
])
def test_bad_users_are_refused(users_file, kwargs, field):
    with pytest.raises(InvalidRecord) as exc:
        add_user(**kwargs)
    assert exc.value.field == field
    assert not users_file.exists()


def test_cli_add_list_remove(users_file):
    env = {"USERS_FILE": str(users_file), "PATH": "/usr/bin:/bin"}
    add = subprocess.run([sys.executable, "-m", "core", "user", "add", "carol", "--role", "viewer", "--company",
                          "Humari", "--company", "Qadhya", "--password-stdin"], input="a very long password\n",
                         cwd=ROOT, capture_output=True, text=True, env=env)
    assert add.returncode == 0, add.stderr
    listed = subprocess.run([sys.executable, "-m", "core", "user", "list"], cwd=ROOT, capture_output=True,
                            text=True, env=env)
    assert "carol" in listed.stdout and "Humari, Qadhya" in listed.stdout and "$2" not in listed.stdout
    assert authenticate("carol", "a very long password").companies == ("Humari", "Qadhya")
    rm = subprocess.run([sys.executable, "-m", "core", "user", "remove", "carol"], cwd=ROOT, capture_output=True,
                        text=True, env=env)
    assert rm.returncode == 0 and list_users() == []
