"""Dashboard entry point (foundation version: ledger totals). The dashboard issue replaces this with pages."""
import streamlit as st

from core.db import migrate
from core.ledger_summary import ledger_totals

st.set_page_config(page_title="AI Usage Monitor", page_icon="📊", layout="wide")


@st.cache_resource
def _migrated() -> bool:
    migrate()
    return True


_migrated()
totals = ledger_totals()
st.title("AI Usage Monitor")
if totals["is_demo"]:
    st.warning("Demo data: these figures are synthetic (`python -m core demo --clear` removes them).")
c1, c2, c3 = st.columns(3)
c1.metric("Jobs", f"{totals['jobs']:,}")
c2.metric("Tokens", f"{totals['tokens']:,}")
c3.metric("Cost (USD)", f"${totals['cost']}")
if totals["unpriced_jobs"]:
    st.info(f"{totals['unpriced_jobs']:,} calls have no known price: `python -m core price set …`")
