"""Settings from the environment (and `.env`): one documented field each.

Secrets are `SecretStr` so that printing the settings never shows them.
"""

from __future__ import annotations

import functools
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE = PROJECT_ROOT / "data" / "usage.db"


class Settings(BaseSettings):
    # hide_input_in_errors: a refused DATABASE_URL or key must not be echoed (it may carry a password).
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    # Storage
    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_SQLITE}",
        description="SQLAlchemy URL; sqlite:///path (default data/usage.db) or postgresql+psycopg://…",
    )

    # Providers (OpenAI-compatible chat endpoints)
    openai_base_url: str = Field(default="https://api.openai.com/v1", description="OpenAI API base URL")
    openai_api_key: SecretStr | None = Field(default=None, description="OpenAI API key")
    openai_admin_key: SecretStr | None = Field(default=None, description="OpenAI admin key (Usage/Costs API)")
    ollama_base_url: str | None = Field(default=None, description="Ollama base URL, e.g. http://localhost:11434/v1")
    gemini_base_url: str = Field(
        default="https://generativelanguage.googleapis.com/v1beta/openai",
        description="Gemini OpenAI-compatible base URL",
    )
    gemini_api_key: SecretStr | None = Field(default=None, description="Gemini API key")
    anthropic_admin_key: SecretStr | None = Field(
        default=None, description="Anthropic admin key (sk-ant-admin…) for the usage and cost reports"
    )
    anthropic_base_url: str = Field(
        default="https://api.anthropic.com",
        description="Anthropic API base URL (the Admin API's usage and cost reports are under /v1/organizations)",
    )
    openai_model: str = Field(default="gpt-4o-mini", description="Model used by the probe on OpenAI")
    ollama_model: str = Field(default="llama3.1:8b", description="Model used by the probe on Ollama")
    gemini_model: str = Field(default="gemini-2.0-flash", description="Model used by the probe on Gemini")
    provider_timeout_seconds: float = Field(default=20.0, gt=0, description="Timeout of every provider call")
    operations_file: str = Field(
        default="operations.toml",
        description=(
            "Operations TOML (provider chain and models per operation); relative paths start at the project root"
        ),
    )
    openai_sync_company: str = Field(
        default="default", description="Company that OpenAI Usage/Costs API rows are recorded under"
    )
    openai_sync_days: int = Field(
        default=3, ge=1, le=90, description="Days back (today included) that the daily OpenAI sync job re-reads"
    )
    openai_sync_retries: int = Field(
        default=3, ge=1, le=10, description="Attempts per Usage/Costs API page on 429/5xx/connection errors"
    )
    anthropic_sync_company: str = Field(
        default="default", description="Company that Anthropic usage and cost report rows are recorded under"
    )
    anthropic_sync_days: int = Field(
        default=3, ge=1, le=90, description="Days back (today included) that the daily Anthropic sync job re-reads"
    )
    anthropic_sync_retries: int = Field(
        default=3, ge=1, le=10, description="Attempts per usage/cost report page on 429/5xx/connection errors"
    )
    reconcile_tolerance_pct: Decimal = Field(
        default=Decimal("5"),
        ge=0,
        description="Reconciliation flags a day whose estimate differs from the bill by more than this percentage",
    )

    # Notifications (apprise URLs, comma-separated)
    notify_urls: SecretStr | None = Field(default=None, description="apprise URLs for every alert")
    admin_notify_urls: SecretStr | None = Field(default=None, description="apprise URLs for critical alerts")

    # Gateway (python -m core serve)
    gateway_host: str = Field(
        default="127.0.0.1", description="Address the gateway listens on (another than loopback needs gateway keys)"
    )
    gateway_port: int = Field(default=8787, ge=1, le=65535, description="Port of the gateway")
    gateway_workers: int = Field(
        default=0,
        ge=0,
        le=64,
        description=(
            "Server processes sharing the gateway's port (0: one per CPU core, at most 8). Each serves its share "
            "of the connections on its own event loop; one ledger writer serves them all"
        ),
    )
    gateway_company: str = Field(
        default="default",
        description=(
            "Company of calls made without a key (only while no gateway key exists and the gateway listens on loopback)"
        ),
    )
    gateway_spool_dir: str = Field(
        default="data/gateway-spool",
        description=(
            "Folder of the gateway's spool (records on disk until they are in the ledger); relative paths "
            "start at the project root"
        ),
    )
    gateway_spool_fsync: bool = Field(
        default=False,
        description=(
            "fsync each spooled record: survives a power loss too, at the cost of a disk flush per record "
            "(a killed process loses nothing either way)"
        ),
    )
    gateway_flush_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description=(
            "Seconds between two hand-overs of spooled records to the ledger writer (fewer, larger batches "
            "cost the writer less CPU per record)"
        ),
    )
    gateway_max_body_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Largest request body the gateway accepts (413 beyond)"
    )
    gateway_key_refresh_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Seconds between two reads of the gateway keys (a revocation takes effect within this)",
    )
    gateway_budget_refresh_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a company's budget and quota state is reused by the gateway before it is read again",
    )

    # Access control
    users_file: str = Field(
        default=str(PROJECT_ROOT / "data" / "users.json"),
        description="Password-login users (bcrypt hashes), managed with `python -m core user`",
    )
    auth_secrets_file: str = Field(
        default=str(PROJECT_ROOT / ".streamlit" / "secrets.toml"),
        description="Streamlit secrets file; an [auth] section there turns on OIDC login",
    )

    # Worker
    sync_time: str = Field(
        default="08:30",
        description=(
            "Daily provider-bill sync time HH:MM (OpenAI with OPENAI_ADMIN_KEY, Anthropic with ANTHROPIC_ADMIN_KEY)"
        ),
    )
    probe_time: str = Field(default="09:00", description="Daily probe time HH:MM")
    probe_timezone: str = Field(default="UTC", description="Timezone of probe_time")
    check_interval_minutes: int = Field(default=15, ge=1, description="Minutes between alert checks")
    notify_repeat_hours: int = Field(default=24, ge=1, description="Hours before an open alert is re-sent")
    log_file: str | None = Field(default=None, description="Also log worker events to this file")
    probe_company: str = Field(default="default", description="Company the probe's calls and provider alerts belong to")
    probe_operation: str = Field(default="probe", description="Operation whose fallback chain the probe walks")
    probe_timeout_seconds: float = Field(default=15.0, gt=0, description="Timeout of each probe call (seconds)")
    probe_max_tokens: int = Field(default=5, ge=1, le=5, description="Output tokens asked of each probe call (<= 5)")
    notify_retries: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Delivery attempts per channel and check (a refusal such as 404 is not retried)",
    )
    notify_retry_delay_seconds: float = Field(
        default=2.0, ge=0, description="Pause before the second delivery attempt (doubles at each further one)"
    )
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Longest time one delivery to one channel may take, retries included"
    )

    # Alert thresholds (the documented defaults; ratios are fractions: 0.8 = 80%)
    alert_quota_warning: Decimal = Field(
        default=Decimal("0.8"), gt=0, description="quota_warning at this share of a quota"
    )
    alert_quota_critical: Decimal = Field(
        default=Decimal("0.95"), gt=0, description="quota_critical at this share of a quota"
    )
    alert_quota_exceeded: Decimal = Field(
        default=Decimal("1.0"), gt=0, description="quota_exceeded at this share of a quota"
    )
    alert_cost_warning: Decimal = Field(
        default=Decimal("0.8"), gt=0, description="cost_warning at this share of a monthly budget"
    )
    alert_cost_exceeded: Decimal = Field(
        default=Decimal("1.0"), gt=0, description="cost_exceeded at this share of a monthly budget"
    )
    alert_remaining_under_usd: Decimal = Field(
        default=Decimal("5"), ge=0, description="budget_remaining_low when a budget's remaining USD is at or under this"
    )
    alert_daily_spike: Decimal = Field(
        default=Decimal("3.0"),
        gt=0,
        description="daily_spike when today's cost reaches this multiple of the trailing daily average",
    )
    alert_unusual_usage: Decimal = Field(
        default=Decimal("3.0"),
        gt=0,
        description="unusual_usage when today's tokens reach this multiple of the trailing daily median",
    )
    alert_baseline_days: int = Field(
        default=7, ge=1, description="Trailing days used as the baseline of spike / unusual / deviation rules"
    )
    alert_baseline_min_days: int = Field(
        default=3, ge=1, description="Days with usage needed in the baseline before those rules judge"
    )
    alert_failure_rate: Decimal = Field(
        default=Decimal("0.05"), gt=0, description="high_failure_rate when failed+timeout jobs reach this share"
    )
    alert_failure_window_days: int = Field(
        default=7, ge=1, description="Window of the failure-rate and slow-execution rules (days)"
    )
    # One failed job out of one is not a 100 % failure rate: rate rules judge only a sample this large.
    alert_min_jobs: int = Field(
        default=20,
        ge=1,
        description=(
            "Jobs needed in a rule's window before the failure-rate, slow-execution, cost-deviation and "
            "spike rules judge it"
        ),
    )
    alert_slow_execution_seconds: Decimal = Field(
        default=Decimal("30"), gt=0, description="slow_execution when a provider's average execution time reaches this"
    )
    alert_cost_deviation: Decimal = Field(
        default=Decimal("2.0"),
        gt=0,
        description="high_cost_deviation when a model's cost per job today reaches this multiple of its usual",
    )

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("postgresql")):
            # Don't echo the URL: it may carry a password.
            raise ValueError("DATABASE_URL must start with sqlite:// or postgresql+psycopg://")
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            v = "postgresql+psycopg://" + v.split("://", 1)[1]
        return v

    @field_validator("probe_time", "sync_time")
    @classmethod
    def _check_time(cls, v: str) -> str:
        hh, _, mm = v.partition(":")
        if not (hh.isdigit() and mm.isdigit() and 0 <= int(hh) < 24 and 0 <= int(mm) < 60):
            raise ValueError(f"must be HH:MM, got {v!r}")
        return f"{int(hh):02d}:{int(mm):02d}"

    def configured_providers(self) -> tuple[str, ...]:
        """The providers with enough settings to be called, in the default fallback order."""
        return tuple(
            name
            for name, ready in (
                ("openai", self.openai_api_key is not None),
                ("ollama", bool(self.ollama_base_url)),
                ("gemini", self.gemini_api_key is not None),
            )
            if ready
        )

    def secret_values(self) -> list[str]:
        """Every configured secret as plain text, for core.redact to mask wherever it appears.

        Provider and admin keys; the DATABASE_URL password; each NOTIFY_URLS / ADMIN_NOTIFY_URLS URL whole and the
        credentials inside it; the secrets of the Streamlit secrets file's [auth] section (OIDC client and cookie
        secrets).
        """
        keys = (self.openai_api_key, self.gemini_api_key, self.openai_admin_key, self.anthropic_admin_key)
        out = [k.get_secret_value() for k in keys if k is not None]
        out += _dsn_secrets(self.database_url)
        for urls in (self.notify_urls, self.admin_notify_urls):
            if urls is not None:
                for url in urls.get_secret_value().replace("\n", ",").split(","):
                    if url.strip():
                        out += [url.strip(), *_notify_url_secrets(url.strip())]
        out += _auth_secrets(Path(self.auth_secrets_file))
        return [v for v in dict.fromkeys(v.strip() for v in out) if v]


# A query parameter under such a name holds a credential, whatever its value looks like.
_SECRET_NAME = re.compile(r"(?i)pass|secret|token|key|auth|sig|cred|hook")
# Apprise URLs carry tokens as the user, the host or path segments (slack://T1/B2/C3, tgram://bot/chat): such a
# part is taken for a credential unless it is a plain lowercase word ("webhook", "localhost") or a host name.
_PLAIN_WORD = re.compile(r"[a-z]+")


def _token_like(part: str | None) -> bool:
    return bool(part) and not _PLAIN_WORD.fullmatch(part)


def _split(url: str):
    try:
        return urlsplit(url)
    except ValueError:  # a malformed URL: still masked whole
        return None


def _with_decoded(values) -> list[str]:
    out = []
    for v in values:
        if v:
            out += [v, unquote(v)]
    return out


def _dsn_secrets(url: str) -> list[str]:
    parts = _split(url)
    if parts is None:
        return []
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=False) if k.lower() == "password"]
    return _with_decoded(found)


def _notify_url_secrets(url: str) -> list[str]:
    parts = _split(url)
    if parts is None:
        return []
    found = [parts.password]
    # The host as written (hostname would lower-case a token), without port or brackets.
    host = parts.netloc.rpartition("@")[2].rsplit(":", 1)[0].strip("[]")
    found += [p for p in (parts.username, host) if _token_like(p) and "." not in p and ":" not in p]
    found += [seg for seg in parts.path.split("/") if _token_like(seg)]
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=False) if _SECRET_NAME.search(k)]
    return _with_decoded(found)


def _auth_secrets(path: Path) -> list[str]:
    """String values named like secrets under [auth] (and its provider subsections) of the Streamlit secrets file."""
    try:
        auth = tomllib.loads(path.read_text(encoding="utf-8")).get("auth")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    found: list[str] = []

    def walk(node) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str) and _SECRET_NAME.search(k):
                    found.append(v)
                else:
                    walk(v)

    walk(auth)
    return found


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()
