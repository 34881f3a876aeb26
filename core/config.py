"""Settings from the environment (and `.env`): one documented field each.

Secrets are `SecretStr` so that printing the settings never shows them.
"""
from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SQLITE = PROJECT_ROOT / "data" / "usage.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

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
    openai_model: str = Field(default="gpt-4o-mini", description="Model used by the probe on OpenAI")
    ollama_model: str = Field(default="llama3.1:8b", description="Model used by the probe on Ollama")
    gemini_model: str = Field(default="gemini-2.0-flash", description="Model used by the probe on Gemini")
    provider_timeout_seconds: float = Field(default=20.0, gt=0, description="Timeout of every provider call")

    # Notifications (apprise URLs, comma-separated)
    notify_urls: SecretStr | None = Field(default=None, description="apprise URLs for every alert")
    admin_notify_urls: SecretStr | None = Field(default=None, description="apprise URLs for critical alerts")

    # Worker
    probe_time: str = Field(default="09:00", description="Daily probe time HH:MM")
    probe_timezone: str = Field(default="UTC", description="Timezone of probe_time")
    check_interval_minutes: int = Field(default=15, ge=1, description="Minutes between alert checks")
    notify_repeat_hours: int = Field(default=24, ge=1, description="Hours before an open alert is re-sent")
    log_file: str | None = Field(default=None, description="Also log worker events to this file")

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("postgresql")):
            # Don't echo the URL: it may carry a password.
            raise ValueError("DATABASE_URL must start with sqlite:// or postgresql+psycopg://")
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            v = "postgresql+psycopg://" + v.split("://", 1)[1]
        return v

    @field_validator("probe_time")
    @classmethod
    def _check_time(cls, v: str) -> str:
        hh, _, mm = v.partition(":")
        if not (hh.isdigit() and mm.isdigit() and 0 <= int(hh) < 24 and 0 <= int(mm) < 60):
            raise ValueError(f"PROBE_TIME must be HH:MM, got {v!r}")
        return f"{int(hh):02d}:{int(mm):02d}"


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()
