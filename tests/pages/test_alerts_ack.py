"""The Alerts page's Acknowledge and Snooze (confirmed in a dialog), acknowledged alerts shown as such, the Resolve
dialog warning when the condition still holds; viewers get none of it, even forged."""

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core.alerts import acknowledge_alert, active_alerts, check_alerts, list_alerts
from core.limits.budgets import set_budget, set_quota
from tests.helpers.alerts import spend
from tests.helpers.apptest import page_alone

STILL_HOLDS = (
    "The condition still holds: it will open again at the next check. Acknowledge it instead to stop the reminders."
)


@pytest.fixture
def open_alerts(db, env):
    now = datetime.now(UTC)
    set_budget("Acme", "100", provider="openai")
    set_quota("Acme", "openai", monthly_usd="80")
    spend("85", when=now - timedelta(minutes=10), company="Acme")
    r = check_alerts(now=now)
    assert r["new_alerts_created"] == 2  # cost_warning + quota_exceeded
    return {a["type"]: a["id"] for a in r["alerts"]}


def page(user: dict | None = None) -> AppTest:
    return page_alone("alerts", user=user).run()


def texts(at) -> str:
    return "\n".join(t.value for t in at.text)


def stored(alert_id: int) -> dict:
    return next(a for a in active_alerts()["alerts"] if a["id"] == alert_id)


def test_admin_gets_acknowledge_and_snooze_beside_resolve(open_alerts):
    at = page()
    assert not at.exception
    keys = {b.key for b in at.button}
    for alert_id in open_alerts.values():
        assert {f"alerts_resolve_{alert_id}", f"alerts_ack_{alert_id}", f"alerts_snooze_{alert_id}"} <= keys
    assert {b.label for b in at.button} >= {"Resolve", "Acknowledge", "Snooze"}


def test_acknowledge_after_confirmation_and_shown_as_such(open_alerts):
    alert_id = open_alerts["quota_exceeded"]
    at = page()
    at.button(key=f"alerts_ack_{alert_id}").click().run()
    assert not at.exception
    assert stored(alert_id)["acknowledged"] is False  # nothing before the confirmation
    at.text_input(key="alerts_ack_note").input("Vendor raising the quota")
    at.button(key="alerts_ack_yes").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [f"Alert #{alert_id} acknowledged: no reminder while it stays open"]
    item = stored(alert_id)
    assert item["acknowledged"] and item["acknowledged_by"] == "dashboard" and item["snoozed_until"] is None
    assert item["acknowledgement_note"] == "Vendor raising the quota"
    shown = texts(at)
    assert (
        f"✔ Acknowledged by dashboard at {item['acknowledged_at'][:16].replace('T', ' ')} UTC · "
        "no reminder while it stays open · Note: Vendor raising the quota"
    ) in shown
    assert "1 of 2 acknowledged" in "\n".join(c.value for c in at.caption)
    assert len(active_alerts()["alerts"]) == 2  # still open
    assert list_alerts()["results"][0]["is_resolved"] is False


@pytest.mark.parametrize(
    "choice,delta", [("1 hour", timedelta(hours=1)), ("1 day", timedelta(days=1)), ("1 week", timedelta(weeks=1))]
)
def test_snooze_for_a_while(open_alerts, choice, delta):
    alert_id = open_alerts["cost_warning"]
    at = page()
    at.button(key=f"alerts_snooze_{alert_id}").click().run()
    at.radio(key="alerts_snooze_for").set_value(choice).run()
    before = datetime.now(UTC)
    at.button(key="alerts_snooze_yes").click().run()
    after = datetime.now(UTC)
    assert not at.exception
    until = datetime.fromisoformat(stored(alert_id)["snoozed_until"].replace("Z", "+00:00"))
    assert before + delta - timedelta(seconds=1) <= until <= after + delta
    assert at.success[0].value.startswith(f"Alert #{alert_id} snoozed: no reminder until ")
    assert f"no reminder until {until:%Y-%m-%d %H:%M} UTC" in texts(at)


def test_snooze_until_a_date(open_alerts):
    alert_id = open_alerts["cost_warning"]
    day = datetime.now(UTC).date() + timedelta(days=3)
    at = page()
    at.button(key=f"alerts_snooze_{alert_id}").click().run()
    at.radio(key="alerts_snooze_for").set_value("Until a date").run()
    at.date_input(key="alerts_snooze_date").set_value(day).run()
    at.text_input(key="alerts_ack_note").input("back from holiday")
    at.button(key="alerts_snooze_yes").click().run()
    assert not at.exception
    item = stored(alert_id)
    assert item["snoozed_until"] == f"{day.isoformat()}T00:00:00Z"  # the start of that day, UTC
    assert item["acknowledgement_note"] == "back from holiday"
    assert f"no reminder until {day.isoformat()} 00:00 UTC · Note: back from holiday" in texts(at)


def test_resolve_dialog_warns_while_the_condition_holds(open_alerts):
    alert_id = open_alerts["quota_exceeded"]  # 85 of 80: it still holds
    at = page()
    at.button(key=f"alerts_resolve_{alert_id}").click().run()
    assert not at.exception
    assert [w.value for w in at.warning] == [STILL_HOLDS]
    # "Acknowledge instead" leads to the acknowledge dialog.
    at.button(key="alerts_confirm_ack").click().run()
    at.button(key="alerts_ack_yes").click().run()
    assert not at.exception
    assert stored(alert_id)["acknowledged"]
    assert not list_alerts(alert_type="quota_exceeded")["results"][0]["is_resolved"]

    set_quota("Acme", "openai", monthly_usd="1000")  # cleared, no check run yet: the alert is still open
    at.button(key=f"alerts_resolve_{alert_id}").click().run()
    assert not at.exception
    assert len(at.warning) == 0  # evaluated again at each Resolve: no warning now
    at.button(key="alerts_confirm_yes").click().run()
    assert [s.value for s in at.success] == [f"Alert #{alert_id} resolved"]


def test_acknowledged_alert_is_shown_to_a_viewer_who_cannot_acknowledge(open_alerts):
    alert_id = open_alerts["quota_exceeded"]
    acknowledge_alert(alert_id, "on it", until=datetime.now(UTC).date() + timedelta(days=2), acknowledged_by="alice")
    at = page({"username": "victor", "role": "viewer", "companies": ["*"]})
    assert not at.exception
    keys = [b.key or "" for b in at.button]
    assert not any(k.startswith(("alerts_ack_", "alerts_snooze_", "alerts_resolve_")) for k in keys)
    assert "✔ Acknowledged by alice at " in texts(at) and "· Note: on it" in texts(at)


def test_a_forged_acknowledge_from_a_viewer_is_refused(open_alerts):
    def script():
        import streamlit as st

        from ui import alerts_view

        st.session_state["_auth_user"] = {"username": "victor", "role": "viewer", "companies": ["*"]}
        try:
            alerts_view.acknowledge(int(st.query_params["id"]), "forged")
            st.write("acknowledged")
        except PermissionError as e:
            st.write(f"refused: {e}")

    at = AppTest.from_function(script, default_timeout=30)
    at.query_params["id"] = str(open_alerts["cost_warning"])
    at.run()
    assert [m.value for m in at.markdown] == ["refused: Only an admin can do this."]
    assert not any(a["acknowledged"] for a in active_alerts()["alerts"])
