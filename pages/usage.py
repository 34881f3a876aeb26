"""Usage explorer (/ai/usage/ and /ai/usage/{id}/): every filter of the usage list, pages of rows read
from the database one page at a time, a detail view with the job and cost per token, and CSV export."""

import json

import streamlit as st

from core.display import per_million_tokens
from core.errors import InvalidRecord
from ui import cache, filters
from ui.common import count, dataframe, empty_state, esc, no_data_hint, percent, plural, seconds, usd, when
from ui.entry import require_entry

require_entry()  # a direct URL on a fresh process: go through dashboard.py
st.title("Usage")
scope = filters.scope()
opts = cache.options(scope["company"])
STATUSES = [None, "completed", "failed", "timeout", "running"]
ORDERINGS = {
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "-total_cost": "Costliest first",
    "-execution_time_seconds": "Slowest first",
    "-total_tokens": "Most tokens first",
}

with st.expander("Filters", expanded=True):
    c = st.columns(4)
    provider = scope["provider"]  # the sidebar's provider filter is the usage list's provider_name
    models = [m["model"] for m in opts["models"] if provider in (None, m["provider"])]
    model = filters.selectbox(
        "Model", [None] + models, "model_name", container=c[0], format_func=lambda v: "All models" if v is None else v
    )
    status = filters.selectbox(
        "Job status", STATUSES, "ai_job__status", container=c[1], format_func=lambda v: "Any status" if v is None else v
    )
    min_cost = filters.text_input("Minimum cost (USD)", "total_cost__gte", container=c[2], placeholder="e.g. 1.00")
    min_secs = filters.text_input(
        "Minimum duration (s)", "execution_time_seconds__gte", container=c[3], placeholder="e.g. 60"
    )
    c = st.columns(4)
    below = filters.text_input(
        "Success rate below",
        "success_rate__lt",
        container=c[0],
        placeholder="e.g. 1.0",
        help="1.0 lists the jobs with errors",
    )
    since = filters.text_input(
        "Since (date or ISO time, UTC)", "created_at__gte", container=c[1], placeholder="2024-12-01"
    )
    ordering = filters.selectbox(
        "Order", list(ORDERINGS), "ordering", "-created_at", container=c[2], format_func=ORDERINGS.get
    )
    page_size = int(filters.selectbox("Rows per page", ["25", "50", "100", "200"], "page_size", "50", container=c[3]))

query = {
    "provider_name": provider,
    "model_name": model,
    "ai_job__status": status,
    "total_cost__gte": min_cost,
    "execution_time_seconds__gte": min_secs,
    "success_rate__lt": below,
    "created_at__gte": since,
    "ai_job__brand": scope["brand"],
}
query = {k: v for k, v in query.items() if v not in (None, "")}
try:
    page = max(1, int(filters.get("page", "1")))
except ValueError:
    page = 1
try:
    result = cache.usage_page(page, page_size, ordering, scope["company"], query)
except InvalidRecord as e:
    st.error(f"Invalid filter: {e}")
    st.stop()

total = result["count"]
pages = max(1, -(-total // page_size))
if page > pages:
    filters.put("page", None)
    st.rerun()

detail_id = filters.get("id")
if detail_id:
    st.subheader("Usage detail")
    try:
        u = cache.usage_detail(int(detail_id), scope["company"])
    except ValueError:
        u = None
    if u is None:
        st.warning(f"No usage with id {esc(detail_id)} in this scope.")
    else:
        job = u["ai_job"]
        st.markdown(
            f"**Job** {esc(job['job_id'])} · {esc(job['job_type'])} · status **{esc(job['status'])}** · "
            f"brand {esc(job['brand']['name'])} · company {esc(u['company']['name'])} · "
            f"operation {esc(job['operation'])}"
        )
        if job["description"]:
            st.text(job["description"])
        c = st.columns(5)
        # The exact stored cost (6 decimals) is in the record below; the tiles show it as every page does.
        c[0].metric("Total cost", usd(u["total_cost"]))
        c[1].metric(
            "Cost per 1M tokens",
            per_million_tokens(u["total_cost"], u["total_tokens"]),
            help="Total cost ÷ total tokens × 1,000,000",
        )
        c[2].metric("Tokens (in / out)", f"{count(u['input_tokens'])} / {count(u['output_tokens'])}")
        c[3].metric("Execution time", seconds(u["execution_time_seconds"]))
        c[4].metric("Success rate", percent(None if u["success_rate"] is None else u["success_rate"] * 100))
        if u["pricing_status"] == "unpriced":
            st.warning("This call has no known price (counted as \\$0.00). Price the model in Settings.")
        st.caption(
            f"{esc(u['provider_name'])} / {esc(u['model_name'])} · {esc(when(u['created_at']))} · pricing: "
            f"{u['pricing_status']} · cached {count(u['cached_tokens'])}, cache write "
            f"{count(u['cache_write_tokens'])}, reasoning {plural(u['reasoning_tokens'], 'token')} · "
            f"{plural(u['error_count'], 'error')}"
        )
        st.code(json.dumps(u, indent=2, ensure_ascii=False), language="json")
    if st.button("Close detail"):
        filters.put("id", None)
        st.rerun()
    st.divider()

st.subheader(f"{plural(total, 'matching usage record')}")
if total == 0:
    empty_state(
        "No usage matches these filters." if query else "No AI usage recorded yet.", None if query else no_data_hint()
    )
    st.stop()
rows = result["results"]
# The exact six-decimal cost is in the detail view and the CSV export.
dataframe(
    [
        {
            "id": r["id"],
            "When": when(r["created_at"]),
            "Job": r["ai_job"]["job_id"],
            "Status": r["ai_job"]["status"],
            "Brand": r["ai_job"]["brand"]["name"],
            "Provider": r["provider_name"],
            "Model": r["model_name"],
            "Tokens": r["total_tokens"],
            "Cost": usd(r["total_cost"]),
            "Time": seconds(r["execution_time_seconds"]),
            "Pricing": r["pricing_status"],
        }
        for r in rows
    ],
    formats={"id": "%d"},
)

nav = st.columns([1, 2, 1, 3])
if nav[0].button("← Previous", disabled=page <= 1):
    filters.put("page", page - 1 if page > 2 else None)
    st.rerun()
nav[1].markdown(f"Page **{page}** of **{pages}**")
if nav[2].button("Next →", disabled=page >= pages):
    filters.put("page", page + 1)
    st.rerun()

labels = {r["id"]: f"#{r['id']} · {r['ai_job']['job_id']} · {r['model_name']} · {usd(r['total_cost'])}" for r in rows}
pick = nav[3].selectbox(
    "Details of",
    [None] + list(labels),
    key="detail_pick",
    format_func=lambda i: "Choose a row…" if i is None else labels[i],
)
if pick is not None and str(pick) != detail_id:
    filters.put("id", pick)
    st.session_state.pop("detail_pick", None)
    st.rerun()

# Deferred: the CSV is built (in id batches, from the database) only when the button is clicked.
st.download_button(
    f"Export the {plural(total, 'filtered row')} as CSV",
    data=lambda: cache.export_csv(scope["company"], query, ordering),
    file_name="ai_usage_export.csv",
    mime="text/csv",
    on_click="ignore",
    icon=":material/download:",
)
