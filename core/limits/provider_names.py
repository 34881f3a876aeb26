"""Which provider names a budget, quota or price may name: those that exist somewhere.

A provider is known when the pricing catalog prices it (genai-prices' providers under our names, and the
self-hosted ones), when it is configured (its settings are set), when the ledger holds usage of it, or when a budget,
quota or price already names it (it was accepted once). Anything else is most likely a typo ("opnai") that would
never match any usage, so it is refused with the close matches, unless the caller says it is a new provider.
Names are compared lower-case and trimmed, as they are stored.
"""

from __future__ import annotations

import difflib

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from core.errors import InvalidRecord
from core.storage.models import AIJobUsage, Budget, PriceOverride, Quota, UsageDailyModel

NEW_PROVIDER_HINT = "for a new provider: --allow-new-provider, or tick 'This is a new provider' in Settings"


def _configured() -> set[str]:
    from core.config import get_settings

    return set(get_settings().configured_providers())


def _catalog() -> frozenset[str]:
    from core.pricing.catalog import catalog_providers  # loads genai-prices' data: only when the cheaper sources miss

    return catalog_providers()


def _in_storage(session: Session, name: str) -> bool:
    # The ledger's (provider_name, created_at) index answers the first look-up without a scan.
    found = session.scalar(select(AIJobUsage.id).where(AIJobUsage.provider_name == name).limit(1))
    if found is not None:
        return True
    return any(
        session.scalar(select(col).where(col == name).limit(1)) is not None
        for col in (Budget.provider, Quota.provider, PriceOverride.provider)
    )


def stored_providers(session: Session) -> set[str]:
    """Provider names in the ledger (read from its daily rollup) and in the budgets, quotas and prices."""
    q = union(
        select(UsageDailyModel.provider_name),
        select(Budget.provider),
        select(Quota.provider),
        select(PriceOverride.provider),
    )
    return {name for name in session.scalars(q) if name}


def known_providers(session: Session) -> set[str]:
    """Every provider name a budget, quota or price may name without being marked as new."""
    return _configured() | set(_catalog()) | stored_providers(session)


def check_provider(session: Session, provider: str, *, allow_new: bool = False) -> str:
    """The provider name, lower-case and trimmed; InvalidRecord when nothing knows it and it is not marked new."""
    name = provider.strip().lower()
    if allow_new or name in _configured() or _in_storage(session, name) or name in _catalog():
        return name
    close = difflib.get_close_matches(name, sorted(known_providers(session)), n=3, cutoff=0.6)
    if close:
        reason = f"unknown provider — did you mean {' or '.join(close)}? ({NEW_PROVIDER_HINT})"
    else:
        reason = (
            "unknown provider: not in the pricing catalog, the configured providers or the ledger "
            f"({NEW_PROVIDER_HINT})"
        )
    raise InvalidRecord("provider", name, reason)
