"""Worker entry point (foundation version: heartbeat only). The worker issue gives it its jobs."""
from __future__ import annotations

import os
import signal
import socket
import time
from datetime import UTC, datetime

from core.db import migrate, session_scope
from core.models import WorkerHeartbeat

_stop = False


def _on_term(signum, frame):
    global _stop
    _stop = True


def beat(worker_id: str, started: datetime) -> None:
    with session_scope() as s:
        s.merge(WorkerHeartbeat(worker_id=worker_id, hostname=socket.gethostname(), pid=os.getpid(),
                                started_at=started, last_beat_at=datetime.now(UTC), last_job="heartbeat"))


def main() -> int:
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, _on_term)
    migrate()
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    started = datetime.now(UTC)
    while not _stop:
        beat(worker_id, started)
        for _ in range(60):
            if _stop:
                break
            time.sleep(1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
