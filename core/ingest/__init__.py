"""Getting usage in: one record (`record`: record_usage, ingest) or a batch as columns (`frames`), the checks of a
record and of a column (`checks`, `column_checks`), files and their formats (`files`, `formats`) and the demo data.

May import: the shared leaves, `storage`, `pricing`, `providers.usage_shapes`.
"""
