"""The daily probe's report and its verdict.

The verdict is one of three, and the worker's exit code follows it (cron reads the code, not the text):

- NOT OK (exit 2): nothing was probed because no provider is configured — the monitor itself is misconfigured,
  whatever else the report says;
- ALERT (exit 1): a provider failed, a budget is exhausted or nearly so, a critical alert is open (any company),
  or the alert check could not run;
- OK (exit 0): everything probed answered and nothing above holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core import display
from core.alerts.findings import provider_label
from core.providers.registry import ErrorInfo

KIND_TEXT = {
    "quota": "quota exhausted or no credit left",
    "rate_limit": "rate limited",
    "auth": "authentication refused",
    "server": "provider server error",
    "timeout": "no answer before the timeout",
    "connection": "connection failed",
    "bad_request": "request refused",
    "unknown": "unexpected error",
}
RULE = "=" * 46

VERDICT_OK, VERDICT_ALERT, VERDICT_NOT_OK = "OK", "ALERT", "NOT OK"
EXIT_CODES = {VERDICT_OK: 0, VERDICT_ALERT: 1, VERDICT_NOT_OK: 2}

# What to set for each provider the probe can call (the names of core.config's settings).
CONFIGURE = [
    ("OPENAI_API_KEY", "OpenAI (with OPENAI_BASE_URL for another OpenAI-compatible endpoint)"),
    ("OLLAMA_BASE_URL", "Ollama, e.g. http://localhost:11434/v1"),
    ("GEMINI_API_KEY", "Gemini"),
]
NOTHING_PROBED = "nothing was probed, no provider is configured"


def settings_to_set() -> str:
    """`OPENAI_API_KEY, OLLAMA_BASE_URL or GEMINI_API_KEY`."""
    names = [name for name, _ in CONFIGURE]
    return f"{', '.join(names[:-1])} or {names[-1]}"


@dataclass
class ProviderCheck:
    provider: str
    model: str
    ok: bool
    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: int = 0
    error: ErrorInfo | None = None

    @property
    def why(self) -> str:
        if self.error is None:
            return ""
        return f"{KIND_TEXT.get(self.error.kind, self.error.kind)} ({self.error.error_class}): {self.error.message}"


@dataclass
class ProbeReport:
    started_at: datetime
    chain: list[str]  # the configured providers, in the order probed
    checks: list[ProviderCheck] = field(default_factory=list)
    served_by: str | None = None
    reasons: list[str] = field(default_factory=list)  # why the report says ALERT
    critical_alerts: list[dict] = field(default_factory=list)  # open critical alerts (active_alerts items)
    check: dict | None = None  # the alert check run after the probe, when asked for
    text: str = ""
    stopped: str | None = None  # the run was cut off by a stop: why, after how long, what was not probed

    @property
    def nothing_probed(self) -> bool:
        """No provider is configured: the probe had nothing to call (a stop is not this)."""
        return not self.chain

    @property
    def verdict(self) -> str:
        if self.nothing_probed:
            return VERDICT_NOT_OK
        return VERDICT_ALERT if self.reasons else VERDICT_OK

    @property
    def alert(self) -> bool:
        """The report is not OK (ALERT, or nothing probed): whoever runs it should hear about it."""
        return self.verdict != VERDICT_OK

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]


def check_lines(check: ProviderCheck) -> list[str]:
    label = provider_label(check.provider)
    if check.ok:
        return [
            f"✅ {label} accessible",
            f"   Model: {check.model}",
            f"   Tokens: {display.count(check.input_tokens + check.output_tokens)} "
            f"({display.count(check.input_tokens)} in, {display.count(check.output_tokens)} out)",
        ]
    return [f"❌ {label} not accessible", f"   Model: {check.model}", f"   Error: {check.why}"]


def not_configured_lines() -> list[str]:
    width = max(len(name) for name, _ in CONFIGURE)
    return [
        "⛔ No provider configured: nothing was probed.",
        "   Set at least one in the environment (or .env), then run `python worker.py --once probe`:",
    ] + [f"   {name:<{width}}  {what}" for name, what in CONFIGURE]


def open_critical_alerts() -> list[dict]:
    """Open critical alerts of every company, as core.alerts.listing.active_alerts() gives them (messages redacted)."""
    from core.alerts.listing import active_alerts

    return [a for a in active_alerts()["alerts"] if a["severity"] == "critical"]


def alert_line(alert: dict) -> str:
    """`quota_exceeded · Acme / OpenAI: <message>` (plus who acknowledged it, when someone did)."""
    company = alert.get("company") or "all companies"
    provider = provider_label(alert.get("provider") or "")
    line = f"{alert['type']} · {company} / {provider}: {alert['message']}"
    if alert.get("acknowledged"):
        who = alert.get("acknowledged_by")
        line += f" (acknowledged{' by ' + who if who else ''})"
    return line


def critical_alert_lines(alerts: list[dict]) -> list[str]:
    if not alerts:
        return []
    return (
        [f"🚨 Critical alerts open ({display.count(len(alerts))}):"]
        + [f"   • {alert_line(a)} (since {display.when(a.get('created_at'))})" for a in alerts]
        + [""]
    )


def verdict_lines(report: ProbeReport) -> list[str]:
    lines = [f"🚨 ALERT: {reason}" for reason in report.reasons]
    if report.verdict == VERDICT_NOT_OK:
        lines.append(f"⛔ Monitoring NOT OK: {NOTHING_PROBED} (set {settings_to_set()})")
    elif report.verdict == VERDICT_OK:
        lines.append("✅ Monitoring OK")
    return lines
