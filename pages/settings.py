"""Settings: budgets, quotas, price overrides and gateway keys, listed and edited with the command line's validation;
every change is confirmed in a dialog first. Unpriced models are listed with a one-click way to price them.
Each write acts as the signed-in user, whose role and companies core checks again (a refusal is shown as is)."""

import streamlit as st

from core.errors import InvalidRecord
from core.limits import budgets as limits
from ui import actions, cache, gateway_keys
from ui.auth_gate import allowed_companies, ensure_user
from ui.common import count, dataframe, day, esc, plural, usd, when
from ui.entry import require_entry
from ui.filters import scope

require_entry()  # a direct URL on a fresh process: go through dashboard.py
st.title("Settings")
PENDING = "settings_pending"
# A provider name nothing knows yet is refused by core as a likely typo; this box says it is meant.
NEW_PROVIDER_HELP = (
    "Tick to save a provider that is not yet in the pricing catalog, the configured providers or "
    "the ledger. Otherwise such a name is refused as a likely typo."
)
user = ensure_user()
companies = allowed_companies(cache.options()["companies"])
NEW = ["(new company)"] if user.all_companies else []  # a scoped admin manages their own companies only


def _mine(rows: list[dict]) -> list[dict]:
    return [r for r in rows if user.may_see(r["company"])]


def _price_table(prices: list[dict]) -> None:
    dataframe(
        [
            {
                "Provider": p["provider"],
                "Model": p["model"],
                "Input / 1M": usd(p["input_per_million"]),
                "Cached input / 1M": usd(p["cached_input_per_million"]),
                "Cache write / 1M": usd(p["cache_write_per_million"]),
                "Output / 1M": usd(p["output_per_million"]),
                "From": when(p["effective_from"]),
            }
            for p in prices
        ]
    )


def _limit_row(r: dict) -> dict:
    """A budget or a quota as the tables show it (a budget has no token limit)."""
    row = {"Company": r["company"], "Provider": r["provider"] or "all providers", "Monthly USD": usd(r["monthly_usd"])}
    if "monthly_tokens" in r:
        row["Monthly tokens"] = count(r["monthly_tokens"])
    return row | {"Updated": when(r["updated_at"])}


if not user.is_admin:
    # Viewers read their companies' limits; every write below is also refused server-side (ui.actions).
    st.info("Read-only: ask an admin to change budgets, quotas or prices.")
    for title, rows in (("Budgets", _mine(limits.list_budgets())), ("Quotas", _mine(limits.list_quotas()))):
        st.subheader(title)
        if rows:
            dataframe([_limit_row(r) for r in rows])
        else:
            st.caption(f"No {title.lower()[:-1]} for your companies.")
    st.subheader("Price overrides")
    _price_table(limits.list_prices())
    st.stop()


def _clear_pending() -> None:
    st.session_state.pop(PENDING, None)


@st.dialog("Confirm the change", on_dismiss=_clear_pending)
def confirm(pending: dict) -> None:
    st.markdown(esc(pending["summary"]))
    for line in pending.get("details", []):
        st.markdown("- " + esc(line))
    a, b = st.columns(2)
    if a.button("Confirm", type="primary", key="confirm_yes"):
        try:
            actions.apply(getattr(limits, pending["fn"]), *pending["args"], **pending["kwargs"])
        except (InvalidRecord, PermissionError) as e:
            st.error(str(e))
            return
        st.session_state["settings_flash"] = pending["done"]
        _clear_pending()
        st.rerun()
    if b.button("Cancel", key="confirm_no"):
        _clear_pending()
        st.rerun()


def propose(fn: str, args: tuple, kwargs: dict, summary: str, done: str, details=()) -> None:
    """Validate now (dry run with the CLI's rules); only a valid change reaches the confirmation dialog."""
    if fn != "set_price" and not user.may_see(args[0]):
        st.error(f"Not saved — you do not manage the company {args[0]!r}.")
        return
    try:
        preview = actions.dry_run(getattr(limits, fn), *args, **kwargs)
    except (InvalidRecord, PermissionError) as e:
        st.error(f"Not saved — {e}")
        return
    if fn.startswith("delete_") and not preview:
        st.error("Nothing to delete: it no longer exists.")
        return
    extra = list(details)
    if isinstance(preview, dict) and preview.get("repriced"):
        extra.append(f"{plural(preview['repriced'], 'stored record')} will be repriced")
    st.session_state[PENDING] = {
        "fn": fn,
        "args": list(args),
        "kwargs": kwargs,
        "summary": summary,
        "done": done,
        "details": extra,
    }


if "settings_flash" in st.session_state:
    st.success(st.session_state.pop("settings_flash"))

PRICING = "settings_pricing"


def _stop_pricing() -> None:
    st.session_state.pop(PRICING, None)


@st.dialog("Price a model", on_dismiss=_stop_pricing)
def price_model(target: dict) -> None:
    """One click from the unpriced list: the model is filled in, its stored calls are repriced from its first
    call; the dialog shows what will change before anything is saved."""
    st.markdown(
        f"{esc(target['provider'])} / **{esc(target['model'])}** — "
        f"{plural(target['jobs'], 'unpriced call')} since {esc(day(target['first_seen']))}"
    )
    c = st.columns(2)
    inp = c[0].text_input("Input USD / million tokens", key="d_input")
    out = c[1].text_input("Output USD / million tokens", key="d_output")
    cached = c[0].text_input("Cached input USD / million (optional)", key="d_cached")
    args = (target["provider"], target["model"], inp, out)
    kwargs = {"cached_input_per_million": cached or None, "effective_from": target["first_seen"], "reprice": True}
    ready = bool(inp and out)
    if ready:
        try:
            # Validate without repricing: a rolled-back reprice of every stored call would hold the write lock.
            actions.dry_run(limits.set_price, *args, **(kwargs | {"reprice": False}))
            n = limits.count_repriceable(target["provider"], target["model"], target["first_seen"])
            st.info(f"Saving prices up to {plural(n, 'stored call')} from {day(target['first_seen'])}.")
        except (InvalidRecord, PermissionError) as e:
            st.error(f"Not valid — {e}")
            ready = False
    a, b = st.columns(2)
    if a.button("Confirm and save", type="primary", disabled=not ready, key="d_save"):
        try:
            result = actions.apply(limits.set_price, *args, **kwargs)
        except (InvalidRecord, PermissionError) as e:
            st.error(str(e))
            return
        st.session_state["settings_flash"] = (
            f"Price saved for {target['provider']} / {target['model']}; {plural(result['repriced'], 'call')} repriced."
        )
        _stop_pricing()
        st.rerun()
    if b.button("Cancel", key="d_cancel"):
        _stop_pricing()
        st.rerun()


unpriced = cache.unpriced(scope()["company"]) if user.all_companies else []
if unpriced:
    st.subheader("Unpriced models")
    st.caption("These calls count \\$0.00 in every cost figure until their model has a price.")
    for i, u in enumerate(unpriced):
        c = st.columns([5, 1])
        c[0].markdown(
            f"{esc(u['provider'])} / **{esc(u['model'])}** — {plural(u['jobs'], 'call')}, "
            f"{plural(u['tokens'], 'token')}, {esc(day(u['first_seen']))} → {esc(day(u['last_seen']))}"
        )
        if c[1].button("Price it", key=f"price_it_{i}"):
            for k in ("d_input", "d_output", "d_cached"):
                st.session_state.pop(k, None)
            st.session_state[PRICING] = u
else:
    st.success("Every recorded call has a price.")

tab_b, tab_q, tab_p, tab_k = st.tabs(["Budgets", "Quotas", "Price overrides", "Gateway keys"])

with tab_b:
    st.caption(
        "Monthly spend limits in USD. A budget without provider covers every provider of the company; "
        "the Costs page and the alerts measure against it. CLI: `python -m core budget set`."
    )
    budgets = _mine(limits.list_budgets())
    if budgets:
        dataframe([_limit_row(b) for b in budgets])
    else:
        st.info("No budget yet.")
    with st.form("budget_form"):
        st.markdown("**Set a budget** (an existing company/provider pair is updated)")
        c = st.columns(3)
        company = c[0].selectbox("Company", companies + NEW, key="b_company") if companies else None
        new_company = c[0].text_input(
            "New company name",
            key="b_new_company",
            disabled=not NEW,
            help="Used when the company is '(new company)' or none exists yet",
        )
        provider = c[1].text_input("Provider (empty: all providers)", key="b_provider")
        new_b = c[1].checkbox("This is a new provider", key="b_new_provider", help=NEW_PROVIDER_HELP)
        amount = c[2].text_input("Monthly USD", key="b_amount", placeholder="500.00")
        if st.form_submit_button("Save budget…"):
            name = new_company if company in (None, "(new company)") and NEW else company
            propose(
                "set_budget",
                (name, amount),
                {"provider": provider or None, "allow_new_provider": new_b},
                f"Set the monthly budget of {name or '?'} ({provider or 'all providers'}) to {usd(amount)}?",
                f"Budget saved for {name}.",
            )
    if budgets:
        labels = {
            i: f"{b['company']} — {b['provider'] or 'all providers'} ({usd(b['monthly_usd'])})"
            for i, b in enumerate(budgets)
        }
        c = st.columns([3, 1])
        pick = c[0].selectbox("Delete a budget", list(labels), format_func=labels.get, key="b_delete")
        if c[1].button("Delete budget…", key="b_delete_btn"):
            b = budgets[pick]
            propose(
                "delete_budget",
                (b["company"], b["provider"]),
                {},
                f"Delete the budget {labels[pick]}?",
                "Budget deleted.",
            )

with tab_q:
    st.caption(
        "Per-provider monthly limits, in USD and/or tokens; alerts warn at 80 % and 95 %. "
        "CLI: `python -m core quota set`."
    )
    quotas = _mine(limits.list_quotas())
    if quotas:
        dataframe([_limit_row(q) for q in quotas])
    else:
        st.info("No quota yet.")
    with st.form("quota_form"):
        st.markdown("**Set a quota**")
        c = st.columns(4)
        company = c[0].selectbox("Company", companies + NEW, key="q_company") if companies else None
        new_company = c[0].text_input("New company name", key="q_new_company", disabled=not NEW)
        provider = c[1].text_input("Provider", key="q_provider")
        new_q = c[1].checkbox("This is a new provider", key="q_new_provider", help=NEW_PROVIDER_HELP)
        usd_limit = c[2].text_input("Monthly USD (optional)", key="q_usd")
        tokens = c[3].text_input("Monthly tokens (optional)", key="q_tokens")
        if st.form_submit_button("Save quota…"):
            name = new_company if company in (None, "(new company)") and NEW else company
            propose(
                "set_quota",
                (name, provider),
                {"monthly_usd": usd_limit or None, "monthly_tokens": tokens or None, "allow_new_provider": new_q},
                f"Set the {provider or '?'} quota of {name or '?'}?",
                f"Quota saved for {name}.",
                [
                    f"Monthly USD: {usd(usd_limit) if usd_limit else 'none'}",
                    f"Monthly tokens: {count(tokens) if tokens.strip().isdigit() else tokens or 'none'}",
                ],
            )
    if quotas:
        labels = {i: f"{q['company']} — {q['provider']}" for i, q in enumerate(quotas)}
        c = st.columns([3, 1])
        pick = c[0].selectbox("Delete a quota", list(labels), format_func=labels.get, key="q_delete")
        if c[1].button("Delete quota…", key="q_delete_btn"):
            q = quotas[pick]
            propose(
                "delete_quota", (q["company"], q["provider"]), {}, f"Delete the quota {labels[pick]}?", "Quota deleted."
            )

with tab_p:
    st.subheader("Price overrides")
    st.caption(
        "USD per million tokens; they win over the bundled catalog. A pattern such as `llama*` prices "
        "every matching model. CLI: `python -m core price set`."
    )
    prices = limits.list_prices()
    if prices:
        _price_table(prices)
    else:
        st.info("No price override yet.")
    if not user.all_companies:
        st.caption("A price applies to every company: an admin of all companies sets it.")
    else:
        with st.form("price_form"):
            st.markdown("**Set a price**")
            c = st.columns(2)
            provider = c[0].text_input("Provider", key="p_provider")
            new_p = c[0].checkbox("This is a new provider", key="p_new_provider", help=NEW_PROVIDER_HELP)
            model = c[1].text_input("Model or pattern", key="p_model")
            c = st.columns(4)
            inp = c[0].text_input("Input USD / million", key="p_input")
            out = c[1].text_input("Output USD / million", key="p_output")
            cached = c[2].text_input("Cached input USD / million (optional)", key="p_cached")
            write = c[3].text_input("Cache write USD / million (optional)", key="p_write")
            c = st.columns(2)
            eff = c[0].text_input("Effective from (date, empty: now)", key="p_effective")
            reprice = c[1].checkbox("Reprice stored records from that date", key="p_reprice")
            if st.form_submit_button("Save price…"):
                propose(
                    "set_price",
                    (provider, model, inp, out),
                    {
                        "cached_input_per_million": cached or None,
                        "cache_write_per_million": write or None,
                        "effective_from": eff or None,
                        "reprice": reprice,
                        "allow_new_provider": new_p,
                    },
                    f"Price {provider or '?'} / {model or '?'} at {usd(inp)} in and {usd(out)} out per million tokens?",
                    f"Price saved for {provider} / {model}.",
                )

with tab_k:
    gateway_keys.render(user, companies, NEW)

if st.session_state.get(PENDING):
    confirm(st.session_state[PENDING])
elif st.session_state.get(PRICING):
    price_model(st.session_state[PRICING])
