"""The worker's jobs: the daily budget probe and its report, the alert checks, the bill syncs, the heartbeat the
dashboard reads, and their locks and schedule bookkeeping. `worker.py` only loops over them.

May import: everything below it in core (alerts, providers, limits, queries, ingest, storage and the leaves).
"""
