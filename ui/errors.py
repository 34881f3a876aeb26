"""One guard around every run of the dashboard: an unexpected error is logged in full (secrets redacted) under a
short reference, and the page shows only that reference — never a traceback, SQL, a driver's message, a DSN or
a key. A refusal of ours (a bad value, a missing right) is shown as the plain message it is.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from collections.abc import Callable

import streamlit as st

from core.errors import InvalidRecord
from core.redact import redact

log = logging.getLogger("dashboard")


def guard(run: Callable[[], None]) -> None:
    try:
        run()
    except InvalidRecord as e:  # our own validation: names the field and the value, holds no SQL
        st.error(f"Not a valid value — {redact(str(e))}")
    except PermissionError as e:
        if e.errno is not None:  # an OSError (file permissions): details for the log only
            _unexpected()
        else:
            st.error(redact(str(e)))
    except Exception:  # noqa: BLE001 - st.stop / st.rerun are BaseExceptions and pass through
        _unexpected()


def _unexpected() -> str:
    reference = secrets.token_hex(4)
    log.error("dashboard error, reference %s:\n%s", reference, redact(traceback.format_exc()))
    st.error(f"Something went wrong — reference {reference}; the details are in the server log.")
    return reference
