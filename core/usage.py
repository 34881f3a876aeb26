"""Public facade for recording usage: `record_usage` (one record, idempotent on `job_id`) and `normalize_usage`
(a provider's usage payload in our token shape). The code lives in `core.ingest.record` and
`core.providers.usage_shapes`."""

from core.errors import InvalidRecord, UsageConflict  # noqa: F401  (raised by record_usage)
from core.ingest.record import ingest, record_usage  # noqa: F401
from core.providers.usage_shapes import normalize_usage  # noqa: F401
