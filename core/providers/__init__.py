"""The AI providers: their configuration and clients (`registry`), operations and their fallback chains
(`operations`), usage payload shapes (`usage_shapes`), the tracked client that records every attempt (`tracked`), the
bill syncs (`openai_sync`) and the reconciliation of estimates with bills (`reconcile`).

May import: the shared leaves, `storage`, `pricing`, `ingest`, `queries`, `limits`.
"""
