"""Gateway keys: created from the command line (the key alone on the last line), stored as a hash, listed, revoked;
checked by the gateway (401 in OpenAI's shape), per-key rate limits (429 with retry-after), the loopback rule."""

from __future__ import annotations

import subprocess
import sys
import time

import openai
import pytest
from sqlalchemy import select

from core.access.users import User, add_user
from core.server.keys import create_key, hash_key, list_keys, revoke_key
from core.server.run import is_loopback
from core.storage.db import get_session
from core.storage.gateway_models import GatewayKey
from tests.server.gateway_harness import gateway

HI = [{"role": "user", "content": "hi"}]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "core", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_key_create_prints_the_key_last_and_stores_only_its_hash(db):
    out = cli("key", "create", "--company", "Acme", "--brand", "web", "--label", "site", "--rpm", "60")
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("sk-aium-") and " " not in key
    s = get_session(db)
    try:
        row = s.scalar(select(GatewayKey))
        stored = [str(v) for v in (row.key_id, row.key_hash, row.brand, row.label, row.created_by)]
    finally:
        s.close()
    assert stored[1] == hash_key(key) and all(key not in v for v in stored)
    listing = cli("key", "list")
    assert stored[0] in listing.stdout and "Acme" in listing.stdout and "60/min" in listing.stdout
    assert key not in listing.stdout
    assert cli("key", "revoke", stored[0]).returncode == 0
    assert "revoked" in cli("key", "list").stdout
    assert cli("key", "revoke", stored[0]).returncode == 2  # already revoked


def test_key_writes_are_authorized(db, monkeypatch, tmp_path):
    monkeypatch.setenv("USERS_FILE", str(tmp_path / "users.json"))
    from core import config

    config.reset_settings()
    add_user("boss", "a-long-password", role="admin", companies=["*"])
    add_user("acme-admin", "a-long-password", role="admin", companies=["Acme"])
    add_user("viewer", "a-long-password", role="viewer", companies=["*"])
    with pytest.raises(PermissionError):
        create_key("Acme", actor=User("viewer", "viewer", ("*",)))
    with pytest.raises(PermissionError):
        create_key("Beta", actor=User("acme-admin", "admin", ("Acme",)))
    _, beta = create_key("Beta", actor=User("boss", "admin", ("*",)))
    _, acme = create_key("Acme", actor=User("acme-admin", "admin", ("Acme",)))
    assert acme["created_by"] == "acme-admin"
    with pytest.raises(PermissionError):
        revoke_key(beta["key_id"], actor=User("acme-admin", "admin", ("Acme",)))
    assert revoke_key(acme["key_id"], actor=User("acme-admin", "admin", ("Acme",)))
    assert [k["active"] for k in list_keys(company="Acme")] == [False]


def test_missing_wrong_and_revoked_keys_get_401(fakes, db, monkeypatch, tmp_path):
    key, row = create_key("Acme")
    with gateway(monkeypatch, tmp_path) as g:
        ok = openai.OpenAI(base_url=g.base_url, api_key=key, max_retries=0)
        assert ok.chat.completions.create(model="gpt-4o-mini", messages=HI).choices
        for bad in ("", "sk-aium-" + row["key_id"] + "-wrong", key[:-1] + ("A" if key[-1] != "A" else "B")):
            c = openai.OpenAI(base_url=g.base_url, api_key=bad or "x", max_retries=0)
            headers = {"Authorization": ""} if not bad else {}
            with pytest.raises(openai.AuthenticationError) as e:
                c.chat.completions.create(model="gpt-4o-mini", messages=HI, extra_headers=headers)
            assert e.value.body["code"] == "invalid_api_key" and e.value.body["type"] == "invalid_request_error"
        revoke_key(row["key_id"])
        deadline = time.monotonic() + 10
        while True:  # the key ring is re-read every GATEWAY_KEY_REFRESH_SECONDS
            try:
                ok.models.list()
            except openai.AuthenticationError:
                break
            assert time.monotonic() < deadline, "a revoked key was still accepted"
            time.sleep(0.05)


def test_no_key_is_served_only_on_loopback_while_no_key_exists(fakes, db, monkeypatch, tmp_path):
    with gateway(monkeypatch, tmp_path, gateway_company="Solo") as g:
        c = openai.OpenAI(base_url=g.base_url, api_key="unused", max_retries=0, default_headers={"Authorization": ""})
        assert c.chat.completions.create(model="gpt-4o-mini", messages=HI).choices
    with gateway(monkeypatch, tmp_path, loopback=False) as g:
        c = openai.OpenAI(base_url=g.base_url, api_key="unused", max_retries=0, default_headers={"Authorization": ""})
        with pytest.raises(openai.AuthenticationError):
            c.models.list()


def test_rate_limit_per_key_answers_429_with_retry_after(fakes, db, monkeypatch, tmp_path):
    key, _ = create_key("Acme", requests_per_minute=2)
    with gateway(monkeypatch, tmp_path) as g:
        c = openai.OpenAI(base_url=g.base_url, api_key=key, max_retries=0)
        c.models.list()
        c.models.list()
        with pytest.raises(openai.RateLimitError) as e:
            c.models.list()
    assert int(e.value.response.headers["retry-after"]) >= 1
    assert e.value.body["code"] == "rate_limit_exceeded"


def test_serve_refuses_a_public_address_without_keys(db):
    out = subprocess.run(
        [sys.executable, "-m", "core", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2 and "no gateway key exists" in out.stdout
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.9.9.9")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.0.2.10")
