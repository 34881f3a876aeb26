"""Alert lifecycle: one open alert per (company, provider, type) even under concurrent checks, auto-resolve,
resolve with a note, the alert list and active views and the command line."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.alerts import AlertNotFound, active_alerts, check_alerts, list_alerts, open_alert, resolve_alert
from core.alerts.findings import Finding
from core.limits.budgets import set_budget, set_quota
from core.storage.db import get_session, session_scope
from core.storage.models import Alert
from tests.helpers.alerts import NOW, spend


def open_count() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(Alert).where(Alert.is_resolved.is_(False)))


def test_response_has_the_seed_shape(db, env):
    set_budget("Acme", "100", provider="openai")
    spend("105.67", when=NOW - timedelta(hours=1))
    r = check_alerts(now=NOW)
    assert set(r) >= {"checks_performed", "new_alerts_created", "alerts", "notifications_sent"}
    assert r["checks_performed"][:4] == ["quota_status", "cost_limits", "failure_rates", "usage_patterns"]
    # Exceeded: cost_exceeded alone (an exhausted budget is not also "remaining under $5").
    assert r["new_alerts_created"] == 1 == len(r["alerts"])
    exceeded = next(a for a in r["alerts"] if a["type"] == "cost_exceeded")
    assert exceeded["provider"] == "openai" and "$105.67 of $100.00" in exceeded["message"]
    assert r["notifications_sent"] == 0  # no channel configured


def test_repeated_checks_keep_one_alert_and_refresh_it(db, env):
    set_quota("Acme", "openai", monthly_usd="100")
    spend("81", when=NOW - timedelta(hours=3))
    assert check_alerts(now=NOW)["new_alerts_created"] == 1
    spend("2", when=NOW - timedelta(hours=2))
    assert check_alerts(now=NOW)["new_alerts_created"] == 0
    results = list_alerts()["results"]
    assert len(results) == 1
    assert results[0]["current_value"] == "83.00" and "at 83.0% ($83.00 of $100.00" in results[0]["message"]


def test_concurrent_checks_make_one_alert(db, env):
    set_quota("Acme", "openai", monthly_usd="100")
    spend("90", when=NOW - timedelta(hours=1))
    barrier = threading.Barrier(4)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(check_alerts(now=NOW))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r["new_alerts_created"] for r in results) == 1
    assert open_count() == 1


def test_the_database_refuses_a_second_open_alert_for_a_key(db, env):
    """Below the check lock: racing inserts for one key leave one row (unique open_key + ON CONFLICT)."""
    from core.ingest.record import get_or_create_company

    with session_scope() as s:
        cid = get_or_create_company(s, "Acme")
    finding = Finding(cid, "openai", "quota_warning", Decimal("80"), Decimal("85"), "Quota at 85%")
    barrier = threading.Barrier(5)
    ids, errors = [], []

    def insert():
        s = get_session()
        try:
            barrier.wait()
            ids.append(open_alert(s, finding, NOW))
            s.commit()
        except Exception as e:  # noqa: BLE001
            errors.append(e)
            s.rollback()
        finally:
            s.close()

    threads = [threading.Thread(target=insert) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len([i for i in ids if i is not None]) == 1
    assert open_count() == 1


def test_condition_cleared_resolves_by_itself(db, env):
    set_quota("Acme", "openai", monthly_usd="100")
    spend("85", when=NOW - timedelta(hours=1))
    check_alerts(now=NOW)
    set_quota("Acme", "openai", monthly_usd="150")  # 85 of 150: under 80%
    r = check_alerts(now=NOW + timedelta(minutes=15))
    assert r["new_alerts_created"] == 0 and r["auto_resolved"] == 1
    alert = list_alerts()["results"][0]
    assert alert["is_resolved"] and alert["resolved_by"] == "auto"
    assert "condition cleared" in alert["resolution_note"]


def test_resolve_with_note_twice_and_unknown(db, env):
    set_budget("Acme", "10", provider="openai")
    spend("9", when=NOW - timedelta(hours=1))
    check_alerts(now=NOW)
    alert_id = list_alerts(alert_type="cost_warning")["results"][0]["id"]
    r = resolve_alert(alert_id, resolution_note="Budget raised to 150$", now=NOW + timedelta(hours=1))
    assert r == {
        "message": "Alert resolved successfully",
        "alert": {
            "id": alert_id,
            "is_resolved": True,
            "resolved_at": "2026-02-12T16:00:00Z",
            "resolution_note": "Budget raised to 150$",
        },
    }
    again = resolve_alert(alert_id, resolution_note="other", now=NOW + timedelta(hours=2))
    assert again["alert"]["resolved_at"] == "2026-02-12T16:00:00Z"
    stored = list_alerts(alert_type="cost_warning")["results"][0]
    assert stored["is_resolved"] and stored["resolution_note"] == "Budget raised to 150$"
    with pytest.raises(AlertNotFound, match="alert 9999 not found"):
        resolve_alert(9999)
    with pytest.raises(LookupError):
        resolve_alert("abc")
    # The condition still holds: the next check opens a fresh alert for it.
    r = check_alerts(now=NOW + timedelta(hours=3))
    assert [a["type"] for a in r["alerts"]] == ["cost_warning"] and r["alerts"][0]["id"] != alert_id


def test_resolve_note_is_redacted(db, env):
    set_budget("Acme", "10", provider="openai")
    spend("9", when=NOW - timedelta(hours=1))
    check_alerts(now=NOW)
    alert_id = list_alerts()["results"][0]["id"]
    resolve_alert(alert_id, resolution_note="rotated key sk-proj-abcdefghijklmnop1234")
    note = list_alerts(is_resolved=True)["results"][0]["resolution_note"]
    assert note.startswith("rotated key") and "abcdefghijklmnop" not in note


def test_list_filters_and_active_summary(db, env):
    set_quota("Acme", "openai", monthly_usd="100")
    set_budget("Beta", "100", provider="gemini")
    spend("96", when=NOW - timedelta(days=3), company="Acme")
    spend("85", when=NOW - timedelta(hours=1), company="Beta", provider="gemini", model="gemini-2.0-flash")
    for i in range(3):
        spend(
            "0",
            when=NOW - timedelta(hours=2, minutes=i),
            company="Beta",
            provider="gemini",
            model="gemini-2.0-flash",
            status="failed",
        )
    check_alerts(now=NOW - timedelta(days=1))  # quota_critical (Acme) only: Beta's spend is later
    check_alerts(now=NOW)
    everything = list_alerts()
    types = sorted(a["alert_type"] for a in everything["results"])
    assert types == ["cost_warning", "high_failure_rate", "quota_critical"]
    assert everything["count"] == 3
    first = everything["results"][-1]
    assert first["alert_type"] == "quota_critical"
    assert first["company"] == {"id": first["company"]["id"], "name": "Acme"}
    assert first["threshold_value"] == "95.00" and first["current_value"] == "96.00"
    assert set(first) >= {
        "id",
        "company",
        "provider_name",
        "alert_type",
        "threshold_value",
        "current_value",
        "message",
        "is_resolved",
        "resolved_at",
        "email_sent",
        "email_sent_at",
        "created_at",
        "severity",
        "resolution_note",
    }
    assert list_alerts(provider_name="gemini")["count"] == 2
    assert list_alerts(alert_type="quota_critical")["count"] == 1
    assert list_alerts(company="Beta")["count"] == 2
    assert list_alerts(created_at__gte="2026-02-12")["count"] == 2
    assert list_alerts(created_at__gte=NOW - timedelta(days=2))["count"] == 3
    resolve_alert(first["id"], "quota raised")
    assert list_alerts(is_resolved=True)["count"] == 1
    assert list_alerts(is_resolved="false")["count"] == 2
    with pytest.raises(ValueError):
        list_alerts(alert_type="nonsense")

    active = active_alerts()
    assert active["count"] == 2
    assert {a["type"] for a in active["alerts"]} == {"cost_warning", "high_failure_rate"}
    assert set(active["alerts"][0]) >= {"id", "type", "provider", "message", "severity", "created_at"}
    assert active["summary"]["quota_warnings"] == 0
    assert active["summary"]["cost_warnings"] == 1
    assert active["summary"]["failure_alerts"] == 1
    assert sum(active["summary"].values()) == active["count"]
    assert active["by_severity"] == {"critical": 0, "warning": 2, "info": 0}
    assert active_alerts(company="Acme")["count"] == 0


def test_cli_check_list_resolve(db, env, cli):
    set_budget("Acme", "10", provider="openai")
    spend("9.5", when=datetime.now(UTC) - timedelta(minutes=5))
    r = cli("alerts", "check")
    assert r.returncode == 1, r.stderr  # a new alert: cron hears about it
    assert "cost_warning" in r.stdout and "budget_remaining_low" in r.stdout
    assert cli("alerts", "check").returncode == 0  # nothing new
    r = cli("alerts", "list", "--alert-type", "cost_warning", "--active", "--provider", "openai")
    assert r.returncode == 0 and "1 alert(s)" in r.stdout and "OPEN" in r.stdout
    alert_id = list_alerts(alert_type="cost_warning")["results"][0]["id"]
    r = cli("alerts", "resolve", str(alert_id), "--note", "budget raised")
    assert r.returncode == 0 and "Alert resolved successfully" in r.stdout
    assert list_alerts(alert_type="cost_warning")["results"][0]["resolution_note"] == "budget raised"
    assert cli("alerts", "resolve", "424242").returncode == 2
    r = cli("alerts", "active", "--json")
    assert '"budget_remaining_low"' in r.stdout
    r = cli("alerts", "list", "--resolved", "--since", "2020-01-01")
    assert "1 alert(s)" in r.stdout and "cost_warning" in r.stdout


@pytest.mark.parametrize(
    "path", [("alerts", "check"), ("alerts", "list"), ("alerts", "resolve"), ("alerts", "active"), ("probe",)]
)
def test_cli_help(path, capsys):
    from core.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(path) + ["--help"])
    assert exc.value.code == 0
    assert "usage: python -m core " + " ".join(path) in capsys.readouterr().out
