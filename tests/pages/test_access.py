"""Access control through the real dashboard (AppTest): password login, roles and company scoping, all enforced
in the server-side script — and local mode when no login is configured."""

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core import config
from core.access.users import add_user, remove_user
from core.alerts import check_alerts, list_alerts
from core.limits.budgets import set_budget
from tests.helpers.apptest import dashboard

pytestmark = pytest.mark.usefixtures("navigation_mode")

PASSWORD = "a long enough password"


@pytest.fixture
def users(db, add_users):
    add_users(
        ("alice", PASSWORD, "admin", ["Humari"]),
        ("victor", PASSWORD, "viewer", ["Qadhya"]),
        ("root", PASSWORD, "admin", ["*"]),
    )
    now = datetime.now(UTC) - timedelta(minutes=5)
    from core.usage import record_usage

    for i in range(3):
        record_usage(
            job_id=f"h{i}",
            company="Humari",
            provider_name="openai",
            model_name="gpt-4o-mini",
            input_tokens=1000,
            output_tokens=100,
            created_at=now,
            description=f"humari secret {i}",
        )
    record_usage(
        job_id="q1",
        company="Qadhya",
        provider_name="ollama",
        model_name="llama3.1:8b",
        input_tokens=500,
        output_tokens=50,
        created_at=now,
        description="qadhya task",
    )
    set_budget("Humari", "0.0001")  # exceeded: an open alert for Humari
    set_budget("Qadhya", "0.0001")
    record_usage(
        job_id="q2",
        company="Qadhya",
        provider_name="openai",
        model_name="gpt-4o-mini",
        input_tokens=1000,
        output_tokens=100,
        created_at=now,
    )
    check_alerts()
    yield
    config.reset_settings()


def app(user: str | None = None, page: str | None = None, **params) -> AppTest:
    signed_in = None
    if user is not None:
        roles = {"alice": ("admin", ["Humari"]), "victor": ("viewer", ["Qadhya"]), "root": ("admin", ["*"])}
        role, companies = roles[user]
        signed_in = {"username": user, "role": role, "companies": companies}
    return dashboard(page, user=signed_in, **params).run()


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_password_login_is_required(users):
    at = app()
    assert not at.exception
    assert not at.metric and [t.label for t in at.text_input] == ["Username", "Password"]
    at.text_input(key="login_username").input("alice")
    at.text_input(key="login_password").input("wrong password!")
    at.button[0].click().run()
    assert any("Wrong username or password" in e.value for e in at.error)
    assert not at.metric
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    assert metric(at, "Jobs") == "3"  # alice sees Humari only
    assert any("Signed in as alice · admin" in c.value for c in at.sidebar.caption)


def test_company_a_sees_zero_rows_of_b_whatever_the_url_says(users):
    at = app("victor", "usage", company="Humari")
    assert not at.exception
    heads = [s.value for s in at.subheader if s.value.endswith("matching usage records")]
    assert heads == ["2 matching usage records"]
    shown = at.dataframe[0].value
    assert "humari secret" not in shown.to_csv()
    assert at.query_params["company"] in ("Qadhya", ["Qadhya"])
    # A Humari usage id typed into the URL is not found in Qadhya's scope.
    from core.queries.usage_list import list_usage

    humari_id = list_usage(company="Humari")["results"][0]["id"]
    at = app("victor", "usage", id=str(humari_id))
    assert any(f"No usage with id {humari_id} in this scope" in w.value for w in at.warning)


def test_viewer_cannot_resolve_or_run_checks(users):
    at = app("victor", "alerts")
    assert not at.exception
    keys = [b.key for b in at.button]
    assert not any(k and k.startswith("alerts_resolve_") for k in keys)
    assert "alerts_run_checks" not in keys
    assert any("Read-only" in c.value for c in at.caption)
    assert metric(at, "Active alerts") == "1"  # Qadhya's alert only
    at = app("victor", "settings")
    assert any("Read-only" in i.value for i in at.info)
    assert not at.get("form")


def test_viewer_write_is_refused_server_side(users):
    """Even a forged call from a viewer's session reaches require_admin and is refused."""

    def script():
        import streamlit as st

        from ui import alerts_view

        st.session_state["_auth_user"] = {"username": "victor", "role": "viewer", "companies": ["Qadhya"]}
        try:
            alerts_view.resolve(1, "forged")
            st.write("resolved")
        except PermissionError as e:
            st.write(f"refused: {e}")

    at = AppTest.from_function(script, default_timeout=30).run()
    assert [m.value for m in at.markdown] == ["refused: Only an admin can do this."]
    assert list_alerts(is_resolved=True)["count"] == 0


def test_admin_of_one_company_resolves_only_there(users):
    at = app("alice", "alerts", company="Qadhya")
    assert at.query_params["company"] in ("Humari", ["Humari"])
    humari_alert = list_alerts(company="Humari", is_resolved=False)["results"][0]["id"]
    resolve_keys = [b.key for b in at.button if b.key and b.key.startswith("alerts_resolve_")]
    assert resolve_keys == [f"alerts_resolve_{humari_alert}"]


def test_local_mode_says_so(db):
    at = app()
    assert not at.exception
    assert any("Local mode, no login" in c.value for c in at.sidebar.caption)


def test_downgrade_applies_at_the_next_rerun(users):
    at = app("alice", "settings")
    assert at.get("form") and not any("Read-only" in i.value for i in at.info)  # admin widgets
    add_user("alice", PASSWORD, role="viewer", companies=["Humari"])
    at.run()
    assert any("Read-only" in i.value for i in at.info) and not at.get("form")
    assert any("Signed in as alice · viewer" in c.value for c in at.sidebar.caption)


def test_removed_user_is_signed_out_at_the_next_rerun(users):
    at = app("alice", "overview")
    assert metric(at, "Jobs") == "3"
    remove_user("alice")
    at.run()
    assert not at.metric
    assert [t.label for t in at.text_input] == ["Username", "Password"]
    assert any("alice no longer has access" in w.value for w in at.warning)


def test_company_change_applies_at_the_next_rerun(users):
    at = app("alice", "overview")
    assert metric(at, "Jobs") == "3"  # Humari
    add_user("alice", PASSWORD, role="admin", companies=["Qadhya"])
    at.run()
    assert metric(at, "Jobs") == "2"  # Qadhya's two calls, Humari's gone


def test_sign_in_failures_count_across_sessions(users):
    """Five wrong passwords in three separate sessions lock the account for a new session too."""
    for session_failures in (2, 2, 1):
        at = app()
        for _ in range(session_failures):
            at.text_input(key="login_username").input("alice")
            at.text_input(key="login_password").input("wrong password!")
            at.button[0].click().run()
            assert any("Wrong username or password" in e.value for e in at.error)
    at = app()
    at.text_input(key="login_username").input("alice")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert any("Too many failed sign-ins" in e.value for e in at.error)
    assert not at.metric
