"""Settings › Gateway keys: the keys apps send to the gateway, created (the key shown once) and revoked (after a
confirmation) by admins, each write acting as the signed-in user (core checks role and company again)."""

from __future__ import annotations

import streamlit as st

from core.errors import InvalidRecord
from core.server.keys import create_key, list_keys, revoke_key
from ui import actions
from ui.common import dataframe, esc, when

NEW_KEY = "gateway_new_key"
REVOKING = "gateway_revoking"


def _stop_revoking() -> None:
    st.session_state.pop(REVOKING, None)


@st.dialog("Revoke the gateway key", on_dismiss=_stop_revoking)
def _confirm_revoke(row: dict) -> None:
    st.markdown(
        f"Revoke key **{esc(row['key_id'])}** of {esc(row['company'])}"
        + (f" ({esc(row['label'])})" if row["label"] else "")
        + "? Apps using it get 401 within seconds; this cannot be undone."
    )
    a, b = st.columns(2)
    if a.button("Revoke", type="primary", key="gk_revoke_yes"):
        try:
            done = actions.apply(revoke_key, row["key_id"])
        except PermissionError as e:
            st.error(str(e))
            return
        st.session_state["settings_flash"] = "Key revoked." if done else "Nothing to revoke: it was revoked already."
        _stop_revoking()
        st.rerun()
    if b.button("Cancel", key="gk_revoke_no"):
        _stop_revoking()
        st.rerun()


def render(user, companies: list[str], new_company: list[str]) -> None:
    st.caption(
        "Apps reach the gateway (`python -m core serve`) with `Authorization: Bearer <key>`; the key decides "
        "the company, and the brand when it sets one. Only a hash is stored: a new key is shown once. "
        "CLI: `python -m core key create`."
    )
    new = st.session_state.pop(NEW_KEY, None)
    if new:
        st.success(f"Key {new['key_id']} created for {esc(new['company'])}. Copy it now: it is not shown again.")
        st.code(new["key"], language=None)
    keys = [k for k in list_keys() if user.may_see(k["company"])]
    if keys:
        dataframe(
            [
                {
                    "Key id": k["key_id"],
                    "Company": k["company"],
                    "Brand": k["brand"] or "(the app's)",
                    "Label": k["label"] or "",
                    "Requests / min": k["requests_per_minute"] or "no limit",
                    "Created": when(k["created_at"]),
                    "By": k["created_by"],
                    "State": "active" if k["active"] else f"revoked {when(k['revoked_at'])}",
                }
                for k in keys
            ]
        )
    else:
        st.info("No gateway key yet.")
    with st.form("gateway_key_form"):
        st.markdown("**Create a key**")
        c = st.columns(4)
        company = c[0].selectbox("Company", companies + new_company, key="gk_company") if companies else None
        typed = c[0].text_input("New company name", key="gk_new_company", disabled=not new_company)
        brand = c[1].text_input(
            "Brand (optional)",
            key="gk_brand",
            help="Every call made with the key gets this "
            "brand; empty: the app's own (OTLP service.name, the usage records' brand)",
        )
        label = c[2].text_input("Label (optional)", key="gk_label", placeholder="checkout app")
        rpm = c[3].text_input("Requests per minute (optional)", key="gk_rpm")
        if st.form_submit_button("Create key"):
            name = typed if company in (None, "(new company)") and new_company else company
            if not user.may_see(name):
                st.error(f"Not created — you do not manage the company {name!r}.")
            else:
                try:
                    key, row = actions.apply(
                        create_key, name, brand=brand or None, label=label or None, requests_per_minute=rpm or None
                    )
                except (InvalidRecord, PermissionError) as e:
                    st.error(f"Not created — {e}")
                else:
                    st.session_state[NEW_KEY] = {"key": key, "key_id": row["key_id"], "company": row["company"]}
                    st.rerun()
    active = [k for k in keys if k["active"]]
    if active:
        labels = {
            i: f"{k['key_id']} — {k['company']}" + (f" ({k['label']})" if k["label"] else "")
            for i, k in enumerate(active)
        }
        c = st.columns([3, 1])
        pick = c[0].selectbox("Revoke a key", list(labels), format_func=labels.get, key="gk_revoke")
        if c[1].button("Revoke key…", key="gk_revoke_btn"):
            st.session_state[REVOKING] = active[pick]
    if st.session_state.get(REVOKING):
        _confirm_revoke(st.session_state[REVOKING])
