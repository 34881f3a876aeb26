"""The dashboard's run after its page config (dashboard.py): database migration, the access gate, the URL's filter
values, shared filters, banners, then navigation to the selected page.

Order of a run: setup -> the access gate (sign-in, roles, companies) -> the URL's filter values checked ->
shared sidebar filters -> banners -> the selected page.
"""

from __future__ import annotations

import streamlit as st

from ui import auth_gate, cache, filters
from ui.common import status_banners


def setup() -> None:
    cache.migrated()
    filters.restore()


def shared_filters() -> None:
    """Company, brand and provider: in the sidebar, in the URL, applied by every page that shows usage."""
    side = st.sidebar
    side.markdown("### Filters")
    opts = cache.options()
    user = auth_gate.ensure_user()
    if user.all_companies:
        choices = [None] + opts["companies"]
    else:
        # A user scoped to some companies picks among them only; the URL cannot widen it (filters.scope).
        filters.scope()
        choices = [c for c in opts["companies"] if user.may_see(c)] or list(user.companies)
    company = filters.selectbox(
        "Company", choices, "company", container=side, format_func=lambda c: "All companies" if c is None else c
    )
    scoped = cache.options(company) if company else opts
    names = {b["id"]: (b["name"] if company else f"{b['company']} / {b['name']}") for b in scoped["brands"]}
    filters.selectbox(
        "Brand",
        [None] + list(names),
        "brand",
        container=side,
        format_func=lambda b: "All brands" if b is None else names.get(b, f"brand {b}"),
    )
    filters.selectbox(
        "Provider",
        [None] + scoped["providers"],
        "provider",
        container=side,
        format_func=lambda p: "All providers" if p is None else p,
    )
    side.divider()


def navigation() -> st.navigation:
    # The default page is served at "/" (Streamlit ignores a url_path on it); the others at /costs, /trends…
    page = st.Page
    operate = [
        page("pages/alerts.py", title="Alerts", icon=":material/notifications_active:", url_path="alerts"),
        page("pages/settings.py", title="Settings", icon=":material/settings:", url_path="settings"),
    ]
    return st.navigation(
        {
            "Monitor": [
                page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
                page("pages/costs.py", title="Costs", icon=":material/payments:", url_path="costs"),
                page("pages/trends.py", title="Trends", icon=":material/trending_up:", url_path="trends"),
                page("pages/efficiency.py", title="Efficiency", icon=":material/bolt:", url_path="efficiency"),
                page("pages/stats.py", title="Stats", icon=":material/analytics:", url_path="stats"),
            ],
            "Explore": [page("pages/usage.py", title="Usage", icon=":material/search:", url_path="usage")],
            "Operate": operate,
        }
    )


def main() -> None:
    setup()
    user = auth_gate.gate()  # signs in (or stops the run) before anything reads usage data
    filters.check_url()  # a link's unusable filter values are refused here, before any query
    nav = navigation()
    shared_filters()
    auth_gate.sidebar(user)
    status_banners()
    nav.run()
