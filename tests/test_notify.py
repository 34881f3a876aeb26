"""Notifications through apprise to a real SMTP server (aiosmtpd) and a real webhook receiver on loopback:
grouped per check, retried, marked sent only after delivery, repeated after NOTIFY_REPEAT_HOURS, resolved once,
critical ones to the admin channel, credentials never shown."""
import logging
from datetime import timedelta

from alert_fixtures import NOW, env, free_port, smtp_server, spend, text_of, webhook  # noqa: F401
from sqlalchemy import select

from core.alerts import check_alerts, list_alerts, resolve_alert
from core.db import session_scope
from core.limits import set_budget, set_quota
from core.models import Alert


def two_alerts():
    """cost_warning (warning) and quota_exceeded (critical) for Acme / openai."""
    set_budget("Acme", "100", provider="openai")
    set_quota("Acme", "openai", monthly_usd="80")
    spend("85", when=NOW - timedelta(hours=1))


def alert_rows():
    with session_scope() as s:
        return {a.alert_type: (a.email_sent, a.email_sent_at, a.notify_attempts, a.notify_error, a.last_notified_at)
                for a in s.scalars(select(Alert))}


def test_one_webhook_message_per_check_listing_every_new_alert(db, env, webhook):
    env(NOTIFY_URLS=webhook.url())
    two_alerts()
    r = check_alerts(now=NOW)
    assert r["new_alerts_created"] == 2 and r["notifications_sent"] == 2
    assert len(webhook.received) == 1
    text = text_of(webhook.delivered[0])
    assert "2 new alerts" in text and "cost_warning" in text and "quota_exceeded" in text
    rows = alert_rows()
    assert all(sent and sent_at == NOW for sent, sent_at, *_ in rows.values())
    listed = list_alerts()["results"][0]
    assert listed["email_sent"] is True and listed["email_sent_at"] == "2026-02-12T15:00:00Z"
    # Nothing new, nothing due: no message.
    assert check_alerts(now=NOW + timedelta(minutes=15))["notifications_sent"] == 0
    assert len(webhook.received) == 1


def test_email_through_a_real_smtp_server(db, env, smtp_server):
    env(NOTIFY_URLS=smtp_server.url())
    two_alerts()
    r = check_alerts(now=NOW)
    assert r["notifications_sent"] == 2
    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert "Subject: AI Usage Monitor: 2 new alerts" in mail
    assert "quota_exceeded" in mail and "cost_warning" in mail


def test_failed_delivery_is_retried_then_sent_once(db, env, webhook):
    env(NOTIFY_URLS=webhook.url(), NOTIFY_RETRIES="3")
    two_alerts()
    webhook.mode = "500"
    r = check_alerts(now=NOW)
    assert r["new_alerts_created"] == 2 and r["notifications_sent"] == 0
    assert [x["status"] for x in webhook.received] == [500, 500, 500]  # three attempts in this check
    rows = alert_rows()
    assert all(not sent and attempts == 3 and error for sent, _, attempts, error, _ in rows.values())
    webhook.mode = "ok"
    r = check_alerts(now=NOW + timedelta(minutes=15))
    assert r["new_alerts_created"] == 0 and r["notifications_sent"] == 2
    assert len(webhook.delivered) == 1 and "2 new alerts" in text_of(webhook.delivered[0])
    rows = alert_rows()
    assert all(sent and sent_at == NOW + timedelta(minutes=15) and error is None
               for sent, sent_at, _, error, _ in rows.values())
    check_alerts(now=NOW + timedelta(minutes=30))
    assert len(webhook.delivered) == 1  # sent once


def test_a_retry_within_the_check_delivers(db, env, webhook):
    env(NOTIFY_URLS=webhook.url())
    two_alerts()
    webhook.script.extend(["500"])
    r = check_alerts(now=NOW)
    assert r["notifications_sent"] == 2
    assert [x["status"] for x in webhook.received] == [500, 200]


def test_receiver_down_then_back(db, env, webhook):
    env(NOTIFY_URLS=f"json://127.0.0.1:{free_port()}/hook", NOTIFY_RETRIES="2")
    two_alerts()
    assert check_alerts(now=NOW)["notifications_sent"] == 0
    assert all(not sent for sent, *_ in alert_rows().values())
    env(NOTIFY_URLS=webhook.url())
    assert check_alerts(now=NOW + timedelta(minutes=15))["notifications_sent"] == 2
    assert len(webhook.delivered) == 1


def test_open_alert_repeated_only_after_the_interval_and_resolved_once(db, env, webhook):
    env(NOTIFY_URLS=webhook.url(), NOTIFY_REPEAT_HOURS="24")
    set_budget("Acme", "100", provider="openai")
    spend("85", when=NOW - timedelta(hours=1))
    check_alerts(now=NOW)
    check_alerts(now=NOW + timedelta(hours=23, minutes=59))
    assert len(webhook.delivered) == 1
    r = check_alerts(now=NOW + timedelta(hours=24))
    assert r["notifications_sent"] == 1 and r["new_alerts_created"] == 0
    assert len(webhook.delivered) == 2 and "still open" in text_of(webhook.delivered[1])
    check_alerts(now=NOW + timedelta(hours=25))
    assert len(webhook.delivered) == 2
    alert_id = list_alerts()["results"][0]["id"]
    resolve_alert(alert_id, "budget raised", now=NOW + timedelta(hours=26))
    set_budget("Acme", "1000", provider="openai")
    check_alerts(now=NOW + timedelta(hours=26, minutes=15))
    assert len(webhook.delivered) == 3
    text = text_of(webhook.delivered[2])
    assert "1 resolved" in text and "budget raised" in text
    check_alerts(now=NOW + timedelta(hours=26, minutes=30))
    assert len(webhook.delivered) == 3  # the "resolved" message goes once


def test_critical_alerts_also_go_to_the_admin_channel(db, env, webhook):
    env(NOTIFY_URLS=webhook.url("team"), ADMIN_NOTIFY_URLS=webhook.url("admin"))
    two_alerts()
    check_alerts(now=NOW)
    by_path = {r["path"]: text_of(r["body"]) for r in webhook.received}
    assert set(by_path) == {"/team", "/admin"}
    assert "quota_exceeded" in by_path["/team"] and "cost_warning" in by_path["/team"]
    assert "quota_exceeded" in by_path["/admin"] and "cost_warning" not in by_path["/admin"]


def test_an_alert_resolved_before_anyone_was_told_sends_nothing(db, env, webhook):
    set_budget("Acme", "100", provider="openai")
    spend("85", when=NOW - timedelta(hours=1))
    check_alerts(now=NOW)  # no channel yet
    resolve_alert(list_alerts()["results"][0]["id"], "fixed")
    env(NOTIFY_URLS=webhook.url())
    check_alerts(now=NOW + timedelta(minutes=15))
    # Only the (reopened) cost_warning is announced; no "resolved" line for the never-notified one.
    assert len(webhook.delivered) == 1 and "resolved" not in text_of(webhook.delivered[0]).lower().split(
        "resolve from")[0]


def test_three_failing_days_make_one_alert_and_one_notification(db, env, webhook):
    env(NOTIFY_URLS=webhook.url(), NOTIFY_REPEAT_HOURS="96")
    created = 0
    for day in (2, 1, 0):
        when = NOW - timedelta(days=day)
        for i in range(4):
            spend("0.01", when=when - timedelta(hours=i + 1), status="failed" if i == 0 else "completed")
        for minutes in (0, 15):
            created += check_alerts(now=when + timedelta(minutes=minutes))["new_alerts_created"]
    assert created == 1
    assert list_alerts(alert_type="high_failure_rate")["count"] == 1
    assert len(webhook.delivered) == 1 and "high_failure_rate" in text_of(webhook.delivered[0])


def test_credentials_never_reach_logs_or_alerts(db, env, webhook, caplog):
    secret = "s3cretPassw0rd"
    env(NOTIFY_URLS=webhook.url(credentials=f"user:{secret}"), NOTIFY_RETRIES="2")
    webhook.mode = "500"
    two_alerts()
    caplog.set_level(logging.DEBUG)
    check_alerts(now=NOW)
    assert webhook.received and webhook.received[0]["authorization"]  # the credentials were used…
    assert secret not in caplog.text  # …but never logged
    with session_scope() as s:
        stored = " ".join(f"{a.message} {a.notify_error}" for a in s.scalars(select(Alert)))
    assert secret not in stored and "URL #1" in stored


def test_webhook_redirects_are_not_followed(env):
    from alert_fixtures import Webhook

    from core.notify import deliver
    target, bouncer = Webhook(), Webhook()
    try:
        bouncer.redirect_to = f"http://127.0.0.1:{target.port}/stolen"
        env(NOTIFY_RETRIES="1")
        result = deliver([bouncer.url() + "?redirect=yes"], "title", "body")
        assert not result.ok
        assert [r["status"] for r in bouncer.received] == [307]
        assert target.received == []
    finally:
        target.close()
        bouncer.close()
