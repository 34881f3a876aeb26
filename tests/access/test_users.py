"""Password-login users: bcrypt hashes in the users file, roles, company scope, CLI."""

import json

import pytest

from core.access.users import add_user, authenticate, list_users, remove_user
from core.errors import InvalidRecord


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


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"username": "bad name!", "password": "long enough pw", "companies": ["A"]}, "username"),
        ({"username": "x", "password": "short", "companies": ["A"]}, "password"),
        ({"username": "x", "password": "long enough pw", "companies": []}, "companies"),
        ({"username": "x", "password": "long enough pw", "companies": ["A"], "role": "root"}, "role"),
    ],
)
def test_bad_users_are_refused(users_file, kwargs, field):
    with pytest.raises(InvalidRecord) as exc:
        add_user(**kwargs)
    assert exc.value.field == field
    assert not users_file.exists()


def test_cli_add_list_remove(users_file, cli):
    add = cli(
        "user",
        "add",
        "carol",
        "--role",
        "viewer",
        "--company",
        "Humari",
        "--company",
        "Qadhya",
        "--password-stdin",
        stdin="a very long password\n",
    )
    assert add.returncode == 0, add.stderr
    listed = cli("user", "list")
    assert "carol" in listed.stdout and "Humari, Qadhya" in listed.stdout and "$2" not in listed.stdout
    assert authenticate("carol", "a very long password").companies == ("Humari", "Qadhya")
    rm = cli("user", "remove", "carol")
    assert rm.returncode == 0 and list_users() == []
