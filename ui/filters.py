"""Filters kept in the URL query string so that a view can be shared.

Streamlit drops the query string when the user switches pages; the values are remembered in the session and
written back, so a filter set on one page holds on the others (company, brand and provider everywhere; the
period on Overview and Efficiency; the usage filters on the explorer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import streamlit as st

from ui import url_values
from ui.common import esc

_MEMORY = "_query_memory"
SHARED = ("company", "brand", "provider")


def _memory() -> dict:
    return st.session_state.setdefault(_MEMORY, {})


def restore() -> None:
    """Put remembered filters back into the URL when the page switch dropped them; remember the URL's ones."""
    mem = _memory()
    current = st.query_params.to_dict()
    if not st.session_state.get("_query_seen"):
        # First run of the session: the URL (a shared link) wins.
        st.session_state["_query_seen"] = True
        mem.clear()
        mem.update(current)
        return
    for k, v in mem.items():
        if k not in current:
            st.query_params[k] = v
    mem.update(st.query_params.to_dict())


def check_url() -> None:
    """Refuse a link's values that no query can take (an id past its range, a malformed date…), before any query:
    each is named in a plain message and dropped (from the URL, the remembered filters and its widget), so the
    page shows what it would without it."""
    for e in url_values.problems(st.query_params.to_dict()):
        shown = repr(e.value) if len(repr(e.value)) <= 80 else repr(e.value)[:77] + "..."
        st.error(f"Filter `{e.field}` ignored: {esc(shown)} {esc(e.reason)}.", icon=":material/filter_alt_off:")
        put(e.field, None)
        st.session_state.pop(_key(e.field), None)


def get(name: str, default: str | None = None) -> str | None:
    value = st.query_params.get(name)
    return default if value in (None, "") else value


def put(name: str, value, default=None) -> None:
    """Write one filter to the URL (removed when empty or at its default) and remember it."""
    mem = _memory()
    if value in (None, "") or value == default:
        if name in st.query_params:
            del st.query_params[name]
        mem.pop(name, None)
        return
    text = value.isoformat() if isinstance(value, date) else str(value)
    if st.query_params.get(name) != text:
        st.query_params[name] = text
    mem[name] = text


def _key(name: str) -> str:
    return f"qp_{name}"


def _sync(name: str, default) -> Callable[[], None]:
    def cb() -> None:
        put(name, st.session_state[_key(name)], default)
        if name == "company":  # brands belong to a company: a new company starts with every brand
            put("brand", None)
            st.session_state.pop(_key("brand"), None)
        if name in SHARED or name in _RESETS_PAGE:
            put("page", None)  # another filter: back to the first page of results

    return cb


_RESETS_PAGE = {
    "provider_name",
    "model_name",
    "total_cost__gte",
    "execution_time_seconds__gte",
    "success_rate__lt",
    "created_at__gte",
    "ai_job__status",
    "ordering",
    "page_size",
}


def selectbox(
    label: str,
    options: Sequence,
    name: str,
    default=None,
    *,
    container=None,
    format_func: Callable = str,
    help: str | None = None,
):
    """A selectbox bound to query parameter `name`; None in the options means "no filter" (returned as None).

    A URL value missing from the options is kept (shown as is), so a shared link for a provider with no data shows
    an empty view instead of silently dropping the filter.
    """
    container = container or st
    # Streamlit shows a None value as "Choose an option": the "no filter" choice is carried as "".
    options = ["" if o is None else o for o in options]
    default_opt = "" if default is None else default
    current = get(name, None if default is None else str(default))
    by_text = {str(o): o for o in options}
    if current is not None and current not in by_text:
        options.append(current)
        by_text[current] = current
    value = by_text.get(current, default_opt) if current is not None else default_opt
    key = _key(name)
    if key not in st.session_state or st.session_state[key] not in options:
        st.session_state[key] = value
    chosen = container.selectbox(
        label,
        options,
        key=key,
        on_change=_sync(name, default_opt),
        help=help,
        format_func=lambda o: format_func(None if o == "" else o),
    )
    put(name, chosen, default_opt)
    return None if chosen == "" else chosen


def radio(
    label: str,
    options: Sequence,
    name: str,
    default,
    *,
    container=None,
    format_func: Callable = str,
    horizontal: bool = True,
):
    container = container or st
    options = list(options)
    current = get(name, str(default))
    value = next((o for o in options if str(o) == current), default)
    key = _key(name)
    if key not in st.session_state or st.session_state[key] not in options:
        st.session_state[key] = value
    chosen = container.radio(
        label, options, key=key, format_func=format_func, horizontal=horizontal, on_change=_sync(name, default)
    )
    if any(str(o) == current for o in options):
        put(name, chosen, default)
    # else: a value another page owns (Overview's "custom" period seen from Efficiency) stays in the URL until the
    # user picks here (the on_change callback writes then).
    return chosen


def text_input(label: str, name: str, *, container=None, placeholder: str = "", help: str | None = None) -> str:
    container = container or st
    key = _key(name)
    if key not in st.session_state:
        st.session_state[key] = get(name, "") or ""
    value = container.text_input(label, key=key, placeholder=placeholder, on_change=_sync(name, ""), help=help)
    put(name, value.strip(), "")
    return value.strip()


def date_input(label: str, name: str, default: date | None, *, container=None, min_value=None, max_value=None):
    """A date bound to `name` (YYYY-MM-DD); an unparsable URL value falls back to the default."""
    container = container or st
    key = _key(name)
    if key not in st.session_state:
        raw = get(name)
        try:
            st.session_state[key] = date.fromisoformat(raw) if raw else default
        except ValueError:
            st.session_state[key] = default
    value = container.date_input(label, key=key, min_value=min_value, max_value=max_value, on_change=_sync(name, None))
    put(name, value, None)
    return value


def scope() -> dict:
    """The shared filters as the analytics functions take them; the company is the signed-in user's to see."""
    from ui.auth_gate import enforce_company

    company = enforce_company(get("company"))
    if company != get("company"):
        put("company", company)
    return {"company": company, "brand": get("brand"), "provider": get("provider")}
