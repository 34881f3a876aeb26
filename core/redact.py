"""Remove secrets from any text before it reaches a log, an alert, an email, a page or an export."""
from __future__ import annotations

import re

_PATTERNS = [
    (re.compile(r"sk-(?:proj-|admin-|ant-)?[A-Za-z0-9_\-]{8,}"), "sk-***"),
    (re.compile(r"AIza[0-9A-Za-z_\-]{20,}"), "AIza***"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._\-~+/]{8,}=*"), r"\1 ***"),
    (re.compile(r"(?i)([?&](?:key|api_key|apikey|token|access_token|password|pass|secret)=)[^&\s'\"]+"), r"\1***"),
    # scheme://user:password@host -> scheme://user:***@host (DSNs, SMTP and webhook URLs)
    (re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s'\"]*):[^@\s'\"]+@"), r"\1:***@"),
    (re.compile(r"(?i)(hooks\.slack\.com/services/)[A-Za-z0-9/]+"), r"\1***"),
    # Notification URLs (apprise) carry their credentials in many places: mask everything after the scheme.
    (re.compile(r"(?i)(?<![\w+.\-])(?!https?://|postgres(?:ql)?(?:\+\w+)?://|sqlite://|file://)([a-z][a-z0-9+.\-]{1,20})://\S+"),
     r"\1://***"),
    (re.compile(r"(?i)(password|passwd|secret|api[_-]?key)\s*[=:]\s*['\"]?[^\s'\",;]+"), r"\1=***"),
]


def redact(text: object) -> str:
    out = "" if text is None else str(text)
    for pattern, repl in _PATTERNS:
        out = pattern.sub(repl, out)
    return out
