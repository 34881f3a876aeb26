"""Getting usage in: one record (`record`: record_usage, ingest) or a batch as columns (`frames`), the checks of a
record and of a column (`checks`, `column_checks`), files and their formats (`files`: detection and the import of
rows, `lines`: the records of a file's lines, `formats`: other tools' files) and the demo data. Every record is
written by `core.storage.writer`.

May import: the shared leaves, `storage`, `pricing`, `providers.usage_shapes`.
"""
