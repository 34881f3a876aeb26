"""Configured secrets of any shape never leave the process: keys not shaped like keys (a proxy's key, a short
`AIza…` key), admin keys, the DSN password, the credentials inside notification URLs and the OIDC secrets are
masked by value in every sink — the probe report, stdout and stderr, the log file, every text column of every
table, the webhook body, the CSV export, what core returns to the pages, and the rendered pages themselves.

The providers are fake servers on loopback that answer 401 with a body echoing the key they were sent (and the
other secrets, as a careless proxy might echo its settings); `worker.py --once all` runs with its own log set-up.
"""

import io
import json
import logging

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.alerts import active_alerts, list_alerts
from core.analytics import get_usage, get_usage_dashboard, list_usage
from core.llm import AllProvidersFailed, complete
from core.queries.usage_export import export_csv_text
from core.storage import db as core_db
from core.storage.models import Base
from tests.fakes.provider_server import FakeProvider
from tests.fakes.webhook_server import Webhook
from tests.helpers.apptest import dashboard, page_alone

KEYS = {
    "OPENAI_API_KEY": "proxy-7f3c9a1b2e",
    "GEMINI_API_KEY": "AIzaShort1",
    "OPENAI_ADMIN_KEY": "adm1n-Key-42",
    "ANTHROPIC_ADMIN_KEY": "anthr0pic-Admin-77",
}
HOOK_USER, HOOK_PASSWORD, HOOK_PATH_TOKEN, HOOK_QUERY_TOKEN = "hookUser7", "hookPass99", "Tok3nPath9", "qTok3n77"
OIDC_CLIENT_SECRET, OIDC_COOKIE_SECRET = "oidcClientS3cret", "c00kieSecretXyz"
PG_PASSWORD = "Pg-pass-3e1"  # trust authentication ignores it, but the settings hold it as a secret


@pytest.fixture(autouse=True)
def _fresh_cache(fresh_cache):
    yield


@pytest.fixture
def hook():
    receiver = Webhook()
    yield receiver
    receiver.close()


def with_password(url: str) -> str:
    """The PostgreSQL URL with a password in it (SQLite URLs have none)."""
    if not url.startswith("postgresql"):
        return url
    scheme, rest = url.split("://", 1)
    user, host = rest.split("@", 1)
    return f"{scheme}://{user}:{PG_PASSWORD}@{host}"


def table_text(url: str) -> dict[str, str]:
    """Every value of every table (iterating the metadata, so new tables are covered), one text per table."""
    engine = core_db.get_engine(url)
    out = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            out[table.name] = "\n".join(" ".join(str(v) for v in row) for row in conn.execute(select(table)))
    return out


def rendered(at: AppTest) -> str:
    """Everything an AppTest run put on the page (protos hold text, tables and dataframe bytes alike)."""
    parts = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts).replace("\\", "")  # markdown escapes (proxy\-7f3c…) must not hide a leak


def test_configured_secrets_of_any_shape_never_leave_the_process(db, env, hook, tmp_path, run_worker):
    secrets_file = tmp_path / "secrets.toml"
    secrets_file.write_text(
        f'[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\n'
        f'cookie_secret = "{OIDC_COOKIE_SECRET}"\n'
        f'[auth.idp]\nclient_id = "monitor"\nclient_secret = "{OIDC_CLIENT_SECRET}"\n'
        f'server_metadata_url = "http://127.0.0.1:1/.well-known/openid-configuration"\n'
    )
    notify_url = hook.url(f"hooks/{HOOK_PATH_TOKEN}", f"{HOOK_USER}:{HOOK_PASSWORD}") + f"?token={HOOK_QUERY_TOKEN}"
    url = with_password(db)
    secrets = [
        *KEYS.values(),
        HOOK_USER,
        HOOK_PASSWORD,
        HOOK_PATH_TOKEN,
        HOOK_QUERY_TOKEN,
        notify_url,
        OIDC_CLIENT_SECRET,
        OIDC_COOKIE_SECRET,
    ] + ([PG_PASSWORD] if url != db else [])
    log_file = tmp_path / "worker.log"

    with FakeProvider("openai", "gpt-4o-mini") as openai_fake, FakeProvider("gemini", "gemini-2.0-flash") as gemini:
        # A careless proxy echoes the key it was sent, and its settings with it.
        for fake in (openai_fake, gemini):
            fake.mode = "401_echo"
            fake.echo = "settings: " + " ".join(s for s in secrets if s not in KEYS.values())
        env(
            DATABASE_URL=url,
            **KEYS,
            OPENAI_BASE_URL=openai_fake.base_url,
            GEMINI_BASE_URL=gemini.base_url,
            NOTIFY_URLS=notify_url,
            AUTH_SECRETS_FILE=str(secrets_file),
            LOG_FILE=str(log_file),
            PROBE_TIMEOUT_SECONDS="5",
            OPERATIONS_FILE="/nonexistent/operations.toml",
        )

        proc = run_worker("--once", "all")
        assert proc.returncode == 1, proc.stderr  # provider_unavailable fired

        # The tracked client writes the failure into ai_jobs.description and raises with it.
        with pytest.raises(AllProvidersFailed) as failed:
            complete("chat", [{"role": "user", "content": "hi"}], company="Acme")

        # A log call that forgot redact is cleaned all the same, traceback included.
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        logging.getLogger().addHandler(handler)
        try:
            logging.getLogger("core.test").warning("careless %s", " ".join(secrets))
            try:
                raise RuntimeError("careless " + " ".join(secrets))
            except RuntimeError:
                logging.getLogger("core.test").exception("failed")
        finally:
            logging.getLogger().removeHandler(handler)

        echoed = [r for r in openai_fake.requests + gemini.requests if r["path"].endswith("/chat/completions")]
        assert len(echoed) >= 4  # the probe and the tracked client reached both fakes

    usage = list_usage(page_size=200)
    sinks = {
        "probe report (stdout)": proc.stdout,
        "worker stderr": proc.stderr,
        "log file": log_file.read_text(encoding="utf-8"),
        "tracked client error": str(failed.value),
        "log handler": stream.getvalue(),
        "webhook bodies": json.dumps([r["body"] for r in hook.received]),
        "CSV export": export_csv_text(),
        "list_usage": json.dumps(usage, default=str),
        "get_usage": json.dumps([get_usage(r["id"]) for r in usage["results"]], default=str),
        "usage dashboard": json.dumps(get_usage_dashboard(), default=str),
        "list_alerts": json.dumps(list_alerts(), default=str),
        "active_alerts": json.dumps(active_alerts(), default=str),
        **{f"table {name}": text for name, text in table_text(url).items()},
    }
    # The pages, rendered as the browser gets them (local mode: the OIDC file would ask for a login).
    env(AUTH_SECRETS_FILE="/nonexistent/aium-test-secrets.toml")
    overview = dashboard().run()
    alerts = page_alone("alerts").run()
    assert not overview.exception and not alerts.exception
    sinks["Overview page"], sinks["Alerts page"] = rendered(overview), rendered(alerts)

    leaks = {name: found for name, text in sinks.items() if (found := [s for s in secrets if s in text])}
    assert not leaks, f"{len(leaks)} sinks leak: {sorted(leaks)}"
    # Each sink was reached by the echoed error: the masked key is where the raw one would have been.
    for name in (
        "probe report (stdout)",
        "worker stderr",
        "log file",
        "tracked client error",
        "webhook bodies",
        "CSV export",
        "list_alerts",
        "table alerts",
        "table probe_runs",
        "table ai_jobs",
        "Overview page",
        "Alerts page",
    ):
        assert "Incorrect API key provided: ***" in sinks[name], name
    assert hook.delivered and "provider_unavailable" in sinks["webhook bodies"]
