"""Storage: the engine and sessions (`db`), the SQLAlchemy models and column types, the rollups kept in step with
the ledger, the batch writers (row and column form, COPY on PostgreSQL), the write-side bounds (`bounds`,
`headroom`), company and brand ids by name (`names`) and the named locks.

May import: the shared leaves (config, errors, fields, redact). Never imports ingest, queries or anything above.
"""
