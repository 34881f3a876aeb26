"""Acknowledge and snooze: an acknowledged alert stays open and still resolves by itself, sends no reminder while
acknowledged (or until its snooze ends, then reminders resume), an escalation is a new alert and is notified, the
"resolved" message still goes; `condition_holds` re-evaluates a rule without writing; `alerts ack` on the command
line. Real webhook receiver on loopback, both databases."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.alerts import (
    AlertNotFound,
    AlertNotOpen,
    acknowledge_alert,
    active_alerts,
    check_alerts,
    condition_holds,
    list_alerts,
    resolve_alert,
)
from core.cli import main
from core.limits.budgets import set_quota
from core.storage.db import session_scope
from core.storage.models import Alert
from tests.helpers.alerts import NOW, spend, text_of


def quota_warning() -> int:
    """Acme / openai at 85% of a $100 quota: one open quota_warning, announced at NOW."""
    set_quota("Acme", "openai", monthly_usd="100")
    spend("85", when=NOW - timedelta(hours=1))
    r = check_alerts(now=NOW)
    assert [a["type"] for a in r["alerts"]] == ["quota_warning"]
    return r["alerts"][0]["id"]


def alert_count() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Alert))


def test_acknowledged_alert_gets_no_reminder_and_an_escalation_is_notified(db, env, webhook):
    env(NOTIFY_URLS=webhook.url(), NOTIFY_REPEAT_HOURS="1")
    alert_id = quota_warning()
    assert len(webhook.delivered) == 1
    r = acknowledge_alert(alert_id, "Vendor raising the quota on Monday", now=NOW + timedelta(minutes=5))
    assert r["message"] == "Alert acknowledged successfully"
    assert r["alert"]["acknowledged_by"] == "user" and r["alert"]["snoozed_until"] is None

    item = active_alerts(now=NOW + timedelta(minutes=5))["alerts"][0]
    assert item["id"] == alert_id and item["type"] == "quota_warning"  # still open, every seed key kept
    assert set(item) >= {
        "id",
        "type",
        "provider",
        "message",
        "severity",
        "created_at",
        "company",
        "threshold_value",
        "current_value",
    }
    assert item["acknowledged"] is True and item["acknowledged_at"] == "2026-02-12T15:05:00Z"
    assert item["acknowledged_by"] == "user" and item["snoozed_until"] is None
    assert item["acknowledgement_note"] == "Vendor raising the quota on Monday"
    listed = list_alerts()["results"][0]
    assert listed["acknowledged"] is True and listed["acknowledged_by"] == "user" and listed["is_resolved"] is False

    for hours in (1, 2, 3, 4):  # a reminder would be due every hour
        r = check_alerts(now=NOW + timedelta(hours=hours))
        assert r["notifications_sent"] == 0 and r["new_alerts_created"] == 0
    assert len(webhook.delivered) == 1
    assert active_alerts()["count"] == 1  # still open

    spend("11", when=NOW + timedelta(hours=4, minutes=5))  # 96 of 100: critical
    r = check_alerts(now=NOW + timedelta(hours=4, minutes=15))
    assert [a["type"] for a in r["alerts"]] == ["quota_critical"] and r["notifications_sent"] == 1
    assert len(webhook.delivered) == 2
    text = text_of(webhook.delivered[1])
    assert "1 new alert" in text and "quota_critical" in text
    assert "1 resolved" in text  # the acknowledged warning, superseded
    critical = active_alerts()["alerts"]
    assert [(a["type"], a["acknowledged"]) for a in critical] == [("quota_critical", False)]


def test_snooze_until_a_time_then_reminders_resume(db, env, webhook):
    env(NOTIFY_URLS=webhook.url(), NOTIFY_REPEAT_HOURS="1")
    alert_id = quota_warning()
    end = NOW + timedelta(hours=3)
    r = acknowledge_alert(alert_id, "checking", until=end.isoformat(), now=NOW + timedelta(minutes=10))
    assert r["alert"]["snoozed_until"] == "2026-02-12T18:00:00Z"
    for at in (timedelta(hours=1), timedelta(hours=2), timedelta(hours=2, minutes=59)):
        assert check_alerts(now=NOW + at)["notifications_sent"] == 0
    assert len(webhook.delivered) == 1
    item = active_alerts(now=NOW + timedelta(hours=2))["alerts"][0]
    assert item["acknowledged"] and item["silenced"] and item["snoozed_until"] == "2026-02-12T18:00:00Z"

    r = check_alerts(now=end)  # the snooze is over: the reminder is due (last one at NOW)
    assert r["notifications_sent"] == 1 and len(webhook.delivered) == 2
    assert "1 still open" in text_of(webhook.delivered[1]) and "quota_warning" in text_of(webhook.delivered[1])
    assert check_alerts(now=end + timedelta(minutes=30))["notifications_sent"] == 0  # then every hour again
    assert check_alerts(now=end + timedelta(hours=1))["notifications_sent"] == 1
    assert len(webhook.delivered) == 3
    item = active_alerts(now=end)["alerts"][0]
    assert item["acknowledged"] and not item["silenced"]


def test_until_forms_reacknowledging_and_refusals(db, env):
    alert_id = quota_warning()
    at = NOW + timedelta(minutes=1)
    r = acknowledge_alert(alert_id, "first", until="2026-02-14", now=at)  # a date: the start of that day, UTC
    assert r["alert"]["snoozed_until"] == "2026-02-14T00:00:00Z"
    r = acknowledge_alert(alert_id, until=datetime(2026, 2, 13, 9, 30), acknowledged_by="ops", now=at)
    assert r["alert"]["snoozed_until"] == "2026-02-13T09:30:00Z"  # naive: UTC
    assert r["alert"]["acknowledged_by"] == "ops" and r["alert"]["acknowledgement_note"] == "first"  # note kept
    r = acknowledge_alert(alert_id, "no end now", until="2026-02-13T10:00:00+02:00", now=at)
    assert r["alert"]["snoozed_until"] == "2026-02-13T08:00:00Z"
    r = acknowledge_alert(alert_id, "no end now", now=at)  # no until: for as long as it stays open
    stored = active_alerts(now=at)["alerts"][0]
    assert stored["snoozed_until"] is None and stored["acknowledgement_note"] == "no end now" and stored["silenced"]

    with pytest.raises(ValueError, match=r"until must be in the future, got '2026-02-12'"):
        acknowledge_alert(alert_id, until="2026-02-12", now=at)  # today's start is already past
    with pytest.raises(ValueError, match=r"until must be in the future"):
        acknowledge_alert(alert_id, until=NOW, now=at)
    with pytest.raises(ValueError, match=r"until must be a date \(YYYY-MM-DD\).*got 'next tuesday'"):
        acknowledge_alert(alert_id, until="next tuesday", now=at)
    with pytest.raises(AlertNotFound, match="alert 9999 not found"):
        acknowledge_alert(9999, now=at)
    with pytest.raises(AlertNotFound):
        acknowledge_alert("abc", now=at)
    with pytest.raises(AlertNotFound):  # outside the company it is asked for
        acknowledge_alert(alert_id, company="Beta", now=at)
    resolve_alert(alert_id, "done", now=at)
    with pytest.raises(AlertNotOpen, match=f"alert {alert_id} is already resolved"):
        acknowledge_alert(alert_id, now=at)


def test_acknowledged_alert_resolves_by_itself_and_the_resolved_message_goes(db, env, webhook):
    env(NOTIFY_URLS=webhook.url(), NOTIFY_REPEAT_HOURS="1")
    alert_id = quota_warning()
    acknowledge_alert(alert_id, "on it", now=NOW + timedelta(minutes=5))
    set_quota("Acme", "openai", monthly_usd="200")  # 85 of 200: the condition clears
    r = check_alerts(now=NOW + timedelta(hours=2))
    assert r["auto_resolved"] == 1 and r["notifications_sent"] == 0
    stored = list_alerts()["results"][0]
    assert stored["is_resolved"] and stored["resolved_by"] == "auto" and stored["acknowledged"]
    assert len(webhook.delivered) == 2
    text = text_of(webhook.delivered[1])
    assert "1 resolved" in text and "quota_warning" in text and "still open" not in text
    check_alerts(now=NOW + timedelta(hours=3))
    assert len(webhook.delivered) == 2


def test_an_alert_acknowledged_before_any_message_sends_nothing(db, env, webhook):
    alert_id = quota_warning()  # no channel configured yet
    acknowledge_alert(alert_id, now=NOW + timedelta(minutes=5))
    env(NOTIFY_URLS=webhook.url())
    assert check_alerts(now=NOW + timedelta(minutes=15))["notifications_sent"] == 0
    assert webhook.received == []
    set_quota("Acme", "openai", monthly_usd="200")
    assert check_alerts(now=NOW + timedelta(minutes=30))["auto_resolved"] == 1
    assert webhook.received == []  # no channel was told of it: no "resolved" message either


def test_condition_holds_after_a_resolve_until_spend_is_below(db, env):
    set_quota("Acme", "openai", monthly_usd="80")
    spend("85", when=NOW - timedelta(hours=1))
    r = check_alerts(now=NOW)
    alert_id = r["alerts"][0]["id"]
    assert r["alerts"][0]["type"] == "quota_exceeded"
    resolve_alert(alert_id, "seen", now=NOW + timedelta(minutes=1))
    before = alert_count()
    assert condition_holds(alert_id, now=NOW + timedelta(minutes=2)) is True
    assert condition_holds(str(alert_id), company="Acme", now=NOW + timedelta(minutes=2)) is True
    assert alert_count() == before  # evaluated, nothing written
    assert active_alerts()["count"] == 0
    set_quota("Acme", "openai", monthly_usd="200")  # 85 of 200: below every level
    assert condition_holds(alert_id, now=NOW + timedelta(minutes=3)) is False
    # And what the warning says: the next check does not open it again.
    assert check_alerts(now=NOW + timedelta(minutes=4))["new_alerts_created"] == 0
    with pytest.raises(AlertNotFound):
        condition_holds(9999)
    with pytest.raises(AlertNotFound):
        condition_holds(alert_id, company="Beta")


def test_condition_holds_for_a_warning_now_above_its_level(db, env):
    alert_id = quota_warning()
    resolve_alert(alert_id, "seen", now=NOW + timedelta(minutes=1))
    spend("11", when=NOW + timedelta(minutes=2))  # 96%: the next check opens quota_critical
    assert condition_holds(alert_id, now=NOW + timedelta(minutes=3)) is True


def test_cli_alerts_ack(db, env, capsys):
    alert_id = quota_warning()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    assert main(["alerts", "ack", str(alert_id), "--note", "vendor call", "--until", tomorrow]) == 0
    out = capsys.readouterr().out
    assert f"Alert acknowledged successfully: #{alert_id} by cli" in out
    assert f"no reminder until {tomorrow}T00:00:00Z" in out
    stored = active_alerts()["alerts"][0]
    assert stored["acknowledged_by"] == "cli" and stored["acknowledgement_note"] == "vendor call"
    assert stored["snoozed_until"] == f"{tomorrow}T00:00:00Z"
    assert main(["alerts", "list", "--active"]) == 0
    assert f"OPEN (acknowledged by cli, snoozed until {tomorrow}T00:00:00Z)" in capsys.readouterr().out
    assert main(["alerts", "ack", str(alert_id)]) == 0
    assert "no reminder while it stays open" in capsys.readouterr().out
    assert active_alerts()["alerts"][0]["snoozed_until"] is None

    assert main(["alerts", "ack", str(alert_id), "--until", "31/12/2099"]) == 2
    err = capsys.readouterr().err
    assert "error: until must be a date (YYYY-MM-DD)" in err and "'31/12/2099'" in err
    assert main(["alerts", "ack", str(alert_id), "--until", "2020-01-01"]) == 2
    assert "error: until must be in the future, got '2020-01-01'" in capsys.readouterr().err
    assert main(["alerts", "ack", "424242"]) == 2
    assert "error: alert 424242 not found" in capsys.readouterr().err
    resolve_alert(alert_id)
    assert main(["alerts", "ack", str(alert_id)]) == 2
    assert "is already resolved" in capsys.readouterr().err


def test_migration_0008_down_and_up_keeps_alerts_and_their_deliveries(db, env, webhook):
    """Down to 0007 (no acknowledgement columns) and up again: the alerts and what each channel took stay."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from core.storage.db import PROJECT_ROOT, get_engine, migrate
    from core.storage.models import NotifyDelivery

    env(NOTIFY_URLS=webhook.url())
    alert_id = quota_warning()
    acknowledge_alert(alert_id, "on it", now=NOW + timedelta(minutes=1))
    engine = get_engine(db)
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007")
        columns = {c["name"] for c in inspect(engine).get_columns("alerts")}
        assert "acknowledged_at" not in columns and "snoozed_until" not in columns
    finally:
        migrate(db)
    item = active_alerts(now=NOW + timedelta(minutes=2))["alerts"][0]
    assert item["id"] == alert_id and item["acknowledged"] is False and item["snoozed_until"] is None
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(NotifyDelivery)) == 1
    assert check_alerts(now=NOW + timedelta(minutes=15))["notifications_sent"] == 0  # nothing sent twice
