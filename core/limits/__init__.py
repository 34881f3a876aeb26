"""Budgets, quotas and price overrides: validated writes and listings (`budgets`), month-to-date spend against
them (`spend`) and which provider names they may name (`provider_names`).

May import: the shared leaves, `access`, `storage`, `pricing`, `queries`, `providers.registry`.
"""
