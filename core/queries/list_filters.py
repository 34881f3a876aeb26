"""The usage list's filters (its query parameter names), shared by the ledger reads and the command line.

A leaf with no imports, so the command line can declare its filter flags without loading the ledger.
"""

FILTERS = (
    "provider_name",
    "model_name",
    "total_cost__gte",
    "execution_time_seconds__gte",
    "success_rate__lt",
    "created_at__gte",
    "created_at__lt",
    "ai_job__brand",
    "ai_job__status",
    "pricing_status",
)
