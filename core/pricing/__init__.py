"""Pricing: the Decimal cost of a record from database overrides first, then genai-prices' bundled catalog
(`catalog`; self-hosted providers cost $0), and the same prices applied a whole column at a time (`columns`).

May import: the shared leaves and `storage`.
"""
