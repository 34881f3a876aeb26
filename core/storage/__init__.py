"""Storage: the engine and sessions (`db`), the SQLAlchemy models and column types, the rollups kept in step with
the ledger, the ledger's one writer (`writer`: a batch of records in row or column form, COPY on PostgreSQL, one
statement for one record, with `one_record` and the column helpers of `columns`), the write-side bounds (`bounds`,
`headroom`), company and brand ids by name (`names`) and the named locks.

May import: the shared leaves (config, errors, fields, redact). Never imports ingest, queries or anything above.
"""
