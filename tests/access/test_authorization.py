"""Authorisation held in core: every write checks its acting user's role and companies (as the users file has
them now), whoever calls it — the Settings page, ui.actions called directly, or a script. The local operator
(no actor: the command line, the worker) may do everything. Sign-in failures are throttled per account and
per client address across sessions."""

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core import config
from core.access.throttle import THROTTLE, LoginThrottle
from core.access.users import LOCAL_OPERATOR, TooManyAttempts, User, add_user, authorize, remove_user, sign_in
from core.alerts import acknowledge_alert, active_alerts, check_alerts, list_alerts, resolve_alert
from core.limits.budgets import (
    delete_budget,
    delete_quota,
    list_budgets,
    list_prices,
    list_quotas,
    reprice_usage,
    set_budget,
    set_price,
    set_quota,
)
from core.storage.db import session_scope
from core.usage import record_usage

PASSWORD = "a long enough password"
ALICE = User("alice", "admin", ("Humari",))  # admin of one company
ROOT = User("root", "admin", ("*",))
VICTOR = User("victor", "viewer", ("*",))


@pytest.fixture
def users(db, add_users):
    add_users(
        ("alice", PASSWORD, "admin", ["Humari"]),
        ("root", PASSWORD, "admin", ["*"]),
        ("victor", PASSWORD, "viewer", ["*"]),
    )
    set_budget("Qadhya", "100")  # the local operator (no actor) may write anything
    set_quota("Qadhya", "openai", monthly_usd="50")
    yield db
    config.reset_settings()


def budgets() -> list[tuple]:
    return [(b["company"], b["provider"], b["monthly_usd"]) for b in list_budgets()]


def test_scoped_admin_cannot_touch_another_companys_limits(users):
    before_b, before_q = budgets(), list_quotas()
    for write in (
        lambda: set_budget("Qadhya", "1", actor=ALICE),
        lambda: set_budget("Qadhya", "1", provider="openai", actor=ALICE),
        lambda: set_budget("Brand New Co", "1", actor=ALICE),
        lambda: delete_budget("Qadhya", actor=ALICE),
        lambda: set_quota("Qadhya", "openai", monthly_usd="1", actor=ALICE),
        lambda: delete_quota("Qadhya", "openai", actor=ALICE),
    ):
        with pytest.raises(PermissionError, match="alice may not .* for 'Qadhya'|alice may not .*'Brand New Co'"):
            write()
    assert budgets() == before_b and list_quotas() == before_q  # nothing written, no company created
    set_budget("Humari", "10", actor=ALICE)  # their own company: allowed
    assert ("Humari", None, "10.000000") in budgets()
    assert delete_budget("Humari", actor=ALICE)


def test_prices_are_for_admins_of_every_company(users):
    with pytest.raises(PermissionError, match="every company"):
        set_price("openai", "gpt-4o", "1", "2", actor=ALICE)
    with pytest.raises(PermissionError, match="Only an admin"):
        set_price("openai", "gpt-4o", "1", "2", actor=VICTOR)
    with session_scope() as s, pytest.raises(PermissionError):
        reprice_usage(s, provider="openai", model_pattern="*", since=datetime(2020, 1, 1, tzinfo=UTC), actor=ALICE)
    assert list_prices() == []
    assert set_price("openai", "gpt-4o", "1", "2", actor=ROOT)["provider"] == "openai"
    assert set_price("openai", "gpt-4o-mini", "1", "2")["provider"] == "openai"  # local operator
    assert len(list_prices()) == 2


def test_viewer_is_refused_every_write(users):
    for write in (
        lambda: set_budget("Humari", "1", actor=VICTOR),
        lambda: delete_budget("Qadhya", actor=VICTOR),
        lambda: set_quota("Qadhya", "openai", monthly_usd="1", actor=VICTOR),
        lambda: delete_quota("Qadhya", "openai", actor=VICTOR),
        lambda: add_user("mallory", PASSWORD, role="admin", companies=["*"], actor=VICTOR),
    ):
        with pytest.raises(PermissionError, match="Only an admin may .*victor is a viewer"):
            write()
    assert budgets() == [("Qadhya", None, "100.000000")]


def test_role_and_companies_come_from_the_users_file_now(users):
    """A User object kept from before a downgrade or a removal carries no rights of its own."""
    add_user("alice", PASSWORD, role="viewer", companies=["Humari"])
    with pytest.raises(PermissionError, match="viewer"):
        set_budget("Humari", "10", actor=ALICE)
    remove_user("alice")
    with pytest.raises(PermissionError, match="no longer has access"):
        set_budget("Humari", "10", actor=ALICE)
    # A claim never widens what the file grants: "*" claimed by someone the file scopes to Humari.
    add_user("alice", PASSWORD, role="admin", companies=["Humari"])
    with pytest.raises(PermissionError):
        set_budget("Qadhya", "10", actor=User("alice", "admin", ("*",)))
    assert authorize(None, "set budgets", company="Qadhya") == LOCAL_OPERATOR
    assert budgets() == [("Qadhya", None, "100.000000")]


def test_resolve_alert_checks_the_alerts_company(users):
    now = datetime.now(UTC) - timedelta(minutes=5)
    for company in ("Humari", "Qadhya"):
        set_budget(company, "0.0001")
        record_usage(
            job_id=f"job-{company}",
            company=company,
            provider_name="openai",
            model_name="gpt-4o-mini",
            input_tokens=1000,
            output_tokens=100,
            created_at=now,
            cost_input="1",
            cost_output="0",
        )
    check_alerts()
    ids = {a["company"]["name"]: a["id"] for a in list_alerts(is_resolved=False)["results"] if a["company"]}
    with pytest.raises(PermissionError, match="alice may not resolve alerts"):
        resolve_alert(ids["Qadhya"], "not mine", actor=ALICE)
    with pytest.raises(PermissionError, match="Only an admin"):
        resolve_alert(ids["Qadhya"], "viewer", actor=VICTOR)
    assert list_alerts(is_resolved=False)["count"] == 2  # both still open
    assert resolve_alert(ids["Humari"], "mine", actor=ALICE)["alert"]["is_resolved"]
    assert resolve_alert(ids["Qadhya"], "operator")["alert"]["is_resolved"]  # local operator
    resolved = {a["company"]["name"]: a["resolved_by"] for a in list_alerts(is_resolved=True)["results"]}
    assert resolved == {"Humari": "alice", "Qadhya": "user"}


def test_acknowledge_and_checks_check_the_company(users):
    now = datetime.now(UTC) - timedelta(minutes=5)
    for company in ("Humari", "Qadhya"):
        set_budget(company, "0.0001")
        record_usage(
            job_id=f"ack-{company}",
            company=company,
            provider_name="openai",
            model_name="gpt-4o-mini",
            input_tokens=1000,
            output_tokens=100,
            created_at=now,
            cost_input="1",
            cost_output="0",
        )
    with pytest.raises(PermissionError, match="alice may not run alert checks for every company"):
        check_alerts(actor=ALICE)
    with pytest.raises(PermissionError, match="Only an admin"):
        check_alerts(company="Humari", actor=VICTOR)
    assert list_alerts()["count"] == 0  # refused checks wrote nothing
    check_alerts(company="Humari", actor=ALICE)  # their own company
    check_alerts(actor=ROOT)
    ids = {a["company"]["name"]: a["id"] for a in list_alerts(is_resolved=False)["results"] if a["company"]}
    with pytest.raises(PermissionError, match="alice may not acknowledge alerts"):
        acknowledge_alert(ids["Qadhya"], "not mine", actor=ALICE)
    with pytest.raises(PermissionError, match="Only an admin"):
        acknowledge_alert(ids["Humari"], "viewer", actor=VICTOR)
    assert not any(a["acknowledged"] for a in active_alerts()["alerts"])
    acknowledge_alert(ids["Humari"], "on it", actor=ALICE)
    acked = {a["company"]: a["acknowledged_by"] for a in active_alerts()["alerts"] if a["acknowledged"]}
    assert acked == {"Humari": "alice"}


def test_ui_actions_called_directly_are_refused_in_core(users):
    """What the review did: a scoped admin's session calling ui.actions with another company's budget."""

    def script():
        import streamlit as st

        from core.limits import budgets as limits
        from ui import actions

        st.session_state["_auth_user"] = {"username": "alice", "role": "admin", "companies": ["Humari"]}
        for name, args in (
            ("set_budget", ("Qadhya", "1")),
            ("delete_budget", ("Qadhya",)),
            ("set_price", ("openai", "gpt-4o", "1", "2")),
        ):
            try:
                actions.apply(getattr(limits, name), *args)
                st.write(f"{name}: written")
            except PermissionError as e:
                st.write(f"{name}: refused ({e})")

    at = AppTest.from_function(script, default_timeout=30).run()
    lines = [m.value for m in at.markdown]
    assert [line.split(":")[0] for line in lines] == ["set_budget", "delete_budget", "set_price"]
    assert all("refused" in line for line in lines), lines
    assert budgets() == [("Qadhya", None, "100.000000")] and list_prices() == []


@pytest.fixture
def throttle():
    THROTTLE.clear()
    yield THROTTLE
    THROTTLE.clear()


def test_failures_from_two_sessions_on_one_account_count_together(users, throttle):
    """Each sign-in call stands for a different browser session (or client): the count is the account's."""
    for _ in range(3):
        assert sign_in("alice", "wrong password!", address="198.51.100.1") is None
    for _ in range(2):
        assert sign_in("alice", "wrong password!", address="198.51.100.2") is None
    with pytest.raises(TooManyAttempts) as exc:  # a sixth attempt, from a third address, right password
        sign_in("alice", PASSWORD, address="203.0.113.3")
    assert exc.value.retry_after >= 1 and "try again in" in str(exc.value)
    assert sign_in("root", PASSWORD, address="203.0.113.3") == User("root", "admin", ("*",))  # other accounts


def test_failures_from_one_address_count_across_accounts(users, throttle):
    for name in ("alice", "root", "victor", "nobody", "someone"):
        assert sign_in(name, "wrong password!", address="198.51.100.7") is None
    with pytest.raises(TooManyAttempts):
        sign_in("root", PASSWORD, address="198.51.100.7")
    assert sign_in("root", PASSWORD, address="198.51.100.8").username == "root"


def test_lockout_doubles_then_expires():
    clock = [1000.0]
    t = LoginThrottle(lambda: clock[0], free_failures=2, window=600, base_lockout=4, max_lockout=30)
    t.failed("alice")
    t.failed("alice")
    assert t.retry_after("alice") == 4
    clock[0] += 4
    t.check("alice")  # the lockout is over
    t.failed("alice")
    assert t.retry_after("alice") == 8  # doubled
    clock[0] += 8
    t.failed("alice")
    t.failed("alice")
    assert t.retry_after("alice") == 30  # capped
    clock[0] += 601  # the failures leave the window
    t.check("alice")
    t.failed("alice")
    t.succeeded("alice")
    assert t.retry_after("alice") == 0
