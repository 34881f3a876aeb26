"""Direct page URLs must run through dashboard.py (its page config, shared filters, banners and navigation).

Streamlit still honours its legacy `pages/` folder convention until the first `st.navigation` call of the
process: if the very first request after a start is a page URL (/costs), it runs pages/costs.py on its own,
without the entry script, and keeps doing so. Each page calls `require_entry()` first: when it finds itself run
that way, it switches the process to `st.navigation` mode and reruns, so the same URL goes through dashboard.py.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_entry() -> None:
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
