"""alerts check / list / active / resolve / ack, and probe."""

from __future__ import annotations

import json
import sys

from core.redact import redact


def register(sub) -> None:
    a = sub.add_parser(
        "alerts",
        help="alert checks, listing and resolution",
        description="Run the alert rules, list alerts, acknowledge or resolve them.",
    )
    acts = a.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = acts.add_parser(
        "check",
        help="run every alert rule now (and send notifications)",
        description="Run every alert rule, open/auto-resolve alerts and send the notifications. "
        "Exit 1 when a new alert was created.",
    )
    p.add_argument("--company", help="only this company")
    p.add_argument("--no-notify", action="store_true", help="do not send notifications")
    p.add_argument("--json", action="store_true", help="print the response as JSON")
    p.set_defaults(func=_check)

    p = acts.add_parser(
        "list",
        help="list alerts (newest first) with the alert list's filters",
        description="List alerts, newest first.",
    )
    p.add_argument("--alert-type", help="e.g. quota_warning, cost_exceeded, provider_unavailable")
    p.add_argument("--provider", help="provider name, e.g. openai")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--resolved", action="store_true", help="only resolved alerts")
    state.add_argument("--active", action="store_true", help="only open alerts")
    p.add_argument("--since", help="created on or after this date (YYYY-MM-DD) or ISO timestamp")
    p.add_argument("--company", help="only this company")
    p.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
    p.add_argument("--json", action="store_true", help="print the response as JSON")
    p.set_defaults(func=_list)

    p = acts.add_parser(
        "active",
        help="open alerts with the summary counts",
        description="Open alerts, most severe first, and counts per family.",
    )
    p.add_argument("--company", help="only this company")
    p.add_argument("--json", action="store_true", help="print the response as JSON")
    p.set_defaults(func=_active)

    p = acts.add_parser(
        "resolve",
        help="resolve an alert with an optional note",
        description="Resolve one alert; resolving a resolved alert changes nothing.",
    )
    p.add_argument("id", help="alert id (see `alerts list`)")
    p.add_argument("--note", help="resolution note, e.g. 'Quota raised to 150$'")
    p.set_defaults(func=_resolve)

    p = acts.add_parser(
        "ack",
        help="acknowledge an alert: it stays open, without reminders (until a date)",
        description="Acknowledge one open alert: it stays open and still resolves by itself when "
        "its condition clears, but sends no more reminders — until --until, then "
        "reminders resume, or without --until while it stays open. A higher level "
        "(e.g. quota_critical after quota_warning) is a new alert and is notified. "
        "Acknowledging again replaces the end and, when given, the note.",
    )
    p.add_argument("id", help="alert id (see `alerts list`)")
    p.add_argument("--note", help="why, e.g. 'Vendor raising the quota on Monday'")
    p.add_argument(
        "--until",
        metavar="DATE",
        help="end of the snooze: YYYY-MM-DD (the start of that day, UTC) or an ISO 8601 date and time",
    )
    p.set_defaults(func=_ack)

    p = sub.add_parser(
        "probe",
        help="run the daily provider probe now and print its report",
        description="Call each configured provider once (<= 5 tokens), print month-to-date usage "
        "and budgets, then run the alert checks. Exit 1 on ALERT.",
    )
    p.add_argument("--no-check", action="store_true", help="skip the alert check after the probe")
    p.set_defaults(func=_probe)


def _migrate() -> None:
    from core.storage.db import migrate

    migrate()


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _check(args) -> int:
    _migrate()
    from core.alerts.lifecycle import check_alerts

    r = check_alerts(company=args.company, notify_now=not args.no_notify)
    if args.json:
        _print_json(r)
    else:
        print(f"checks: {', '.join(r['checks_performed'])}")
        print(
            f"new alerts: {r['new_alerts_created']}  auto-resolved: {r.get('auto_resolved', 0)}  "
            f"notifications sent: {r['notifications_sent']}"
        )
        for a in r["alerts"]:
            print(f"  #{a['id']} [{a['severity']}] {a['type']} {a['provider'] or '-'}: {redact(a['message'])}")
    return 1 if r["new_alerts_created"] else 0


def _list(args) -> int:
    from core.alerts.listing import list_alerts

    resolved = True if args.resolved else (False if args.active else None)
    r = list_alerts(
        alert_type=args.alert_type,
        provider_name=args.provider,
        is_resolved=resolved,
        created_at__gte=args.since,
        company=args.company,
        page_size=args.limit,
    )
    if args.json:
        _print_json(r)
        return 0
    print(f"{r['count']} alert(s)")
    for a in r["results"]:
        state = f"resolved {a['resolved_at']}" if a["is_resolved"] else "OPEN" + _ack_state(a)
        company = (a["company"] or {}).get("name") or "-"
        print(
            f"#{a['id']} {a['created_at']} [{a['severity']}] {a['alert_type']} {a['provider_name'] or '-'} "
            f"({company}) {a['current_value']}/{a['threshold_value']} {state}: {redact(a['message'])}"
        )
    return 0


def _active(args) -> int:
    from core.alerts.listing import active_alerts

    r = active_alerts(company=args.company)
    if args.json:
        _print_json(r)
        return 0
    s = r["summary"]
    print(
        f"{r['count']} open alert(s): quota {s['quota_warnings']}, cost {s['cost_warnings']}, "
        f"failures {s['failure_alerts']}, usage {s['usage_alerts']}, performance {s['performance_alerts']}"
    )
    for a in r["alerts"]:
        print(f"#{a['id']} [{a['severity']}] {a['type']} {a['provider'] or '-'}{_ack_state(a)}: {redact(a['message'])}")
    return 0


def _ack_state(a: dict) -> str:
    if not a["acknowledged"]:
        return ""
    if a["snoozed_until"] is None:
        return f" (acknowledged by {a['acknowledged_by']})"
    word = "snoozed until" if a["silenced"] else "snooze ended"
    return f" (acknowledged by {a['acknowledged_by']}, {word} {a['snoozed_until']})"


def _resolve(args) -> int:
    from core.alerts.lifecycle import AlertNotFound, resolve_alert

    try:
        r = resolve_alert(args.id, args.note, resolved_by="cli")
    except AlertNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{r['message']}: #{r['alert']['id']} at {r['alert']['resolved_at']}")
    return 0


def _ack(args) -> int:
    from core.alerts.lifecycle import AlertNotFound, acknowledge_alert

    try:
        r = acknowledge_alert(args.id, args.note, args.until, acknowledged_by="cli")
    except AlertNotFound as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"error: {redact(str(e))}", file=sys.stderr)
        return 2
    a = r["alert"]
    until = f"no reminder until {a['snoozed_until']}" if a["snoozed_until"] else "no reminder while it stays open"
    print(f"{r['message']}: #{a['id']} by {a['acknowledged_by']} at {a['acknowledged_at']}, {until}")
    return 0


def _probe(args) -> int:
    _migrate()
    if args.no_check:
        from core.worker.probe import run_probe

        report = run_probe()
        print(report.text)
        return report.exit_code  # as `worker.py --once probe`: 2 nothing probed, 1 ALERT, 0 OK
    from core.worker.jobs import probe_job

    outcome = probe_job(out=sys.stdout)
    if not outcome.ran:
        print(f"probe skipped: {outcome.skipped_reason}", file=sys.stderr)
        return 0
    return outcome.exit_code
