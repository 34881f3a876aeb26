"""What the alert rules read and return: the Context a check runs in (cached grouped figures, the probe company),
the Finding it returns, the alert types with their severities, and the labels and rounding their messages share."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import midnight
from core.config import Settings
from core.display import percent
from core.queries.aggregate import aggregate
from core.storage.models import PROBE_OPERATION, Company

SEVERITY = {
    "quota_warning": "warning",
    "quota_critical": "critical",
    "quota_exceeded": "critical",
    "cost_warning": "warning",
    "cost_exceeded": "critical",
    "budget_remaining_low": "warning",
    "daily_spike": "warning",
    "unusual_usage": "info",
    "high_failure_rate": "warning",
    "slow_execution": "info",
    "high_cost_deviation": "warning",
    "provider_unavailable": "critical",
}
ALERT_TYPES = tuple(SEVERITY)

_NAMES = {
    "openai": "OpenAI",
    "ollama": "Ollama",
    "gemini": "Gemini",
    "anthropic": "Anthropic",
    "mistral": "Mistral",
    "": "all providers",
}


def provider_label(provider: str) -> str:
    return _NAMES.get(provider, provider[:1].upper() + provider[1:])


def open_key(company_id: int | None, provider: str, alert_type: str) -> str:
    return f"{'' if company_id is None else company_id}:{provider}:{alert_type}"


def round_down(value: Decimal, places: str = "0.01") -> Decimal:
    # Rounded down so a value shown for a fired alert never appears to sit below its threshold.
    return value.quantize(Decimal(places), rounding=ROUND_DOWN)


def ratio_text(value: Decimal) -> str:
    """A ratio in a message: 2.50 -> '2.5', 3.00 -> '3'; never scientific notation. Money, counts, percentages
    and durations are shown by core.display, as on the pages."""
    return f"{value.normalize():f}"


def percent_down(value: Decimal) -> str:
    """A percentage in a message, one decimal as on the pages, rounded down: 99.99 reads 99.9%, never 100.0%."""
    return percent(round_down(value, "0.1"))


@dataclass(frozen=True)
class Finding:
    company_id: int
    provider: str
    alert_type: str
    threshold: Decimal
    current: Decimal
    message: str
    severity: str = ""

    @property
    def key(self) -> str:
        return open_key(self.company_id, self.provider, self.alert_type)

    @property
    def level(self) -> str:
        return self.severity or SEVERITY[self.alert_type]


@dataclass
class Context:
    session: Session
    now: datetime
    settings: Settings
    company_id: int | None  # None: every company
    _frames: dict = field(default_factory=dict)

    def probe_company_id(self, create: bool = False) -> int | None:
        """Id of PROBE_COMPANY; created only when an alert needs it (a check has no other side effect)."""
        name = self.settings.probe_company
        cid = self.session.scalar(select(Company.id).where(Company.name == name))
        if cid is None and create:
            from core.ingest.record import get_or_create_company

            cid = get_or_create_company(self.session, name)
        return cid

    @property
    def filters(self) -> dict:
        return {"company_id": self.company_id}

    def today_start(self) -> datetime:
        return midnight(self.now.astimezone(UTC).date())

    def daily_frame(self) -> pd.DataFrame:
        """Per day / company / provider / model figures from the baseline start up to now, probe calls left out."""
        if "daily" not in self._frames:
            start = self.today_start() - timedelta(days=self.settings.alert_baseline_days)
            df = aggregate(
                self.session,
                start=start,
                end=self.now,
                dims=["day", "company_id", "provider_name", "model_name", "operation"],
                filters=self.filters,
            )
            df = df[df["operation"] != PROBE_OPERATION].copy()
            df["day"] = df["day"].map(lambda d: str(d)[:10])
            self._frames["daily"] = df
        return self._frames["daily"]

    def window_frame(self) -> pd.DataFrame:
        """Per company / provider / status figures over the failure window, probe calls left out."""
        if "window" not in self._frames:
            start = self.now - timedelta(days=self.settings.alert_failure_window_days)
            df = aggregate(
                self.session,
                start=start,
                end=self.now,
                dims=["company_id", "provider_name", "operation", "job_status"],
                filters=self.filters,
            )
            df = df[(df["operation"] != PROBE_OPERATION) & (df["job_status"] != "running")].copy()
            self._frames["window"] = df
        return self._frames["window"]


def company_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Company.id, Company.name)).all())
