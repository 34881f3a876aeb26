"""Alerts: the open alerts with their severity and seed 004's summary counts, "Run checks now", resolve with a
note (confirmed in a dialog), the notification channels' state, and the full list with the seed's filters. Alert
text is always shown as text."""
import pandas as pd
import streamlit as st

from ui import alerts_view as view
from ui.auth_gate import is_admin
from ui.entry import require_entry
from ui.filters import scope

require_entry()  # a direct URL on a fresh process: go through dashboard.py

PENDING = "alerts_pending_resolve"
FLASH = "alerts_flash"

st.title("Alerts")
company = scope()["company"]  # the shared company filter, limited to the signed-in user's companies
admin = is_admin()


def _clear_pending() -> None:
    st.session_state.pop(PENDING, None)


@st.dialog("Resolve this alert?", on_dismiss=_clear_pending)
def confirm(pending: dict) -> None:
    st.text(f"#{pending['id']} · {pending['type']} · {pending['provider'] or 'all providers'}")
    st.text(pending["message"])
    st.text(f"Note: {pending['note']}" if pending["note"] else "No note")
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
    st.session_state[FLASH] = (f"Checks done ({', '.join(result['checks_performed'])}): "
                               f"{result['new_alerts_created']} new alert(s), "
                               f"{result.get('auto_resolved', 0)} resolved by themselves, "
                               f"{result['notifications_sent']} notified")
    st.rerun()
top[1].caption("The worker runs these checks every few minutes; this runs them now (and sends notifications).")

summary = active["summary"]
m = st.columns(6)
m[0].metric("Active alerts", active["count"])
m[1].metric("Critical", active["by_severity"]["critical"])
m[2].metric("Quota warnings", summary["quota_warnings"])
m[3].metric("Cost warnings", summary["cost_warnings"])
m[4].metric("Failure alerts", summary["failure_alerts"])
m[5].metric("Usage / performance", summary["usage_alerts"] + summary["performance_alerts"])

st.subheader("Active alerts")
if not active["alerts"]:
    st.info("No open alert.")
for alert in active["alerts"]:
    with st.container(border=True):
        icon = view.SEVERITY_ICON.get(alert["severity"], "⚪")
        st.text(f"{icon} {alert['severity'].upper()} · {alert['type']} · {alert['provider'] or 'all providers'}"
                f" · {alert['company'] or '-'} · since {alert['created_at']} · #{alert['id']}")
        st.text(alert["message"])
        if not admin:
            continue
        note_col, button_col = st.columns([4, 1], vertical_alignment="bottom")
        note = note_col.text_input("Resolution note", key=f"alerts_note_{alert['id']}",
                                   placeholder="e.g. Quota raised to 150$")
        if button_col.button("Resolve", key=f"alerts_resolve_{alert['id']}"):
            st.session_state[PENDING] = {"id": alert["id"], "type": alert["type"], "provider": alert["provider"],
                                         "message": alert["message"], "note": note.strip()}

if PENDING in st.session_state:
    confirm(st.session_state[PENDING])

if admin:  # the channels are the deployment's, not one company's: admins see their state
    channels = view.channels()
    if channels:
        st.subheader("Notification channels")
        for ch in channels:
            if ch["state"] == "failing":
                st.text(f"🔴 {ch['source']} · {ch['label']} · failing since {ch['failing_since']} "
                        f"(failed deliveries: {ch['consecutive_failures']}, next attempt at {ch['next_attempt_at']})")
                st.text(f"Last error: {ch['last_error']}")
            elif ch["state"] == "ok":
                st.text(f"🟢 {ch['source']} · {ch['label']} · ok (last delivery {ch['last_ok_at']})")
            else:
                st.text(f"⚪ {ch['source']} · {ch['label']} · not used yet")

st.subheader("All alerts")
f = st.columns(4)
alert_type = f[0].selectbox("Type", [None, *view.ALERT_TYPES], key="alerts_f_type",
                            format_func=lambda t: "All types" if t is None else t)
provider = f[1].text_input("Provider", key="alerts_f_provider", placeholder="e.g. openai")
state = f[2].selectbox("Status", ["All", "Active", "Resolved"], key="alerts_f_state")
since = f[3].date_input("Created since", value=None, key="alerts_f_since")
filters = {"alert_type": alert_type, "provider_name": provider.strip().lower() or None,
           "is_resolved": {"All": None, "Active": False, "Resolved": True}[state],
           "created_at__gte": since.isoformat() if since else None}
listing = view.listing(company, **filters)
st.caption(f"{listing['count']:,} alert(s)" + (" — showing the 50 newest" if listing["count"] > 50 else ""))
if listing["results"]:
    rows = [{"id": a["id"], "created_at": a["created_at"], "severity": a["severity"], "type": a["alert_type"],
             "provider": a["provider_name"] or "all", "company": (a["company"] or {}).get("name"),
             "current": a["current_value"], "threshold": a["threshold_value"], "message": a["message"],
             "status": "resolved" if a["is_resolved"] else "open", "resolved_at": a["resolved_at"],
             "note": a["resolution_note"], "notified": a["email_sent"]} for a in listing["results"]]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
else:
    st.info("No alert matches these filters.")
