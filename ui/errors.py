"""One guard around every run of the dashboard: an unexpected error is logged with its secrets redacted and shown
as one line — never a traceback, a DSN or a key (Streamlit's own handler would log the raw exception)."""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

import streamlit as st

from core.redact import redact

log = logging.getLogger("dashboard")


def guard(run: Callable[[], None]) -> None:
    try:
        run()
    except Exception as e:  # noqa: BLE001 - st.stop / st.rerun are BaseExceptions and pass through
        log.error("dashboard error: %s", redact(traceback.format_exc()))
        st.error(f"Something went wrong ({type(e).__name__}): {redact(str(e))[:200]}. "
                 "The details are in the server log.")
