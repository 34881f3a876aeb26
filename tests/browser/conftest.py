"""Browser tests wait for what a page shows, not for a fixed time: every `expect` waits up to 30 s (Playwright's
default, 5 s, fails on a busy machine while the page is still rendering)."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _patient_expect():
    try:
        from playwright.sync_api import expect
    except ImportError:  # the tests that need Playwright say so themselves
        yield
        return
    expect.set_options(timeout=30_000)
    yield
