"""Settings › Gateway keys through AppTest: an admin creates a key (shown once, stored as a hash) and revokes one
after confirming; the page calls core, whose checks still apply."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from core.server.keys import create_key, hash_key, list_keys
from tests.helpers.apptest import dashboard
from tests.helpers.ledger import load

pytestmark = pytest.mark.usefixtures("navigation_mode", "fresh_cache")


def settings_app() -> AppTest:
    at = dashboard("settings").run()
    assert not at.exception
    return at


def test_admin_creates_a_key_shown_once_and_revokes_one(db):
    load(
        [
            {
                "job_id": "a",
                "created_at": datetime.now(UTC) - timedelta(days=1),
                "company": "Acme",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "input_tokens": 10,
                "output_tokens": 1,
            }
        ]
    )
    _, old = create_key("Acme", label="old app")
    at = settings_app()
    at.selectbox(key="gk_company").set_value("Acme")
    at.text_input(key="gk_label").set_value("checkout")
    at.text_input(key="gk_rpm").set_value("0")
    at.button(key="FormSubmitter:gateway_key_form-Create key").click().run()
    assert any("requests_per_minute='0'" in e.value for e in at.error)
    at.text_input(key="gk_rpm").set_value("120")
    at.button(key="FormSubmitter:gateway_key_form-Create key").click().run()
    assert not at.exception
    shown = [c.value for c in at.code]
    assert len(shown) == 1 and shown[0].startswith("sk-aium-")
    new = next(k for k in list_keys() if k["label"] == "checkout")
    assert new["requests_per_minute"] == 120 and new["company"] == "Acme"
    from core.server.keys import active_keys

    assert active_keys()[new["key_id"]].key_hash == hash_key(shown[0])
    at.run()
    assert [c.value for c in at.code] == []  # shown once
    labels = at.selectbox(key="gk_revoke").options
    at.selectbox(key="gk_revoke").set_value(next(i for i, label in enumerate(labels) if "old app" in label))
    at.button(key="gk_revoke_btn").click().run()
    assert [k["active"] for k in list_keys() if k["key_id"] == old["key_id"]] == [True]  # not before confirming
    at.button(key="gk_revoke_yes").click().run()
    assert not at.exception
    assert [k["active"] for k in list_keys() if k["key_id"] == old["key_id"]] == [False]
    assert any("Key revoked" in s.value for s in at.success)
