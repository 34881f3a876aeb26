"""The access gate: who is looking, what they may do, which companies they may see.

Modes (core.auth.login_mode): `oidc` (st.login, when .streamlit/secrets.toml has [auth]), `password` (the users
file), `local` (neither: everyone is admin, and the dashboard must listen on 127.0.0.1 only).
Every check here runs in the server-side script: a widget hidden from a viewer is also refused if forged.
"""
from __future__ import annotations

import time

import streamlit as st

from core.auth import ALL_COMPANIES, User, authenticate, login_mode, lookup

USER_KEY = "_auth_user"
FAILS_KEY = "_auth_failures"
LOCAL_USER = User("local", "admin", (ALL_COMPANIES,))
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def current_user() -> User | None:
    raw = st.session_state.get(USER_KEY)
    return None if raw is None else User(raw["username"], raw["role"], tuple(raw["companies"]))


def _remember(user: User) -> None:
    st.session_state[USER_KEY] = {"username": user.username, "role": user.role,
                                  "companies": list(user.companies)}


def logout() -> None:
    st.session_state.pop(USER_KEY, None)


def _password_form() -> None:
    st.title("AI Usage Monitor")
    st.subheader("Sign in")
    failures = st.session_state.get(FAILS_KEY, 0)
    with st.form("login"):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        if failures >= 5:
            time.sleep(min(8, 2 ** (failures - 5)))  # slows a guessing loop in this session
        user = authenticate(username.strip(), password)
        if user is None:
            st.session_state[FAILS_KEY] = failures + 1
            st.error("Wrong username or password.")
        else:
            st.session_state.pop(FAILS_KEY, None)
            _remember(user)
            st.rerun()
    st.stop()


def _oidc() -> User:
    if not st.user.is_logged_in:
        st.title("AI Usage Monitor")
        st.button("Sign in", type="primary", on_click=st.login)
        st.stop()
    email = str(st.user.get("email") or "")
    user = lookup(email)
    if user is None:
        st.title("AI Usage Monitor")
        st.error(f"{email or 'This account'} has no access yet. An admin can grant it with "
                 f"`python -m core user add {email or 'EMAIL'} --sso --role viewer --company NAME`.")
        st.button("Sign out", on_click=st.logout)
        st.stop()
    return user


def gate() -> User:
    """Return the signed-in user, or show the sign-in page and stop the run."""
    mode = login_mode()
    known = current_user()
    if known is not None and mode == "password" and known.username != LOCAL_USER.username:
        return known
    if mode == "local":
        address = str(st.get_option("server.address") or "127.0.0.1")
        if address not in LOOPBACK:
            st.error("No login is configured, so the dashboard only serves 127.0.0.1. Add users with "
                     "`python -m core user add …` or configure [auth] in .streamlit/secrets.toml.")
            st.stop()
        _remember(LOCAL_USER)
        return LOCAL_USER
    if mode == "oidc":
        user = _oidc()
        _remember(user)
        return user
    logout()
    _password_form()
    raise AssertionError("unreachable: the sign-in form stops the run")


def sidebar(user: User) -> None:
    side = st.sidebar
    mode = login_mode()
    if mode == "local":
        side.caption("Local mode, no login (127.0.0.1 only)")
        return
    side.caption(f"Signed in as {user.username} · {user.role}")
    if mode == "oidc":
        side.button("Sign out", on_click=st.logout, key="logout")
    else:
        side.button("Sign out", on_click=logout, key="logout")


def ensure_user() -> User:
    """The signed-in user; a page run on its own (without dashboard.py) passes through the gate too."""
    return current_user() or gate()


def is_admin() -> bool:
    return ensure_user().is_admin


def require_admin() -> None:
    """Server-side check before any write: a viewer's forged request is refused here."""
    if not is_admin():
        raise PermissionError("Only an admin can do this.")


def allowed_companies(names: list[str]) -> list[str]:
    """The companies of `names` the current user may see."""
    user = ensure_user()
    return list(names) if user.all_companies else [n for n in names if n in user.companies]


def enforce_company(company: str | None) -> str | None:
    """The company to query: a scoped user always gets one of theirs, whatever the URL says; None (every
    company) only for users scoped to all companies."""
    user = ensure_user()
    if user.all_companies:
        return company
    return company if company in user.companies else user.companies[0]
