"""Dashboard entry point: `streamlit run dashboard.py` (`make run` starts app.py, which serves this script and
warms the first view when the server starts).

The page config and a progress indicator come first: on a cold process the imports behind the first view take
seconds (pandas, SQLAlchemy, plotly), and the page must show that something is coming, never stay blank. The run
itself is ui.shell's: setup -> the access gate -> the URL's filter values -> shared filters -> banners -> the page.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="AI Usage Monitor", page_icon="📊", layout="wide")
with st.spinner("Starting the dashboard…"):
    from ui.errors import guard
    from ui.shell import main

guard(main)
