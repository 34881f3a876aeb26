"""Worker entry point (foundation version: heartbeat only). The worker issue gives it its jobs."""
from __future__ import annotations

import signal
import time
from datetime import UTC, datetime

from core.db import migrate
from core.heartbeat import beat

_stop = False


def _on_term(signum, frame):
    global _stop
    _stop = True


def main() -> int:
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    migrate()
    started = datetime.now(UTC)
    while not _stop:
        beat(started_at=started, last_job="heartbeat")
        for _ in range(60):
            if _stop:
                break
            time.sleep(1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
