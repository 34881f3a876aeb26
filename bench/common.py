"""Shared bench helpers: fresh databases, a fast realistic record generator, peak memory."""

from __future__ import annotations

import os
import random
import resource
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from core import config
from core.storage.db import dispose_engines, migrate

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MODELS = [
    ("openai", "gpt-4o", 30),
    ("openai", "gpt-4o-mini", 30),
    ("openai", "o3-mini", 5),
    ("anthropic", "claude-3-5-sonnet-20241022", 12),
    ("anthropic", "claude-3-5-haiku-20241022", 8),
    ("gemini", "gemini-2.0-flash", 6),
    ("mistral", "mistral-large-latest", 4),
    ("mistral", "mistral-small-latest", 3),
    ("ollama", "llama3.1:8b", 2),
]
COMPANIES = [
    ("Humari", ["Humari", "Academy"]),
    ("Qadhya", ["Qadhya"]),
    ("Northwind Labs", ["Support", "Search"]),
    ("Globex", ["Core"]),
    ("Initech", ["Reports", "Chat"]),
]
OPERATIONS = ["chat-support", "kb-quality-analysis-short", "document-summary", "translation", "code-review"]


def fresh_database(kind: str, name: str, tmp_dir: str = "/tmp") -> str:
    """A new, migrated database; returns its URL and makes it the configured one."""
    if kind == "sqlite":
        path = f"{tmp_dir}/{name}.db"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        url = f"sqlite:///{path}"
    else:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    os.environ["DATABASE_URL"] = url
    config.reset_settings()
    dispose_engines()
    migrate(url)
    return url


def use_database(kind: str, name: str) -> str:
    """Point the product at a generated database (PostgreSQL NAME, or the SQLite file /tmp/NAME.db), in local
    mode (no login: a developer's users file or SSO secrets must not gate the page runs); returns its URL."""
    url = f"sqlite:////tmp/{name}.db" if kind == "sqlite" else PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    os.environ["DATABASE_URL"] = url
    os.environ["USERS_FILE"] = "/nonexistent/aium-bench-users.json"
    os.environ["AUTH_SECRETS_FILE"] = "/nonexistent/aium-bench-secrets.toml"
    os.environ.pop("NOTIFY_URLS", None)
    os.environ.pop("ADMIN_NOTIFY_URLS", None)
    config.reset_settings()
    dispose_engines()
    return url


def load_average() -> str:
    """The load average over 1, 5 and 15 minutes (as `uptime` prints it), shown beside every figure: the machine
    is shared, and a figure means little without it."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def raw_records(n: int, *, days: int = 120, seed: int = 1, end: datetime | None = None, prefix: str = "b"):
    """n realistic import rows (dicts, as a file would give them), oldest first (as exported files are),
    spread over `days` days up to `end`."""
    rng = random.Random(seed)
    end = end or datetime.now(UTC) - timedelta(minutes=1)
    start = end - timedelta(days=days)
    step = days * 86400 / max(n, 1)
    weights = [w for _, _, w in MODELS]
    for i in range(n):
        provider, model, _ = rng.choices(MODELS, weights)[0]
        company, brands = COMPANIES[i % len(COMPANIES)]
        inp = int(rng.lognormvariate(6.5, 0.8)) + 1
        status = "completed" if rng.random() > 0.02 else "failed"
        yield {
            "job_id": f"{prefix}-{seed}-{i}",
            "created_at": start + timedelta(seconds=i * step + rng.random() * step),
            "company": company,
            "brand": brands[i % len(brands)],
            "provider": provider,
            "model": model,
            "status": status,
            "input_tokens": inp,
            "output_tokens": int(inp * rng.uniform(0.05, 0.6)),
            "cached_tokens": inp // 4 if i % 5 == 0 else 0,
            "execution_time_seconds": round(rng.uniform(0.3, 9), 3),
            "operation": OPERATIONS[i % len(OPERATIONS)],
            "memory_usage_mb": 64,
        }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine_busy() -> float:
    """Seconds of CPU the whole machine spent busy (every core, /proc/stat), to split a write's cost between this
    process and the server."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
