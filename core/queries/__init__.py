"""Grouped and raw reads of the ledger: grouped figures over a time range from the rollups and the raw edges
(`aggregate`), the costliest rows of a range (`costliest`), the usage list and one usage (`usage_list`), its CSV
export (`usage_export`), and the checks on filter values a reader gives (`values`, `list_filters`).

May import: the shared leaves and `storage`.
"""
