"""Gateway keys: created (shown once), listed, revoked; and the server's in-memory key ring that checks them.

A key reads `sk-aium-<key id>-<secret>`: the `sk-` shape is one that core.redact masks wherever a key turns up in
text. Only its SHA-256 is stored. The ring looks a presented key up by its key id and compares the hashes with
`hmac.compare_digest`, so the time taken says nothing about how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from core.access.users import User, authorize
from core.errors import InvalidRecord
from core.fields import text
from core.storage.db import session_scope
from core.storage.gateway_models import GatewayKey
from core.storage.models import Company
from core.storage.names import get_or_create_company

PREFIX = "sk-aium-"
KEY_ID_LENGTH = 12
MAX_RPM = 1_000_000


@dataclass(frozen=True)
class KeyInfo:
    key_id: str
    key_hash: str
    company: str
    brand: str | None
    requests_per_minute: int | None

    def __repr__(self) -> str:  # the hash is not the key, but it has no business in a log either
        return f"KeyInfo(key_id={self.key_id!r}, company={self.company!r}, brand={self.brand!r})"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def split_key(key: str) -> str | None:
    """The key id of a well-formed key, else None."""
    if not key.startswith(PREFIX) or len(key) < len(PREFIX) + KEY_ID_LENGTH + 2:
        return None
    key_id, dash = key[len(PREFIX) : len(PREFIX) + KEY_ID_LENGTH], key[len(PREFIX) + KEY_ID_LENGTH]
    return key_id if dash == "-" else None


def _rpm(value) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        n = int(str(value).strip())
    except ValueError:
        raise InvalidRecord("requests_per_minute", value, "must be a whole number") from None
    if not 1 <= n <= MAX_RPM:
        raise InvalidRecord("requests_per_minute", value, f"must be between 1 and {MAX_RPM:,}")
    return n


def create_key(
    company: str,
    *,
    brand: str | None = None,
    label: str | None = None,
    requests_per_minute: int | str | None = None,
    actor: User | None = None,
) -> tuple[str, dict]:
    """A new key for `company` (created if new): (the key, its listing row). The key is not stored: show it now."""
    company = text("company", company, max_len=200)
    brand = None if brand is None or not str(brand).strip() else text("brand", brand, max_len=200)
    label = None if label is None or not str(label).strip() else text("label", label, max_len=200)
    rpm = _rpm(requests_per_minute)
    who = authorize(actor, "create gateway keys", company=company)
    key_id = secrets.token_hex(KEY_ID_LENGTH // 2)
    key = f"{PREFIX}{key_id}-{secrets.token_urlsafe(32)}"
    with session_scope() as s:
        row = GatewayKey(
            key_id=key_id,
            key_hash=hash_key(key),
            company_id=get_or_create_company(s, company),
            brand=brand,
            label=label,
            requests_per_minute=rpm,
            created_at=datetime.now(UTC),
            created_by=who.username,
        )
        s.add(row)
        s.flush()
        return key, _row(row, company)


def _row(k: GatewayKey, company: str) -> dict:
    return {
        "key_id": k.key_id,
        "company": company,
        "brand": k.brand,
        "label": k.label,
        "requests_per_minute": k.requests_per_minute,
        "created_at": k.created_at,
        "created_by": k.created_by,
        "revoked_at": k.revoked_at,
        "revoked_by": k.revoked_by,
        "active": k.revoked_at is None,
    }


def list_keys(*, company: str | None = None, include_revoked: bool = True) -> list[dict]:
    """Keys, newest first (never the key itself: it is not stored)."""
    with session_scope() as s:
        q = select(GatewayKey, Company.name).join(Company, Company.id == GatewayKey.company_id)
        if company is not None:
            q = q.where(Company.name == company)
        if not include_revoked:
            q = q.where(GatewayKey.revoked_at.is_(None))
        return [_row(k, name) for k, name in s.execute(q.order_by(GatewayKey.created_at.desc(), GatewayKey.id.desc()))]


def revoke_key(key_id: str, *, actor: User | None = None) -> bool:
    """Revoke a key (by its key id, or the whole key). False when no active key has that id."""
    key_id = (key_id or "").strip()
    key_id = split_key(key_id) or key_id
    with session_scope() as s:
        found = s.execute(
            select(GatewayKey, Company.name)
            .join(Company, Company.id == GatewayKey.company_id)
            .where(GatewayKey.key_id == key_id, GatewayKey.revoked_at.is_(None))
        ).first()
        if found is None:
            return False
        row, company = found
        who = authorize(actor, "revoke gateway keys", company=company)
        row.revoked_at, row.revoked_by = datetime.now(UTC), who.username
        return True


def active_keys() -> dict[str, KeyInfo]:
    with session_scope() as s:
        q = (
            select(
                GatewayKey.key_id, GatewayKey.key_hash, Company.name, GatewayKey.brand, GatewayKey.requests_per_minute
            )
            .join(Company, Company.id == GatewayKey.company_id)
            .where(GatewayKey.revoked_at.is_(None))
        )
        return {r[0]: KeyInfo(*r) for r in s.execute(q)}


def any_active_key() -> bool:
    with session_scope() as s:
        return s.scalar(select(GatewayKey.id).where(GatewayKey.revoked_at.is_(None)).limit(1)) is not None


class KeyRing:
    """The active keys, held in memory and re-read every few seconds (a revocation takes effect within that)."""

    def __init__(self):
        self._keys: dict[str, KeyInfo] = {}
        self._lock = threading.Lock()
        self.loaded = False

    def refresh(self) -> None:
        keys = active_keys()
        with self._lock:
            self._keys, self.loaded = keys, True

    @property
    def empty(self) -> bool:
        return not self._keys

    def check(self, key: str) -> KeyInfo | None:
        info = self._keys.get(split_key(key) or "")
        if info is None:
            # Hash anyway: an unknown key id takes as long as a wrong secret.
            hmac.compare_digest(hash_key(key), "0" * 64)
            return None
        return info if hmac.compare_digest(hash_key(key), info.key_hash) else None
