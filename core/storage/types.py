"""Column types shared by the models: UTC timestamps and exact money on both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.types import TypeDecorator

from core.money import MICRO, from_micros, to_money

# The types read `dialect.name` themselves rather than core.storage.db.is_sqlite: they run once per value bound
# or read, where a helper call costs about a tenth of the conversion.


class UTCDateTime(TypeDecorator):
    """Stores UTC, returns timezone-aware UTC on SQLite (which returns naive) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # SQLite aggregates (MIN/MAX) hand back text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator):
    """USD with 6 decimals: NUMERIC(18,6) on PostgreSQL, integer micro-dollars on SQLite.

    SQLite's NUMERIC affinity stores REAL, so SUM() would add binary floats; integers keep every
    aggregate the exact sum of its records. SUM/COALESCE keep this type, so results convert back.
    Never use SQL arithmetic other than + and SUM on it (a product would be in micros on SQLite).
    """

    impl = Numeric(18, 6)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 6, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = to_money(value)
        return int(value.scaleb(6)) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return from_micros(value)
        return Decimal(value).quantize(MICRO)
