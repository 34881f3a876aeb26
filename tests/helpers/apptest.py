"""The dashboard and its pages under Streamlit's AppTest, opened the ways a user opens them."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT


def dashboard(page: str | None = None, /, *, user: dict | None = None, timeout: float = 30, **params) -> AppTest:
    """The dashboard as opened from a link, not run yet: query parameters set and the page (pages/PAGE.py) chosen
    before the first run (a `page` query parameter too); `user` is a signed-in user's session record (username,
    role, companies)."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=timeout)
    if user is not None:
        at.session_state["_auth_user"] = user
    for k, v in params.items():
        at.query_params[k] = v
    if page:
        at.switch_page(f"pages/{page}.py")
    return at


def page_alone(name: str, *, user: dict | None = None, timeout: float = 30) -> AppTest:
    """One page script by itself (pages/NAME.py, not through dashboard.py), not run yet."""
    at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=timeout)
    if user is not None:
        at.session_state["_auth_user"] = user
    return at


def app_test(page: str | None = None) -> AppTest:
    """The dashboard run once on the Overview, then, when given, navigated to a page and run again."""
    at = dashboard()
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    return at
