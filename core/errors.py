"""Errors the domain raises for bad input, shared by every layer (the messages name the field and the value)."""

from __future__ import annotations


class InvalidRecord(ValueError):
    def __init__(self, field_name: str, value, reason: str):
        self.field = field_name
        self.value = value
        self.reason = reason
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{field_name}={shown}: {reason}")


class UsageConflict(ValueError):
    """The job_id exists with different content; the stored record is left as it was."""

    def __init__(self, job_id: str):
        self.job_id = job_id
        super().__init__(f"job_id={job_id!r}: already recorded with different content (conflict)")
