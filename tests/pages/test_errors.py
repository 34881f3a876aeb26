"""What a page shows when something is wrong: a bad value in a shared link is refused with a plain message before
any query (never SQL, a driver's name or its parameters), core refuses out-of-range values itself, and an
unexpected error shows only a short reference that leads to the full (redacted) entry in the server log."""

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core import analytics, config
from core.alerts import AlertNotFound, resolve_alert
from core.errors import InvalidRecord
from tests.helpers.apptest import dashboard
from tests.helpers.ledger import load, make_records

pytestmark = pytest.mark.usefixtures("navigation_mode")

SECRET = "hunter2-very-secret"
PAGES = ["overview", "costs", "trends", "efficiency", "stats", "usage", "alerts", "settings"]
HUGE = "999999999999999999999"
LEAKS = re.compile(r"SQL|SELECT|INTEGER|psycopg|sqlite3|sqlalchemy|param_\d|Traceback")
# (parameter, value, page): one bad value of each kind the pages read from a link.
BAD_VALUES = [
    ("brand", "-7", "overview"),
    ("company", "Acme\x00Corp", "stats"),
    ("provider", "x" * 500, "trends"),
    ("start", "0001-01-01", "overview"),
    ("month", "9999-12", "costs"),
    ("days", "99999999999", "efficiency"),
    ("id", HUGE, "usage"),
    ("page", HUGE, "usage"),
    ("page_size", "7000", "usage"),
    ("total_cost__gte", "1e30", "usage"),
    ("created_at__gte", "99999-01-01", "usage"),
    ("ordering", "id; DROP TABLE ai_jobs", "usage"),
]


@pytest.fixture
def ledger(db):
    load(make_records(n=30, now=datetime.now(UTC) - timedelta(minutes=1)))
    return db


def page_app(page_name: str, /, **params) -> AppTest:
    return dashboard(page_name, **params).run()


def shown(at: AppTest) -> str:
    parts = [e.value for e in at.error] + [w.value for w in at.warning] + [m.value for m in at.markdown]
    parts += [t.value for t in at.text] + [c.value for c in at.caption] + [str(e.value) for e in at.exception]
    return "\n".join(parts)


@pytest.mark.parametrize("page", PAGES)
def test_out_of_range_brand_is_refused_plainly_on_every_page(ledger, page):
    at = page_app(page, brand=HUGE)
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and "brand" in errors[0] and "2147483647" in errors[0], errors
    assert not LEAKS.search(shown(at)), shown(at)
    assert "brand" not in at.query_params  # dropped: the page shows what it would without it
    assert not any("Something went wrong" in e for e in errors)


@pytest.mark.parametrize("name, value, page", BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_other_bad_link_values_are_refused_plainly(ledger, name, value, page):
    at = page_app(page, **{name: value})
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith(f"Filter `{name}` ignored: ") for e in errors), errors
    assert not LEAKS.search(shown(at)), shown(at)
    assert not any("Something went wrong" in e for e in errors)


def test_core_refuses_values_no_column_holds(ledger):
    """Security and correctness hold in core too: a caller other than the pages gets a ValueError naming the
    parameter, not a database error."""
    calls = [
        lambda: analytics.get_usage_dashboard(brand=HUGE),
        lambda: analytics.get_cost_breakdown(brand=10**21),
        lambda: analytics.get_usage_stats(brand=HUGE),
        lambda: analytics.get_usage_trends(brand=HUGE),
        lambda: analytics.get_efficiency(brand=HUGE),
        lambda: analytics.get_efficiency(days=10**12),
        lambda: analytics.get_cost_breakdown(month="9999-12"),
        lambda: analytics.get_usage_dashboard(start=datetime(1, 1, 1).date()),
        lambda: analytics.list_usage(ai_job__brand=HUGE),
        lambda: analytics.list_usage(company="Acme\x00Corp"),
        lambda: analytics.list_usage(created_at__gte="0001-01-01"),
        lambda: analytics.get_usage(10**30),
        lambda: analytics.filter_options(company="Acme\x00Corp"),
    ]
    for call in calls:
        with pytest.raises(InvalidRecord) as exc:
            call()
        assert isinstance(exc.value, ValueError)
        assert not LEAKS.search(str(exc.value)), str(exc.value)
    with pytest.raises(AlertNotFound):
        resolve_alert(10**20)
    # The largest id a column holds is still a plain "nothing there".
    assert analytics.list_usage(ai_job__brand=str(2**31 - 1))["count"] == 0


def test_unexpected_error_shows_a_reference_found_in_the_log(ledger, monkeypatch, caplog, tmp_path):
    """A database that cannot be used (a file that is not one; a PostgreSQL DSN, with a password, to a database
    that does not exist): the page shows a reference only; the log holds the same reference with the full,
    redacted traceback."""
    sqlite = ledger.startswith("sqlite")
    if sqlite:
        garbage = tmp_path / "usage.db"
        garbage.write_bytes(b"this is not a database file " * 100)
        broken = f"sqlite:///{garbage}"
    else:
        broken = f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:5432/aium_no_such_database"
    monkeypatch.setenv("DATABASE_URL", broken)
    config.reset_settings()
    with caplog.at_level(logging.ERROR, logger="dashboard"):
        at = page_app("overview", brand="1")
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and re.fullmatch(
        r"Something went wrong — reference [0-9a-f]{8}; the details are in the server log\.", errors[0]
    ), errors
    reference = errors[0].split("reference ")[1][:8]
    entries = [r.getMessage() for r in caplog.records if r.name == "dashboard"]
    assert len(entries) == 1 and f"reference {reference}" in entries[0]
    assert "Traceback" in entries[0] and ("DatabaseError" if sqlite else "OperationalError") in entries[0]
    assert "aium_no_such_database" in entries[0] or sqlite  # the log says what failed…
    assert SECRET not in entries[0]  # …without the DSN's password
    assert SECRET not in shown(at) and not LEAKS.search(shown(at))


def test_dsn_password_never_reaches_the_page_or_the_log(caplog):
    def page():
        from ui.errors import guard

        def broken():
            secret = "hunter2-very-secret"
            raise RuntimeError(
                f"could not connect to postgresql+psycopg://aium:{secret}@db.internal:5432/usage (key sk-proj-{secret})"
            )

        guard(broken)

    with caplog.at_level(logging.DEBUG):
        at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception  # no traceback element
    assert [e.value.split(" — ")[0] for e in at.error] == ["Something went wrong"]
    reference = at.error[0].value.split("reference ")[1][:8]
    assert SECRET not in shown(at) and "db.internal" not in shown(at)
    assert f"dashboard error, reference {reference}" in caplog.text and "Traceback" in caplog.text
    assert "aium:***@db.internal" in caplog.text  # the log entry stays useful
    assert SECRET not in caplog.text
