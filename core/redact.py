"""Remove secrets from any text before it reaches a log, an alert, an email, a page or an export.

Two layers:
- by value: every secret the settings hold (`Settings.secret_values()`: provider and admin keys, the DATABASE_URL
  password, notification URLs and their credentials, OIDC secrets) is masked wherever it appears, whatever its
  shape, with its URL-encoded and JSON-escaped forms. The longest value is masked first, so a secret that
  contains another leaves nothing behind. Values shorter than MIN_SECRET_LENGTH are not searched for: masking
  every "abc" in every text would make logs unreadable, and such a value is no secret anyway. The compiled
  pattern is built once per settings object (`config.reset_settings()` makes the next call rebuild it).
- by shape: keys, bearer tokens, `key=` parameters, URL credentials and apprise URLs seen in text even when
  they are not configured here (a key named in a provider's error, say).

`install_log_redaction()` (done when `core` is imported) cleans every log record at its creation, so a log call
that forgot `redact` is cleaned too, whichever handler writes it.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from urllib.parse import quote, quote_plus

MIN_SECRET_LENGTH = 6
MASK = "***"

_PATTERNS = [
    (re.compile(r"sk-(?:proj-|admin-|ant-)?[A-Za-z0-9_\-]{8,}"), "sk-***"),
    (re.compile(r"AIza[0-9A-Za-z_\-]{20,}"), "AIza***"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._\-~+/]{8,}=*"), r"\1 ***"),
    (re.compile(r"(?i)([?&](?:key|api_key|apikey|token|access_token|password|pass|secret)=)[^&\s'\"]+"), r"\1***"),
    # scheme://user:password@host -> scheme://user:***@host (DSNs, SMTP and webhook URLs)
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s'\"]*):[^@\s'\"]+@"), r"\1:***@"),
    (re.compile(r"(?i)(hooks\.slack\.com/services/)[A-Za-z0-9/]+"), r"\1***"),
    # Notification URLs (apprise) carry their credentials in many places: mask everything after the scheme.
    (
        re.compile(
            r"(?i)(?<![\w+.\-])(?!https?://|postgres(?:ql)?(?:\+\w+)?://|sqlite://|file://)([a-z][a-z0-9+.\-]{1,20})://\S+"
        ),
        r"\1://***",
    ),
    (re.compile(r"(?i)(password|passwd|secret|api[_-]?key)\s*[=:]\s*['\"]?[^\s'\",;]+"), r"\1=***"),
]

# Every shape above needs one of these (in lower case): text without any, most of it, skips the shapes.
_SHAPE_HINTS = re.compile(r"sk-|aiza|bearer|basic|=|://|hooks\.slack|passw|secret|api")

_cache: tuple[object, re.Pattern | None] | None = None
_busy = threading.local()
_config = None  # core.config, imported on first use (core.config is imported after this)


def _forms(value: str) -> set[str]:
    """The value as it may appear in text: raw, URL-encoded (path, query) and escaped inside a JSON string."""
    return {
        value,
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }


def compile_secrets(values) -> re.Pattern | None:
    """One alternation of every value long enough to search for, longest first (a regex takes the first branch)."""
    forms: set[str] = set()
    for value in values:
        if value and len(value) >= MIN_SECRET_LENGTH:
            forms |= _forms(value)
    ordered = sorted((f for f in forms if len(f) >= MIN_SECRET_LENGTH), key=lambda f: (-len(f), f))
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


def _configured() -> re.Pattern | None:
    if getattr(_busy, "on", False):  # reading the settings logged something: that line gets the shapes only
        return None
    _busy.on = True
    try:
        return _values()
    finally:
        _busy.on = False


def _values() -> re.Pattern | None:
    global _cache, _config
    try:
        if _config is None:
            import core.config

            _config = core.config
        settings = _config.get_settings()
    except Exception:  # noqa: BLE001 - unreadable settings: the shapes still apply, and redact never raises
        return None
    cached = _cache
    if cached is not None and cached[0] is settings:
        return cached[1]
    try:
        pattern = compile_secrets(settings.secret_values())
    except Exception:  # noqa: BLE001 - an unreadable secrets file: the shapes still apply
        return None
    _cache = (settings, pattern)
    return pattern


def redact(text: object) -> str:
    out = "" if text is None else str(text)
    values = _configured()
    if values is not None:
        out = values.sub(MASK, out)
    if _SHAPE_HINTS.search(out.lower()):
        for pattern, repl in _PATTERNS:
            out = pattern.sub(repl, out)
    return out


# -- logging -------------------------------------------------------------------------------------------------

_installed = False
_install_lock = threading.Lock()


def _redacted_record_factory(base):
    def factory(*args, **kwargs) -> logging.LogRecord:
        record = base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format call: keep its parts, cleaned, instead of its traceback
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters use exc_text when set: the traceback (with its messages) leaves cleaned.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    factory._aium_redacting = True  # type: ignore[attr-defined]
    return factory


def install_log_redaction() -> None:
    """Every log record of this process is created with its message (and traceback) redacted. Idempotent."""
    global _installed
    with _install_lock:
        if _installed or getattr(logging.getLogRecordFactory(), "_aium_redacting", False):
            _installed = True
            return
        logging.setLogRecordFactory(_redacted_record_factory(logging.getLogRecordFactory()))
        _installed = True
