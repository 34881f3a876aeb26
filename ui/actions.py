"""Writes from the Settings page: a dry run first (the CLI's own validation, inside a transaction that is rolled
back), then the real write after the user confirms. Cached figures are dropped after every write.

Each write acts as the signed-in user (`actor=`): core checks the role and the company again
(core.access.users.authorize),
so a forged call from this layer is refused there too.
"""

from __future__ import annotations

from collections.abc import Callable

from core.errors import InvalidRecord
from core.storage.db import get_session
from ui import cache
from ui.auth_gate import ensure_user, require_admin


def dry_run(fn: Callable, *args, **kwargs) -> dict | bool:
    """Run a core.limits.budgets writer and roll it back: raises InvalidRecord exactly as the real write would."""
    require_admin()
    s = get_session()
    try:
        return fn(*args, session=s, actor=ensure_user(), **kwargs)
    finally:
        s.rollback()
        s.close()


def apply(fn: Callable, *args, **kwargs):
    require_admin()
    result = fn(*args, actor=ensure_user(), **kwargs)
    cache.clear()
    return result


__all__ = ["dry_run", "apply", "InvalidRecord"]
