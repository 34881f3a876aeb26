"""Notification channels: the configured apprise URLs, how each is identified without storing it, its back-off,
and the status the dashboard and the worker log show.

A channel is one URL of NOTIFY_URLS (every alert) or ADMIN_NOTIFY_URLS (critical alerts); a URL in both is one
channel. Its identity is a salted, slow hash of the URL (a leaked database must not make the credentials inside
it cheap to guess), and its label keeps the scheme and, for webhooks and email, the host: `json · host:port`
(no "://", so that the redaction of URLs in logs leaves the label readable).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import timedelta

import apprise
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import iso_z
from core.config import Settings, get_settings
from core.redact import redact
from core.storage.db import session_scope
from core.storage.models import NotifyChannel

# Schemes whose host is a host (for the others, e.g. slack://TokenA/…, the "host" is a credential).
HOST_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls", "mailto", "mailtos"})
_KEY_SALT = b"aium.notify.channel.v1"
_KEY_ROUNDS = 100_000
_MAX_DOUBLINGS = 20


def split_urls(secret) -> list[str]:
    if secret is None:
        return []
    raw = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
    return [u.strip() for u in raw.replace("\n", ",").split(",") if u.strip()]


@functools.lru_cache(maxsize=64)
def channel_key(url: str) -> str:
    """Stable identity of a URL (64 hex characters); the URL cannot be read back from it."""
    return hashlib.pbkdf2_hmac("sha256", url.encode(), _KEY_SALT, _KEY_ROUNDS).hex()


@functools.lru_cache(maxsize=64)
def channel_label(url: str) -> str:
    """`json · 127.0.0.1:8080`, `mailtos · smtp.example.com`, `slack`: never a credential."""
    plugin = apprise.Apprise.instantiate(url)
    scheme = url.split("://", 1)[0].strip().lower() if "://" in url else ""
    if plugin is None or not scheme.isalnum():
        return "invalid apprise URL"
    host = getattr(plugin, "host", None)
    if scheme in HOST_SCHEMES and isinstance(host, str) and host:
        port = getattr(plugin, "port", None)
        return redact(f"{scheme} · {host}{f':{port}' if port else ''}")
    return scheme


@dataclass(frozen=True)
class Channel:
    key: str
    url: str = field(repr=False)
    label: str
    source: str  # "URL #1", "admin URL #1", or both
    every_alert: bool  # in NOTIFY_URLS
    critical: bool  # in ADMIN_NOTIFY_URLS

    def addresses(self, severity: str) -> bool:
        return self.every_alert or (self.critical and severity == "critical")


def configured(settings: Settings | None = None) -> list[Channel]:
    """The channels of NOTIFY_URLS then ADMIN_NOTIFY_URLS, one per distinct URL."""
    s = settings or get_settings()
    found: dict[str, dict] = {}
    for setting, name, is_admin in ((s.notify_urls, "URL", False), (s.admin_notify_urls, "admin URL", True)):
        for index, url in enumerate(split_urls(setting), 1):
            entry = found.setdefault(channel_key(url), {"url": url, "sources": [], "every": False, "admin": False})
            entry["sources"].append(f"{name} #{index}")
            entry["admin" if is_admin else "every"] = True
    return [
        Channel(key, e["url"], channel_label(e["url"]), ", ".join(e["sources"]), e["every"], e["admin"])
        for key, e in found.items()
    ]


def retry_delay(failures: int, settings: Settings | None = None) -> timedelta:
    """Back-off of a failing channel: one check interval, doubling at each failure, at most NOTIFY_REPEAT_HOURS."""
    s = settings or get_settings()
    first = timedelta(minutes=s.check_interval_minutes)
    return min(first * 2 ** min(max(failures, 1) - 1, _MAX_DOUBLINGS), timedelta(hours=s.notify_repeat_hours))


def channel_status(*, settings: Settings | None = None, session: Session | None = None) -> list[dict]:
    """Each configured channel: label, where it is configured, state ("ok", "failing", "not used yet"), since
    when it fails, consecutive failures, last error (redacted), next attempt, last success."""
    channels = configured(settings)
    if not channels:
        return []
    with session_scope(session) as s:
        rows = {
            r.channel_key: r
            for r in s.scalars(select(NotifyChannel).where(NotifyChannel.channel_key.in_([c.key for c in channels])))
        }
    out = []
    for c in channels:
        r = rows.get(c.key)
        state = "not used yet" if r is None or r.last_attempt_at is None else r.state
        out.append(
            {
                "label": c.label,
                "source": c.source,
                "state": state,
                "failing_since": iso_z(r.failing_since) if r else None,
                "consecutive_failures": r.consecutive_failures if r else 0,
                "last_error": r.last_error if r and r.state == "failing" else None,
                "last_status": r.last_status if r and r.state == "failing" else None,
                "next_attempt_at": iso_z(r.next_attempt_at) if r else None,
                "last_attempt_at": iso_z(r.last_attempt_at) if r else None,
                "last_ok_at": iso_z(r.last_ok_at) if r else None,
            }
        )
    return out
