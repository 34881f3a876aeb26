"""Every table's model, by concern: the ledger (`ledger_models`: companies, brands, jobs and their usage), the
rollups (`rollup_models`), limits and prices (`limit_models`), alerts and notifications (`alert_models`), the
worker's state (`worker_models`). Importing this module loads them all (SQLAlchemy resolves their relationships
across modules); the rest of the code imports the models from here.
"""

from core.storage.alert_models import Alert, NotifyChannel, NotifyDelivery
from core.storage.gateway_models import GatewayKey
from core.storage.ledger_models import (
    DEFAULT_BRAND,
    JOB_STATUSES,
    NO_OPERATION,
    PRICING_STATUSES,
    AIJob,
    AIJobUsage,
    Base,
    Brand,
    Company,
)
from core.storage.limit_models import Budget, PriceOverride, ProviderCost, Quota
from core.storage.rollup_models import (
    LedgerTotals,
    RollupMeasures,
    UsageDaily,
    UsageDailyModel,
    UsageDailyScope,
    UsageHourly,
)
from core.storage.worker_models import (
    PROBE_BATCH_KEY,
    PROBE_OPERATION,
    PROBE_STOPPED,
    JobLock,
    ProbeRun,
    WorkerHeartbeat,
    WorkerState,
)

__all__ = [
    "DEFAULT_BRAND",
    "JOB_STATUSES",
    "NO_OPERATION",
    "PRICING_STATUSES",
    "PROBE_BATCH_KEY",
    "PROBE_OPERATION",
    "PROBE_STOPPED",
    "AIJob",
    "AIJobUsage",
    "Alert",
    "Base",
    "Brand",
    "Budget",
    "Company",
    "GatewayKey",
    "JobLock",
    "LedgerTotals",
    "NotifyChannel",
    "NotifyDelivery",
    "PriceOverride",
    "ProbeRun",
    "ProviderCost",
    "Quota",
    "RollupMeasures",
    "UsageDaily",
    "UsageDailyModel",
    "UsageDailyScope",
    "UsageHourly",
    "WorkerHeartbeat",
    "WorkerState",
]
