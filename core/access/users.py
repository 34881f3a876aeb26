"""Users of the built-in password login: bcrypt hashes in a JSON file, a role and the companies each may see;
and `authorize`, the one check every write in core makes on its acting user.

Roles: `viewer` reads; `admin` also resolves alerts, edits budgets, quotas and prices and runs checks.
Companies: a list of company names, or ["*"] for every company. The dashboard filters every query on them.
The local operator (the command line, the worker, a dashboard in local mode) is an admin of every company.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from core.access.throttle import THROTTLE, TooManyAttempts
from core.config import get_settings
from core.errors import InvalidRecord

ROLES = ("viewer", "admin")
ALL_COMPANIES = "*"
_USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
# A hash to check against when the user does not exist, so that the answer takes as long either way.
_DUMMY_HASH = bcrypt.hashpw(b"no-such-user", bcrypt.gensalt(rounds=4))


@dataclass(frozen=True)
class User:
    username: str
    role: str
    companies: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def all_companies(self) -> bool:
        return ALL_COMPANIES in self.companies

    def may_see(self, company: str | None) -> bool:
        """None means "every company": only for users scoped to all companies."""
        return self.all_companies or (company is not None and company in self.companies)


# Not a valid username (it has a space): no entry of the users file can claim to be the local operator.
LOCAL_OPERATOR = User("local operator", "admin", (ALL_COMPANIES,))


def _path() -> Path:
    return Path(get_settings().users_file)


def _load() -> dict:
    path = _path()
    if not path.exists():
        return {}
    return json.loads(path.read_text(encoding="utf-8") or "{}")


def _save(users: dict) -> None:
    path = _path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write-then-rename: a reader never sees half a file; 0600: hashes are still secrets.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".users-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(users, fh, indent=2, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def password_login_configured() -> bool:
    return bool(_load())


def add_user(
    username: str,
    password: str | None,
    role: str = "viewer",
    companies: list[str] | None = None,
    *,
    actor: User | None = None,
) -> User:
    """Add or update a user. `password=None` makes a single-sign-on user (OIDC login only, matched by email)."""
    authorize(actor, "manage users", company=None)
    if not _USERNAME.match(username or ""):
        raise InvalidRecord("username", username, "use 1-64 letters, digits or _.@+-")
    if role not in ROLES:
        raise InvalidRecord("role", role, f"must be one of {', '.join(ROLES)}")
    if password is not None and len(password) < 10:
        raise InvalidRecord("password", "***", "must be at least 10 characters")
    comps = [c.strip() for c in (companies or []) if c and c.strip()]
    if not comps:
        raise InvalidRecord("companies", companies, f"give at least one company (or {ALL_COMPANIES!r} for all)")
    users = _load()
    hashed = None if password is None else bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
    users[username] = {"password_hash": hashed, "role": role, "companies": comps}
    _save(users)
    return User(username, role, tuple(comps))


def remove_user(username: str, *, actor: User | None = None) -> bool:
    authorize(actor, "manage users", company=None)
    users = _load()
    if username not in users:
        return False
    del users[username]
    _save(users)
    return True


def list_users() -> list[User]:
    return [User(name, u["role"], tuple(u["companies"])) for name, u in sorted(_load().items())]


def authenticate(username: str, password: str) -> User | None:
    entry = _load().get(username or "")
    stored = entry.get("password_hash") if entry else None
    ok = bcrypt.checkpw((password or "").encode(), stored.encode() if stored else _DUMMY_HASH)
    if not (stored and ok):
        return None
    return User(username, entry["role"], tuple(entry["companies"]))


def sign_in(username: str, password: str, *, address: str | None = None) -> User | None:
    """Password sign-in, throttled per account and per client address across every session of this process.

    Raises TooManyAttempts (with the seconds to wait) while either is locked out; the password is then not even
    checked, so a guessing loop learns nothing. Returns the user, or None for a wrong username or password.
    """
    username = (username or "").strip()
    THROTTLE.check(username, address)
    user = authenticate(username, password)
    if user is None:
        THROTTLE.failed(username, address)
    else:
        THROTTLE.succeeded(username, address)
    return user


def lookup(username: str) -> User | None:
    """A user's role and companies without a password check (single sign-on: the identity provider checked)."""
    entry = _load().get(username or "")
    return None if entry is None else User(username, entry["role"], tuple(entry["companies"]))


def oidc_configured(secrets_file: Path | None = None) -> bool:
    """True when .streamlit/secrets.toml has an [auth] section (Streamlit's st.login)."""
    import tomllib

    path = secrets_file or Path(get_settings().auth_secrets_file)
    if not path.exists():
        return False
    try:
        return "auth" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, OSError):
        return False


def login_mode() -> str:
    """oidc | password | local (no login: the dashboard must then listen on 127.0.0.1 only)."""
    if oidc_configured():
        return "oidc"
    return "password" if password_login_configured() else "local"


def current(actor: User) -> User | None:
    """The actor as the users file describes it now (None: removed). The local operator is not in the file."""
    if actor == LOCAL_OPERATOR:
        return actor
    return lookup(actor.username)


def authorize(actor: User | None, action: str, *, company: str | None) -> User:
    """Check that `actor` may do `action` (a phrase: "set budgets") on `company` (None: every company, or a global
    setting such as a price). Raises PermissionError with a plain message; returns the user that acts.

    `actor=None` is the local operator. Any other actor is taken as the users file has it now, and never with
    more rights than it claims: a user removed or downgraded since signing in loses them at once.
    """
    if actor is None:
        return LOCAL_OPERATOR
    if not isinstance(actor, User):
        raise PermissionError(f"Unknown acting user {actor!r}: pass a core.access.users.User.")
    now = current(actor)
    if now is None:
        raise PermissionError(f"{actor.username} no longer has access, so they may not {action}.")
    effective = User(
        now.username,
        "admin" if now.is_admin and actor.is_admin else "viewer",
        _narrowest(actor.companies, now.companies),
    )
    if not effective.is_admin:
        raise PermissionError(f"Only an admin may {action}; {effective.username} is a viewer.")
    if company is None:
        if not effective.all_companies:
            raise PermissionError(
                f"{effective.username} may not {action} for every company: only an admin of all companies may."
            )
    elif not effective.may_see(company):
        raise PermissionError(
            f"{effective.username} may not {action} for {company!r}: it is not one of their companies."
        )
    return effective


def _narrowest(claimed: tuple[str, ...], stored: tuple[str, ...]) -> tuple[str, ...]:
    if ALL_COMPANIES in claimed:
        return stored
    if ALL_COMPANIES in stored:
        return claimed
    return tuple(c for c in claimed if c in stored)


__all__ = [
    "ROLES",
    "ALL_COMPANIES",
    "LOCAL_OPERATOR",
    "User",
    "TooManyAttempts",
    "add_user",
    "remove_user",
    "list_users",
    "authenticate",
    "sign_in",
    "lookup",
    "current",
    "authorize",
    "oidc_configured",
    "login_mode",
    "password_login_configured",
]
