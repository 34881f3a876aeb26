"""Every page test starts and ends with Streamlit's data cache and the sign-in throttle empty."""

import pytest


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    yield
