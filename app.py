"""The dashboard server with a warm start: `streamlit run app.py` (what `make run` starts).

It serves dashboard.py exactly as `streamlit run dashboard.py` does (same pages, same .streamlit/config.toml);
its startup hook (st.App's lifespan) also starts ui.warmup, which imports the first view's modules, migrates the
database and computes the Overview's default figures in the background, so that the first view after a start
finds them ready. The server answers at once: nothing waits for the warm-up.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import streamlit as st


@asynccontextmanager
async def _warm_start(_app):
    # Imported here, after the runtime started: the warmed figures go to the cache the pages read.
    from ui import warmup

    warmup.start()
    yield


app = st.App("dashboard.py", lifespan=_warm_start)
