"""Notifications through apprise to a real SMTP server (aiosmtpd) and a real webhook receiver on loopback:
grouped per check, retried, marked sent only after delivery, repeated after NOTIFY_REPEAT_HOURS, resolved once,
critical ones to the admin channel, credentials never shown; state per channel (a refusal is not retried, a failing
channel backs off and shows on the Alerts page), delivery outside the check lock, concurrent dispatches."""

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.alerts import check_alerts, list_alerts, resolve_alert
from core.limits.budgets import set_budget, set_quota
from core.storage.db import session_scope
from core.storage.models import Alert
from tests.helpers import free_port
from tests.helpers.alerts import NOW, spend, text_of
from tests.helpers.apptest import page_alone


def two_alerts():
    """cost_warning (warning) and quota_exceeded (critical) for Acme / openai."""
    set_budget("Acme", "100", provider="openai")
    set_quota("Acme", "openai", monthly_usd="80")
    spend("85", when=NOW - timedelta(hours=1))


def alert_rows():
    with session_scope() as s:
        return {
            a.alert_type: (a.email_sent, a.email_sent_at, a.notify_attempts, a.notify_error, a.last_notified_at)
            for a in s.scalars(select(Alert))
        }


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
    assert all(
        sent and sent_at == NOW + timedelta(minutes=15) and error is None
        for sent, sent_at, _, error, _ in rows.values()
    )
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
    assert (
        len(webhook.delivered) == 1 and "resolved" not in text_of(webhook.delivered[0]).lower().split("resolve from")[0]
    )


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
    from core.alerts.notify import deliver
    from tests.fakes.webhook_server import Webhook

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


# Per-channel state: a refusal is not retried, a failing channel backs off, the others never receive twice,
# delivery runs outside the check lock within NOTIFY_TIMEOUT_SECONDS, concurrent dispatches send once.


def channels_by_source() -> dict:
    from core.alerts.notify import channel_status

    return {c["source"]: c for c in channel_status()}


def alert_ids_per_path(hook) -> dict:
    """{path: {alert id: times announced}} over every request the receiver got."""
    import re

    out: dict = {}
    for r in hook.received:
        counts = out.setdefault(r["path"], {})
        for alert_id in re.findall(r"\(#(\d+)\)", text_of(r["body"])):
            counts[int(alert_id)] = counts.get(int(alert_id), 0) + 1
    return out


def test_a_refusing_receiver_gets_one_request_and_shows_as_failing_until_it_works(db, env, webhook, caplog):
    import streamlit as st

    from core.worker.jobs import alerts_job

    env(NOTIFY_URLS=webhook.url(), NOTIFY_RETRIES="3", CHECK_INTERVAL_MINUTES="15")
    two_alerts()
    webhook.mode = "404"
    caplog.set_level(logging.INFO)
    alerts_job(now=NOW)  # the worker's check: it logs the failing channel
    for minute in range(1, 5):
        check_alerts(now=NOW + timedelta(minutes=minute))
    assert [r["status"] for r in webhook.received] == [404]  # not retried, not re-sent at each check
    channel = channels_by_source()["URL #1"]
    assert channel["state"] == "failing" and channel["failing_since"] == "2026-02-12T15:00:00Z"
    assert channel["label"] == f"json · 127.0.0.1:{webhook.port}" and "404" in channel["last_error"]
    assert channel["consecutive_failures"] == 1 and channel["next_attempt_at"] == "2026-02-12T15:15:00Z"
    assert (
        f"notification channel URL #1 (json · 127.0.0.1:{webhook.port}) failing since 2026-02-12T15:00:00Z "
        "(failed deliveries: 1, next attempt at 2026-02-12T15:15:00Z): HTTP 404"
    ) in caplog.text  # worker log
    assert all(not sent and "404" in error for sent, _, _, error, _ in alert_rows().values())

    st.cache_data.clear()
    at = page_alone("alerts").run()
    assert not at.exception
    shown = "\n".join(t.value for t in at.text)
    assert "Notification channels" in [h.value for h in at.subheader]
    assert (
        f"URL #1 · json · 127.0.0.1:{webhook.port} · failing since 2026-02-12 15:00 UTC (1 failed delivery, "
        "next attempt at 2026-02-12 15:15 UTC)"
    ) in shown
    assert "Last error: HTTP 404" in shown

    webhook.mode = "ok"
    check_alerts(now=NOW + timedelta(minutes=14))  # still backing off
    assert len(webhook.received) == 1
    r = check_alerts(now=NOW + timedelta(minutes=15))
    assert r["notifications_sent"] == 2
    assert len(webhook.delivered) == 1 and "2 new alerts" in text_of(webhook.delivered[0])
    channel = channels_by_source()["URL #1"]
    assert channel["state"] == "ok" and channel["failing_since"] is None and channel["last_error"] is None
    assert all(
        sent and sent_at == NOW + timedelta(minutes=15) and error is None
        for sent, sent_at, _, error, _ in alert_rows().values()
    )
    check_alerts(now=NOW + timedelta(minutes=30))
    assert len(webhook.received) == 2
    st.cache_data.clear()
    shown = "\n".join(t.value for t in page_alone("alerts").run().text)
    assert f"URL #1 · json · 127.0.0.1:{webhook.port} · ok" in shown and "failing" not in shown


def test_a_failing_channel_never_makes_the_working_one_receive_twice(db, env, webhook):
    from tests.fakes.webhook_server import Webhook

    failing = Webhook()
    try:
        failing.mode = "500"
        env(NOTIFY_URLS=f"{webhook.url('team')},{failing.url('ops')}", NOTIFY_RETRIES="3")
        two_alerts()
        results = [check_alerts(now=NOW + timedelta(minutes=m)) for m in (0, 1, 2)]
        assert len(webhook.received) == 1 and "2 new alerts" in text_of(webhook.delivered[0])
        assert [r["notifications_sent"] for r in results] == [2, 0, 0]
        assert [r["status"] for r in failing.received] == [500, 500, 500]  # one check's retries, then back-off
        rows = alert_rows()
        assert all(not sent and "URL #2" in error and "URL #1" not in error for sent, _, _, error, _ in rows.values())
        states = channels_by_source()
        assert states["URL #1"]["state"] == "ok" and states["URL #2"]["state"] == "failing"

        failing.mode = "ok"
        r = check_alerts(now=NOW + timedelta(minutes=15))
        assert r["notifications_sent"] == 2
        assert len(failing.delivered) == 1 and "2 new alerts" in text_of(failing.delivered[0])
        assert len(webhook.received) == 1  # the working channel was not told again
        assert all(
            sent and sent_at == NOW + timedelta(minutes=15) and error is None
            for sent, sent_at, _, error, _ in alert_rows().values()
        )
        check_alerts(now=NOW + timedelta(minutes=30))
        assert len(webhook.received) == 1 and len(failing.received) == 4
        assert channels_by_source()["URL #2"]["state"] == "ok"
    finally:
        failing.close()


def test_a_hanging_receiver_holds_neither_the_check_lock_nor_the_next_check(db, env, webhook):
    import threading
    import time

    env(NOTIFY_URLS=webhook.url(), NOTIFY_TIMEOUT_SECONDS="3")
    two_alerts()
    webhook.mode = "hang"
    first: dict = {}

    def run():
        started = time.monotonic()
        first["result"] = check_alerts(now=NOW)
        first["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while not webhook.received and time.monotonic() < deadline:
        time.sleep(0.02)
    assert webhook.received, "the first check never reached the receiver"
    second = check_alerts(now=NOW + timedelta(minutes=1))  # takes the check lock while the first one delivers
    assert thread.is_alive()  # the first check is still waiting for the receiver
    assert second["new_alerts_created"] == 0 and second["notifications_sent"] == 0
    thread.join(15)
    assert not thread.is_alive()
    assert 3 <= first["seconds"] < 6  # bounded by NOTIFY_TIMEOUT_SECONDS, no retry after it
    assert first["result"]["new_alerts_created"] == 2 and first["result"]["notifications_sent"] == 0
    assert len(webhook.received) == 1  # the second check did not send the claimed message again
    channel = channels_by_source()["URL #1"]
    assert channel["state"] == "failing" and "no answer within 3 s" in channel["last_error"]


@pytest.mark.parametrize("own_sessions", [True, False], ids=["own-sessions", "caller-session"])
def test_concurrent_dispatches_send_each_alert_once_per_channel(db, env, webhook, own_sessions):
    import threading

    from core.alerts import notify

    env(NOTIFY_URLS=f"{webhook.url('team')},{webhook.url('ops')}", ADMIN_NOTIFY_URLS=webhook.url("admin"))
    two_alerts()
    created = {a["type"]: a["id"] for a in check_alerts(now=NOW, notify_now=False)["alerts"]}
    webhook.delay = 0.3  # each answer takes a moment: the dispatches overlap
    barrier = threading.Barrier(3)
    errors: list = []

    def run():
        try:
            barrier.wait()
            if own_sessions:
                notify.dispatch(now=NOW)
            else:
                with session_scope() as s:
                    notify.dispatch(s, now=NOW)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    both = {created["cost_warning"]: 1, created["quota_exceeded"]: 1}
    assert alert_ids_per_path(webhook) == {"/team": both, "/ops": both, "/admin": {created["quota_exceeded"]: 1}}
    assert all(sent for sent, *_ in alert_rows().values())


def test_reminders_and_resolved_messages_go_to_each_channel_once(db, env, webhook):
    from tests.fakes.webhook_server import Webhook

    ops = Webhook()
    try:
        urls = f"{webhook.url('team')},{ops.url('ops')}"
        env(NOTIFY_URLS=urls, NOTIFY_REPEAT_HOURS="24", NOTIFY_RETRIES="1")
        set_budget("Acme", "100", provider="openai")
        spend("85", when=NOW - timedelta(hours=1))
        check_alerts(now=NOW)
        assert len(webhook.delivered) == 1 and len(ops.delivered) == 1
        ops.mode = "500"
        check_alerts(now=NOW + timedelta(hours=24))  # reminder: the team takes it, ops fails
        assert len(webhook.delivered) == 2 and "still open" in text_of(webhook.delivered[1])
        ops.mode = "ok"
        check_alerts(now=NOW + timedelta(hours=24, minutes=15))  # ops' back-off has passed
        assert len(ops.delivered) == 2 and "still open" in text_of(ops.delivered[1])
        assert len(webhook.received) == 2  # the team is not reminded twice

        resolve_alert(list_alerts()["results"][0]["id"], "budget raised", now=NOW + timedelta(hours=25))
        set_budget("Acme", "1000", provider="openai")
        ops.mode = "500"
        check_alerts(now=NOW + timedelta(hours=25, minutes=15))
        assert len(webhook.delivered) == 3 and "1 resolved" in text_of(webhook.delivered[2])
        env(NOTIFY_URLS=None)  # a check run without the channels (e.g. a shell without the worker's settings)…
        check_alerts(now=NOW + timedelta(hours=25, minutes=20))
        env(NOTIFY_URLS=urls)  # …cancels nothing: ops is still owed its "resolved" message
        ops.mode = "ok"
        check_alerts(now=NOW + timedelta(hours=25, minutes=45))
        assert len(ops.delivered) == 3 and "1 resolved" in text_of(ops.delivered[2])
        check_alerts(now=NOW + timedelta(hours=26, minutes=45))
        assert len(webhook.received) == 3 and len(ops.delivered) == 3  # each told once
        with session_scope() as s:
            assert [a.resolved_notified for a in s.scalars(select(Alert))] == [True]
    finally:
        ops.close()


@pytest.mark.parametrize(
    ("status", "requests"), [("404", 1), ("401", 1), ("410", 1), ("408", 3), ("429", 3), ("500", 3), ("503", 3)]
)
def test_only_what_a_retry_can_fix_is_retried_with_a_doubling_pause(env, webhook, status, requests):
    from core.alerts.deliver import send

    env(NOTIFY_RETRIES="3", NOTIFY_RETRY_DELAY_SECONDS="0.2", NOTIFY_TIMEOUT_SECONDS="10")
    webhook.mode = status
    outcome = send(webhook.url(), "title", "body")
    assert not outcome.ok and outcome.status == int(status) and f"HTTP {status}" in outcome.error
    assert outcome.attempts == len(webhook.received) == requests and outcome.permanent == (requests == 1)
    gaps = [b["at"] - a["at"] for a, b in zip(webhook.received, webhook.received[1:])]
    assert all(low <= gap < low + 0.5 for gap, low in zip(gaps, (0.2, 0.4)))  # 0.2 s, then 0.4 s


def test_retries_stop_at_the_delivery_timeout(env, webhook):
    import time

    from core.alerts.deliver import send

    env(NOTIFY_RETRIES="10", NOTIFY_RETRY_DELAY_SECONDS="0.4", NOTIFY_TIMEOUT_SECONDS="2")
    webhook.mode = "500"
    started = time.monotonic()
    outcome = send(webhook.url(), "title", "body")
    assert not outcome.ok and time.monotonic() - started < 2.5
    assert len(webhook.received) == 3  # pauses of 0.4 and 0.8 s fit in 2 s, the next (1.6 s) does not
