"""Alerts: the open alerts with their severity and the summary counts, "Run checks now", resolve with a
note, acknowledge or snooze (each confirmed in a dialog; the Resolve one says when the condition still holds), the
notification channels' state, and the full list with the alert list's filters. Alert text is always shown as text."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from core.display import count, plural, when
from ui import alerts_view as view
from ui.auth_gate import is_admin
from ui.common import esc
from ui.entry import require_entry
from ui.filters import scope

require_entry()  # a direct URL on a fresh process: go through dashboard.py

PENDING = "alerts_pending_resolve"
PENDING_ACK = "alerts_pending_ack"  # {"id", ..., "snooze": bool}
FLASH = "alerts_flash"
SNOOZE_FOR = {
    "1 hour": timedelta(hours=1),
    "1 day": timedelta(days=1),
    "1 week": timedelta(weeks=1),
    "Until a date": None,
}
STILL_HOLDS = (
    "The condition still holds: it will open again at the next check. Acknowledge it instead to stop the reminders."
)

st.title("Alerts")
company = scope()["company"]  # the shared company filter, limited to the signed-in user's companies
admin = is_admin()


def _clear_pending() -> None:
    for key in (PENDING, PENDING_ACK, "alerts_ack_note", "alerts_snooze_for", "alerts_snooze_date"):
        st.session_state.pop(key, None)


def _pending(alert: dict, **extra) -> dict:
    return {
        "id": alert["id"],
        "type": alert["type"],
        "provider": alert["provider"],
        "message": alert["message"],
        **extra,
    }


@st.dialog("Resolve this alert?", on_dismiss=_clear_pending)
def confirm(pending: dict) -> None:
    st.text(f"#{pending['id']} · {pending['type']} · {pending['provider'] or 'all providers'}")
    st.text(pending["message"])
    st.text(f"Note: {pending['note']}" if pending["note"] else "No note")
    if pending.get("holds"):
        st.warning(STILL_HOLDS)
        if st.button("Acknowledge instead", key="alerts_confirm_ack"):
            _clear_pending()
            st.session_state[PENDING_ACK] = {**pending, "snooze": False}
            st.rerun()
    yes, no = st.columns(2)
    if yes.button("Confirm", type="primary", key="alerts_confirm_yes"):
        try:
            result = view.resolve(pending["id"], pending["note"] or None, company=company)
        except LookupError as e:
            st.error(str(e))
            return
        st.session_state[FLASH] = f"Alert #{result['alert']['id']} resolved"
        _clear_pending()
        st.rerun()
    if no.button("Cancel", key="alerts_confirm_no"):
        _clear_pending()
        st.rerun()


def _acknowledge_form(pending: dict, snooze: bool) -> None:
    st.text(f"#{pending['id']} · {pending['type']} · {pending['provider'] or 'all providers'}")
    st.text(pending["message"])
    until = None
    if snooze:
        choice = st.radio("No reminder for", list(SNOOZE_FOR), horizontal=True, key="alerts_snooze_for")
        if SNOOZE_FOR[choice] is None:
            tomorrow = datetime.now(UTC).date() + timedelta(days=1)
            until = st.date_input(
                "Until (the start of that day, UTC)",
                value=tomorrow + timedelta(days=6),
                min_value=tomorrow,
                key="alerts_snooze_date",
            )
        st.caption(
            "It stays open and still resolves by itself when its condition clears. Reminders resume "
            "after this if it is still open; a higher level (critical, exceeded) is a new alert and is "
            "notified."
        )
    else:
        st.caption(
            "It stays open and still resolves by itself when its condition clears; no reminder is sent "
            "while it stays acknowledged. A higher level (critical, exceeded) is a new alert and is "
            "notified."
        )
    note = st.text_input("Note", key="alerts_ack_note", placeholder="e.g. Vendor raising the quota on Monday")
    prefix = "alerts_snooze" if snooze else "alerts_ack"
    yes, no = st.columns(2)
    if yes.button("Confirm", type="primary", key=f"{prefix}_yes"):
        if snooze and until is None:
            until = datetime.now(UTC) + SNOOZE_FOR[choice]
        try:
            result = view.acknowledge(pending["id"], note.strip() or None, until, company=company)
        except (LookupError, ValueError) as e:
            st.error(str(e))
            return
        end = result["alert"]["snoozed_until"]
        st.session_state[FLASH] = (
            f"Alert #{pending['id']} snoozed: no reminder until {when(end)}"
            if end
            else f"Alert #{pending['id']} acknowledged: no reminder while it stays open"
        )
        _clear_pending()
        st.rerun()
    if no.button("Cancel", key=f"{prefix}_no"):
        _clear_pending()
        st.rerun()


@st.dialog("Acknowledge this alert?", on_dismiss=_clear_pending)
def confirm_acknowledge(pending: dict) -> None:
    _acknowledge_form(pending, snooze=False)


@st.dialog("Snooze this alert's reminders?", on_dismiss=_clear_pending)
def confirm_snooze(pending: dict) -> None:
    _acknowledge_form(pending, snooze=True)


def acknowledgement(alert: dict) -> str:
    """'Acknowledged by X at T · no reminder until U · Note: …' (shown as text)."""
    parts = [f"✔ Acknowledged by {alert['acknowledged_by']} at {when(alert['acknowledged_at'])}"]
    if alert["snoozed_until"] is None:
        parts.append("no reminder while it stays open")
    elif alert["silenced"]:
        parts.append(f"no reminder until {when(alert['snoozed_until'])}")
    else:
        parts.append(f"snooze ended {when(alert['snoozed_until'])}: reminders resume")
    if alert["acknowledgement_note"]:
        parts.append(f"Note: {alert['acknowledgement_note']}")
    return " · ".join(parts)


def _state(a: dict) -> str:
    """open, acknowledged by X, or resolved at T (the All alerts table)."""
    if a["is_resolved"]:
        return f"resolved {when(a['resolved_at'])}"
    return f"acknowledged by {a['acknowledged_by']}" if a["acknowledged_by"] else "open"


if FLASH in st.session_state:
    st.success(st.session_state.pop(FLASH))

try:
    active = view.active(company)
except LookupError:
    st.info(f"No company named {company!r}: clear the company filter.")
    st.stop()

top = st.columns([1, 4])
if not admin:
    top[0].caption("Read-only: an admin runs checks and resolves alerts.")
elif top[0].button("Run checks now", type="primary", key="alerts_run_checks"):
    with st.spinner("Checking every rule…"):
        result = view.run_checks(company)
    st.session_state[FLASH] = (
        f"Checks done ({', '.join(result['checks_performed'])}): "
        f"{plural(result['new_alerts_created'], 'new alert')}, "
        f"{count(result.get('auto_resolved', 0))} resolved by themselves, "
        f"{count(result['notifications_sent'])} notified"
    )
    st.rerun()
top[1].caption("The worker runs these checks every few minutes; this runs them now (and sends notifications).")

summary = active["summary"]
m = st.columns(6)
m[0].metric("Active alerts", count(active["count"]))
m[1].metric("Critical", count(active["by_severity"]["critical"]))
m[2].metric("Quota warnings", count(summary["quota_warnings"]))
m[3].metric("Cost warnings", count(summary["cost_warnings"]))
m[4].metric("Failure alerts", count(summary["failure_alerts"]))
m[5].metric("Usage / performance", count(summary["usage_alerts"] + summary["performance_alerts"]))

st.subheader("Active alerts")
if not active["alerts"]:
    st.info("No open alert.")
elif active["acknowledged_count"]:
    st.caption(
        f"{active['acknowledged_count']} of {active['count']} acknowledged: they still resolve by "
        "themselves, without reminders while acknowledged."
    )
for alert in active["alerts"]:
    with st.container(border=True):
        icon = view.SEVERITY_ICON.get(alert["severity"], "⚪")
        st.text(
            f"{icon} {alert['severity'].upper()} · {alert['type']} · {alert['provider'] or 'all providers'}"
            f" · {alert['company'] or '-'} · since {when(alert['created_at'])} · #{alert['id']}"
        )
        st.text(alert["message"])
        if alert["acknowledged"]:
            st.text(acknowledgement(alert))
        if not admin:
            continue
        note_col, resolve_col, ack_col, snooze_col = st.columns([4, 1, 1, 1], vertical_alignment="bottom")
        note = note_col.text_input(
            "Resolution note", key=f"alerts_note_{alert['id']}", placeholder="e.g. Quota raised to $150.00"
        )
        if resolve_col.button("Resolve", key=f"alerts_resolve_{alert['id']}"):
            _clear_pending()
            try:  # evaluated now: a condition that still holds opens a new alert at the next check
                holds = view.condition_holds(alert["id"], company)
            except LookupError:
                holds = None
            st.session_state[PENDING] = _pending(alert, note=note.strip(), holds=holds)
        if ack_col.button(
            "Acknowledge",
            key=f"alerts_ack_{alert['id']}",
            help="Seen, being handled: no more reminders while it stays open",
        ):
            _clear_pending()
            st.session_state[PENDING_ACK] = _pending(alert, snooze=False)
        if snooze_col.button(
            "Snooze", key=f"alerts_snooze_{alert['id']}", help="No reminder for 1 hour, 1 day, 1 week or until a date"
        ):
            _clear_pending()
            st.session_state[PENDING_ACK] = _pending(alert, snooze=True)

if PENDING in st.session_state:
    confirm(st.session_state[PENDING])
elif PENDING_ACK in st.session_state:
    pending_ack = st.session_state[PENDING_ACK]
    (confirm_snooze if pending_ack["snooze"] else confirm_acknowledge)(pending_ack)

if admin:  # the channels are the deployment's, not one company's: admins see their state
    channels = view.channels()
    if channels:
        st.subheader("Notification channels")
        for ch in channels:
            if ch["state"] == "failing":
                st.text(
                    f"🔴 {ch['source']} · {ch['label']} · failing since {when(ch['failing_since'])} "
                    f"({plural(ch['consecutive_failures'], 'failed delivery', 'failed deliveries')}, next "
                    f"attempt at {when(ch['next_attempt_at'])})"
                )
                st.text(f"Last error: {ch['last_error']}")
            elif ch["state"] == "ok":
                st.text(f"🟢 {ch['source']} · {ch['label']} · ok (last delivery {when(ch['last_ok_at'])})")
            else:
                st.text(f"⚪ {ch['source']} · {ch['label']} · not used yet")

st.subheader("All alerts")
f = st.columns(4)
alert_type = f[0].selectbox(
    "Type", [None, *view.ALERT_TYPES], key="alerts_f_type", format_func=lambda t: "All types" if t is None else t
)
provider = f[1].text_input("Provider", key="alerts_f_provider", placeholder="e.g. openai")
state = f[2].selectbox("Status", ["All", "Active", "Resolved"], key="alerts_f_state")
since = f[3].date_input("Created since", value=None, key="alerts_f_since")
filters = {
    "alert_type": alert_type,
    "provider_name": provider.strip().lower() or None,
    "is_resolved": {"All": None, "Active": False, "Resolved": True}[state],
    "created_at__gte": since.isoformat() if since else None,
}
listing = view.listing(company, **filters)
st.caption(plural(listing["count"], "alert") + (" — showing the 50 newest" if listing["count"] > 50 else ""))


if listing["results"]:
    # st.table wraps long messages instead of cutting them; it renders markdown, so every cell is escaped. The
    # message states the measured value and the threshold (the exact ones: `python -m core alerts list`).
    rows = [
        {
            "#": a["id"],
            "When": when(a["created_at"]),
            "Severity": a["severity"],
            "Type": a["alert_type"],
            "Provider": a["provider_name"] or "all",
            "Company": (a["company"] or {}).get("name") or "—",
            "Message": a["message"],
            "Status": _state(a),
            "Note": a["resolution_note"] or "",
            "Notified": "yes" if a["email_sent"] else "no",
        }
        for a in listing["results"]
    ]
    st.table(pd.DataFrame([{k: esc(v) for k, v in r.items()} for r in rows]).set_index("#"))
else:
    st.info("No alert matches these filters.")
