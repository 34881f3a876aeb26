"""The Alerts page through AppTest: summary counts, alert text rendered as text, filters, "Run checks now",
resolve with a note behind the confirmation dialog; and through dashboard.py's navigation."""

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core.alerts import check_alerts, list_alerts
from core.limits.budgets import set_budget, set_quota
from tests.helpers.alerts import spend
from tests.helpers.apptest import dashboard, page_alone


@pytest.fixture
def open_alerts(db, env):
    now = datetime.now(UTC)
    set_budget("Acme", "100", provider="openai")
    set_quota("Acme", "openai", monthly_usd="80")
    spend("85", when=now - timedelta(minutes=10), company="Acme")
    r = check_alerts(now=now)
    assert r["new_alerts_created"] == 2  # cost_warning + quota_exceeded
    return {a["type"]: a["id"] for a in r["alerts"]}


def page() -> AppTest:
    return page_alone("alerts").run()


def metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def texts(at) -> str:
    return "\n".join(t.value for t in at.text)


def test_active_alerts_and_summary(open_alerts):
    at = page()
    assert not at.exception
    assert metric(at, "Active alerts") == "2"
    assert metric(at, "Critical") == "1"
    assert metric(at, "Quota warnings") == "1" and metric(at, "Cost warnings") == "1"
    shown = texts(at)
    assert "CRITICAL · quota_exceeded · openai" in shown and "WARNING · cost_warning" in shown
    assert shown.index("quota_exceeded") < shown.index("cost_warning")  # most severe first
    assert len(at.table) == 1 and len(at.table[0].value) == 2  # the All alerts table


def test_resolve_with_a_note_after_confirmation(open_alerts):
    alert_id = open_alerts["cost_warning"]
    at = page()
    at.text_input(key=f"alerts_note_{alert_id}").input("Budget raised to 150$")
    at.button(key=f"alerts_resolve_{alert_id}").click().run()
    assert not at.exception
    # Nothing is resolved before the confirmation.
    assert list_alerts(alert_type="cost_warning")["results"][0]["is_resolved"] is False
    assert "Note: Budget raised to 150$" in texts(at)
    at.button(key="alerts_confirm_yes").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [f"Alert #{alert_id} resolved"]
    assert metric(at, "Active alerts") == "1"
    stored = list_alerts(alert_type="cost_warning")["results"][0]
    assert stored["is_resolved"] and stored["resolution_note"] == "Budget raised to 150$"
    assert stored["resolved_by"] == "dashboard"


def test_cancel_leaves_the_alert_open(open_alerts):
    alert_id = open_alerts["quota_exceeded"]
    at = page()
    at.button(key=f"alerts_resolve_{alert_id}").click().run()
    at.button(key="alerts_confirm_no").click().run()
    assert list_alerts(is_resolved=False)["count"] == 2
    assert metric(at, "Active alerts") == "2"


def test_filters_and_run_checks_now(open_alerts):
    at = page()
    at.selectbox(key="alerts_f_type").select("quota_exceeded").run()
    assert len(at.table[0].value) == 1
    assert at.table[0].value["Type"].str.replace("\\", "").tolist() == ["quota_exceeded"]  # cells are escaped
    at.selectbox(key="alerts_f_type").select(None).run()
    at.selectbox(key="alerts_f_state").select("Resolved").run()
    assert "No alert matches these filters." in [i.value for i in at.info]
    at.selectbox(key="alerts_f_state").select("All").run()
    at.text_input(key="alerts_f_provider").input("gemini").run()
    assert "No alert matches these filters." in [i.value for i in at.info]
    at.text_input(key="alerts_f_provider").input("").run()
    at.date_input(key="alerts_f_since").set_value(datetime.now(UTC).date() + timedelta(days=1)).run()
    assert "No alert matches these filters." in [i.value for i in at.info]

    set_quota("Acme", "openai", monthly_usd="1000")  # the quota condition clears
    at.button(key="alerts_run_checks").click().run()
    assert not at.exception
    assert "0 new alerts, 1 resolved by themselves" in at.success[0].value
    assert metric(at, "Active alerts") == "1"


def test_alert_text_is_shown_as_text(db, env):
    from decimal import Decimal

    from core.alerts import open_alert
    from core.alerts.findings import Finding
    from core.ingest.record import get_or_create_company
    from core.storage.db import session_scope

    with session_scope() as s:
        cid = get_or_create_company(s, "Acme")
        open_alert(
            s,
            Finding(
                cid, "openai", "slow_execution", Decimal(30), Decimal(31), "<script>alert(1)</script> **bold** $x$"
            ),
            datetime.now(UTC),
        )
    at = page()
    assert "<script>alert(1)</script> **bold** $x$" in texts(at)
    assert all("<script>" not in m.value for m in at.markdown)


def test_empty_state(db, env):
    at = page()
    assert not at.exception
    assert metric(at, "Active alerts") == "0"
    assert "No open alert." in [i.value for i in at.info]


def test_reached_through_the_dashboard_navigation(open_alerts):
    at = dashboard().run()
    at.switch_page("pages/alerts.py").run()
    assert not at.exception
    assert metric(at, "Active alerts") == "2"
