"""The AI providers: their configuration and clients (`registry`), operations and their fallback chains
(`operations`), usage payload shapes (`usage_shapes`), the tracked client that records every attempt (`tracked`), the
bill syncs (`bill_sync` shared by `openai_sync` and `anthropic_sync`, listed in `bills`) and the reconciliation of
estimates with bills (`reconcile`).

May import: the shared leaves, `storage`, `pricing`, `ingest`, `queries`, `limits`, `access`.
"""
