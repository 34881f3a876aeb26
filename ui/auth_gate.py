"""The access gate: who is looking, what they may do, which companies they may see.

Modes (core.access.users.login_mode): `oidc` (st.login, when .streamlit/secrets.toml has [auth]), `password` (the users
file), `local` (neither: the local operator, an admin of everything — so only this machine is served, see
ui.local_only). The user's role and companies are read from the users file at every run, so a user removed or
downgraded loses access at their next click. Every check here runs in the server-side script, and core checks
every write again (core.access.users.authorize).
"""

from __future__ import annotations

import streamlit as st

from core.access.users import LOCAL_OPERATOR, TooManyAttempts, User, login_mode, lookup, sign_in
from ui import local_only

USER_KEY = "_auth_user"
NOTICE_KEY = "_auth_notice"
LOCAL_USER = LOCAL_OPERATOR


def current_user() -> User | None:
    raw = st.session_state.get(USER_KEY)
    return None if raw is None else User(raw["username"], raw["role"], tuple(raw["companies"]))


def _remember(user: User) -> None:
    st.session_state[USER_KEY] = {"username": user.username, "role": user.role, "companies": list(user.companies)}


def logout() -> None:
    st.session_state.pop(USER_KEY, None)


def _password_form() -> None:
    st.title("AI Usage Monitor")
    st.subheader("Sign in")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.warning(notice)
    with st.form("login"):
        username = st.text_input("Username", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            # Throttled per account and per client address across every session (core.access.throttle).
            user = sign_in(username, password, address=local_only.client_address())
        except TooManyAttempts as e:
            st.error(str(e))
            st.stop()
        if user is None:
            st.error("Wrong username or password.")
        else:
            _remember(user)
            st.rerun()
    st.stop()


def _oidc() -> User:
    if not st.user.is_logged_in:
        st.title("AI Usage Monitor")
        st.button("Sign in", type="primary", on_click=st.login)
        st.stop()
    email = str(st.user.get("email") or "")
    user = lookup(email)  # at every run: a mapping removed or changed applies at once
    if user is None:
        st.title("AI Usage Monitor")
        st.error(
            f"{email or 'This account'} has no access yet. An admin can grant it with "
            f"`python -m core user add {email or 'EMAIL'} --sso --role viewer --company NAME`."
        )
        st.button("Sign out", on_click=st.logout)
        st.stop()
    return user


def _signed_in() -> User | None:
    """The session's user as the users file has them now; None (and signed out) when they are gone."""
    known = current_user()
    if known is None or known == LOCAL_OPERATOR:  # a local-mode session signs in once a login is configured
        return None
    now = lookup(known.username)
    if now is None:
        st.session_state[NOTICE_KEY] = f"{known.username} no longer has access: you have been signed out."
        return None
    if now != known:
        st.toast(f"Your access changed: {now.role} of {', '.join(now.companies)}.")
    return now


def gate() -> User:
    """Return the signed-in user, or show the sign-in page (or the local-mode refusal) and stop the run."""
    mode = login_mode()
    if mode == "local":
        problem = local_only.refusal_here()
        if problem:
            logout()
            st.error(problem)
            st.stop()
        _remember(LOCAL_OPERATOR)
        return LOCAL_OPERATOR
    if mode == "oidc":
        user = _oidc()
        _remember(user)
        return user
    user = _signed_in()
    if user is not None:
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
