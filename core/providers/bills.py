"""The providers whose own bill the monitor reads: their sync, the admin key each needs, their name in messages.

The command line (`python -m core sync PROVIDER`), the worker's daily sync and the Costs page's reconciliation
all start from this list, so a new billed provider is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.config import Settings, get_settings
from core.providers import anthropic_sync, openai_sync


@dataclass(frozen=True)
class BilledProvider:
    name: str  # as in the ledger: "openai"
    label: str  # "OpenAI"
    key_setting: str  # the environment variable of its admin key
    what: str  # what is read, in messages
    sync: Callable[..., dict]  # sync(since, until, now=None, *, company=None, session=None, actor=None)
    daily: Callable[..., dict]  # the worker's job: daily(now=None)

    def configured(self, settings: Settings | None = None) -> bool:
        return getattr(settings or get_settings(), self.key_setting.lower()) is not None


BILLED = {
    "openai": BilledProvider(
        "openai",
        "OpenAI",
        "OPENAI_ADMIN_KEY",
        "the Usage and Costs APIs",
        openai_sync.sync_openai,
        openai_sync.daily_sync_job,
    ),
    "anthropic": BilledProvider(
        "anthropic",
        "Anthropic",
        "ANTHROPIC_ADMIN_KEY",
        "the usage and cost reports",
        anthropic_sync.sync_anthropic,
        anthropic_sync.daily_sync_job,
    ),
}


def configured_bills(settings: Settings | None = None) -> list[BilledProvider]:
    """The billed providers whose admin key is set, in BILLED's order."""
    return [b for b in BILLED.values() if b.configured(settings)]
