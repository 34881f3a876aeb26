"""A refused setting never echoes its value: DSNs and keys carry passwords."""

import io
import logging
import traceback

import pytest
from pydantic import ValidationError

from core import config
from core.redact import MIN_SECRET_LENGTH, redact


def test_bad_database_url_does_not_print_the_password(monkeypatch, cli, run_worker):
    monkeypatch.setenv("DATABASE_URL", "mysql://user:s3cretPW@db/x")
    proc = cli("budget", "list")
    assert proc.returncode != 0
    assert "s3cretPW" not in proc.stdout + proc.stderr
    assert "DATABASE_URL" in proc.stdout + proc.stderr
    # The worker stops on the refused setting with a traceback: what Python would print of it names the setting,
    # never its value.
    with pytest.raises(ValidationError) as refused:
        run_worker("--once", "alerts")
    printed = "".join(traceback.format_exception(refused.value))
    assert "s3cretPW" not in printed and "DATABASE_URL" in printed


def test_redaction_of_notification_urls_and_dsns():
    assert redact("mailtos://host?user=x&pass=SECRET") == "mailtos://***"
    assert redact("tgram://bot:TOKEN/chat failed") == "tgram://*** failed"
    assert redact("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
    assert redact("key sk-proj-abcdefghijkl and AIzaSyA1234567890abcdefghij") == "key sk-*** and AIza***"
    assert redact("https://x.test/v1?key=abc&x=1") == "https://x.test/v1?key=***&x=1"


# -- redaction by value --------------------------------------------------------------------------------------


@pytest.fixture
def secrets_env(monkeypatch):
    """set(NAME=value, ...): only these secrets configured (a developer's .env or secrets file is not read)."""
    monkeypatch.chdir("/")  # no .env here
    names = (
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "OPENAI_ADMIN_KEY",
        "ANTHROPIC_ADMIN_KEY",
        "NOTIFY_URLS",
        "ADMIN_NOTIFY_URLS",
    )

    def set_env(**values):
        for name in names:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AUTH_SECRETS_FILE", "/nonexistent/aium-test-secrets.toml")
        monkeypatch.setenv("DATABASE_URL", "sqlite:///nonexistent.db")
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        config.reset_settings()

    yield set_env
    config.reset_settings()


def test_keys_of_any_shape_are_masked_with_their_encoded_forms(secrets_env):
    secrets_env(OPENAI_API_KEY="proxy-7f3c9a1b2e", GEMINI_API_KEY="AIzaShort1", ANTHROPIC_ADMIN_KEY='k/y+1 "q"\\z')
    assert redact("Incorrect API key provided: proxy-7f3c9a1b2e.") == "Incorrect API key provided: ***."
    assert redact("key=AIzaShort1&x") == "key=***&x" and redact("AIzaShort1") == "***"
    text = 'raw k/y+1 "q"\\z path k%2Fy%2B1%20%22q%22%5Cz query k%2Fy%2B1+%22q%22%5Cz json k/y+1 \\"q\\"\\\\z'
    assert redact(text) == "raw *** path *** query *** json ***"


def test_short_values_are_left_to_the_patterns_and_the_longest_value_wins(secrets_env):
    assert MIN_SECRET_LENGTH == 6
    secrets_env(OPENAI_API_KEY="abc12", GEMINI_API_KEY="proxy-7f", OPENAI_ADMIN_KEY="proxy-7f3c9a1b2e")
    assert redact("abc12 abc123 a cab") == "abc12 abc123 a cab"  # under 6 characters: every "abc12" would go
    assert redact("proxy-7f3c9a1b2e / proxy-7f") == "*** / ***"  # nothing of the longer key is left behind


def test_settings_change_rebuilds_the_values(secrets_env):
    secrets_env(OPENAI_API_KEY="first-key-123")
    assert redact("first-key-123") == "***"
    secrets_env(OPENAI_API_KEY="second-key-456")
    assert redact("first-key-123 second-key-456") == "first-key-123 ***"


def test_dsn_password_notification_credentials_and_oidc_secrets(secrets_env, tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        '[auth]\ncookie_secret = "c00kieSecretXyz"\nredirect_uri = "http://localhost:8501/cb"\n'
        '[auth.google]\nclient_id = "monitor-app"\nclient_secret = "oidcClientS3cret"\n'
    )
    secrets_env(
        NOTIFY_URLS="json://hookUser7:hookPass99@127.0.0.1:9/webhook/Tok3nPath9?token=qTok3n77&mode=x",
        ADMIN_NOTIFY_URLS="slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        DATABASE_URL="postgresql+psycopg://aium:Pg%40pass-3e1@db.internal:5432/aium",
        AUTH_SECRETS_FILE=str(secrets),
    )
    for value in (
        "Pg@pass-3e1",
        "Pg%40pass-3e1",
        "hookUser7",
        "hookPass99",
        "Tok3nPath9",
        "qTok3n77",
        "T1JJ3T3L2",
        "A1BRTD4JD",
        "TIiajkdnlazkcOXrIdevi7FQ",
        "c00kieSecretXyz",
        "oidcClientS3cret",
    ):
        assert redact(f"echo {value} end") == "echo *** end", value
    # Plain words and hosts of those URLs, and the non-secret OIDC settings, stay readable.
    assert redact("webhook monitor-app db.internal 127.0.0.1") == "webhook monitor-app db.internal 127.0.0.1"


def test_every_log_record_leaves_redacted(secrets_env):
    import core  # noqa: F401 - importing core installs the redacting record factory

    secrets_env(OPENAI_API_KEY="proxy-7f3c9a1b2e")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("aium.test.redaction")
    log.addHandler(handler)
    try:
        log.warning("forgot to redact %s", "proxy-7f3c9a1b2e")
        try:
            raise RuntimeError("401: proxy-7f3c9a1b2e")
        except RuntimeError:
            log.exception("failed with %r", {"key": "proxy-7f3c9a1b2e"})
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert "proxy-7f3c9a1b2e" not in out
    assert "forgot to redact ***" in out and "RuntimeError: 401: ***" in out
