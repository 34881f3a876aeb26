"""What each query parameter of the dashboard may hold. A shared link is input like any other: every value the
pages read from the URL is checked here, before any query, and a bad one is refused with a plain message naming
the parameter (never a database error). Parameters not listed here are Streamlit's own and ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from core.errors import InvalidRecord
from core.queries.usage_list import MAX_PAGE_SIZE, ORDERINGS
from core.queries.values import MAX_BIG_ID, brand_ref, day_in_range, name_value, whole_id
from core.storage.models import JOB_STATUSES

MAX_AMOUNT = Decimal(10) ** 12  # NUMERIC(18,6) holds less than a trillion dollars
MAX_SECONDS = Decimal(10) ** 9
_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


def _choice(*options: str) -> Callable[[str, str], None]:
    def check(name: str, value: str) -> None:
        if value not in options:
            raise InvalidRecord(name, value, f"must be one of {', '.join(options)}")

    return check


def _number(low: Decimal, high: Decimal, what: str) -> Callable[[str, str], None]:
    def check(name: str, value: str) -> None:
        try:
            d = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidRecord(name, value, f"must be {what}") from None
        if not d.is_finite() or not low <= d <= high:
            raise InvalidRecord(name, value, f"must be {what} from {low} to {high:,}")

    return check


def _day(name: str, value: str) -> None:
    try:
        d = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRecord(name, value, "must be a date (YYYY-MM-DD)") from None
    day_in_range(name, d, value)


def _moment(name: str, value: str) -> None:
    text = value.strip()
    try:
        ts = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise InvalidRecord(name, value, "must be a date (YYYY-MM-DD) or an ISO 8601 time") from None
    day_in_range(name, ts, value)


def _month(name: str, value: str) -> None:
    text = value.strip()
    if not _MONTH.fullmatch(text) or not 1 <= int(text[5:]) <= 12:
        raise InvalidRecord(name, value, "must be a month (YYYY-MM)")
    day_in_range(name, date(int(text[:4]), int(text[5:]), 1), value)


RULES: dict[str, Callable[[str, str], object]] = {
    # shared by every page
    "company": name_value,
    "brand": brand_ref,
    "provider": lambda n, v: name_value(n, v, max_len=64),
    # Overview, Efficiency, Costs, Trends
    "days": _choice("7", "30", "90", "custom"),
    "start": _day,
    "end": _day,
    "chart": _choice("cost", "tokens", "jobs"),
    "month": _month,
    "period": _choice("week", "month", "quarter"),
    "metric": _choice("cost", "tokens", "jobs"),
    # Usage explorer
    "model_name": name_value,
    "ai_job__status": _choice(*JOB_STATUSES),
    "total_cost__gte": _number(Decimal(0), MAX_AMOUNT, "an amount in USD"),
    "execution_time_seconds__gte": _number(Decimal(0), MAX_SECONDS, "a number of seconds"),
    "success_rate__lt": _number(Decimal(0), Decimal(1), "a rate"),
    "created_at__gte": _moment,
    "ordering": _choice(*ORDERINGS),
    "page_size": lambda n, v: whole_id(n, v, maximum=MAX_PAGE_SIZE),
    "page": whole_id,
    "id": lambda n, v: whole_id(n, v, maximum=MAX_BIG_ID),
}


def problems(params: dict[str, str]) -> list[InvalidRecord]:
    """The refused parameters of a query string (empty when every value is usable), in the URL's order."""
    found = []
    for name, value in params.items():
        rule = RULES.get(name)
        if rule is None or value in (None, ""):
            continue
        try:
            rule(name, str(value))
        except InvalidRecord as e:
            found.append(e)
    return found
