"""The ledger writer: takes the spool's ready segments (core.server.spool), validates their records and stores them
through the bulk ingest path (core.ingest.record.ingest) in one transaction per batch of segments, then deletes the
segments (and first hands over the segments of server processes that died). Runs beside the server processes, as
its own process (`python -m core.server.writer`), so that the ledger's CPU work never holds a server's event loop;
tests run it as a thread.

A segment is deleted only after its records committed: a crash in between replays it, and the replay counts as
duplicates (same job id, same content). A record the ledger refuses (invalid, a conflict, past what storage holds)
goes to `rejected-*.jsonl` with the reason, never silently away. When the database is down, segments wait and the
writer retries with a growing pause.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from core.errors import InvalidRecord
from core.redact import redact
from core.server.spool import encode, hand_over_orphans, ready_segments

log = logging.getLogger(__name__)

BATCH_RECORDS = 20_000  # segments are merged into one transaction up to about this many records
DEFAULT_SOURCE = "gateway"
NICENESS = 5  # the writer yields the CPU to the server: a record waits a moment longer, an answer does not


def lower_priority(thread_only: bool = False) -> None:
    """Make the writer nicer than the server: the whole process, or (`thread_only`, a writer thread inside the
    server) just the calling thread, which Linux schedules on its own (setpriority on its native thread id)."""
    with contextlib.suppress(OSError):  # already at the lowest priority, or a system without per-thread nice
        if thread_only:
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + NICENESS))
        else:
            os.nice(NICENESS)


@dataclass
class DrainResult:
    segments: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0


def _take(path: Path) -> tuple[int, list[bytes]] | None:
    """Lock a ready segment (None when another writer holds it or it is gone) and read its lines."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if not path.exists():  # taken and deleted by another writer between our open and our lock
        os.close(fd)
        return None
    with os.fdopen(os.dup(fd), "rb") as fh:
        lines = fh.read().split(b"\n")
    return fd, lines


def _reject(directory: Path, items: list[tuple[dict | str, str]]) -> None:
    if not items:
        return
    path = directory / f"rejected-{datetime.now(UTC):%Y%m%d}.jsonl"
    with open(path, "ab") as fh:
        fh.writelines(encode({"reason": why, "record": record}) for record, why in items)
    log.warning("spool: %d record(s) refused by the ledger, kept in %s", len(items), path.name)


def drain(directory: str | Path, *, limit: int | None = None) -> DrainResult:
    """Ingest every ready segment now (up to `limit` segments); raises when the database fails (segments stay)."""
    from core.ingest.checks import validate_record
    from core.ingest.record import ingest
    from core.storage.db import session_scope

    directory = Path(directory)
    result = DrainResult()
    hand_over_orphans(directory)  # a server process that died (and was restarted beside the others) left these
    paths = ready_segments(directory)[:limit]
    while paths:
        taken: list[tuple[Path, int]] = []
        by_source: dict[str, list] = {}
        refused: list[tuple[dict | str, str]] = []
        count = 0
        now = datetime.now(UTC)
        while paths and count < BATCH_RECORDS:
            path = paths.pop(0)
            got = _take(path)
            if got is None:
                continue
            fd, lines = got
            taken.append((path, fd))
            for line in lines:
                if not line.strip():
                    continue
                try:
                    raw = json.loads(line)
                    source = raw.pop("source", DEFAULT_SOURCE)
                    by_source.setdefault(source, []).append((raw, validate_record(raw, now=now)))
                    count += 1
                except (ValueError, InvalidRecord) as e:  # a torn last line (crash mid-write) or a bad record
                    refused.append((line.decode("utf-8", "replace"), redact(str(e))))
        try:
            with session_scope() as s:
                for source, items in by_source.items():
                    res = ingest(s, [rec for _, rec in items], source=source)
                    result.inserted += res.inserted
                    result.duplicates += res.duplicates
                    refused += [
                        (items[pos][0], f"job_id={jid!r}: already recorded with different content")
                        for pos, jid in res.conflicts
                    ]
                    refused += [(items[pos][0], redact(str(err))) for pos, err in res.refused]
            _reject(directory, refused)
            result.rejected += len(refused)
            for path, _ in taken:
                path.unlink(missing_ok=True)
            result.segments += len(taken)
        finally:
            for _, fd in taken:
                os.close(fd)
    return result


class Writer:
    """Drains the spool every `interval` seconds until stopped; a last drain at stop."""

    def __init__(
        self, directory: str | Path, interval: float = 0.2, on_drain: Callable[[DrainResult], None] | None = None
    ):
        self.directory = Path(directory)
        self.interval = interval
        self.on_drain = on_drain
        self.stopping = threading.Event()
        self.failures = 0

    def step(self) -> None:
        try:
            result = drain(self.directory)
            self.failures = 0
            if self.on_drain and result.segments:
                self.on_drain(result)
        except Exception as e:  # noqa: BLE001 - the database may come back; the segments wait on disk
            self.failures += 1
            log.warning("spool: ledger write failed (%s: %s); retrying", type(e).__name__, redact(str(e))[:300])

    def run(self, parent_pid: int | None = None) -> None:
        while not self.stopping.is_set():
            self.step()
            if parent_pid is not None and os.getppid() != parent_pid:
                log.warning("spool: the gateway is gone; writing what is left, then stopping")
                break
            pause = self.interval if not self.failures else min(30.0, self.interval * 2**self.failures)
            self.stopping.wait(pause)
        self.step()

    def _run_in_thread(self) -> None:
        lower_priority(thread_only=True)
        self.run()

    def start_thread(self) -> threading.Thread:
        t = threading.Thread(target=self._run_in_thread, name="aium-spool-writer", daemon=True)
        t.start()
        return t


def spool_dir_for(settings) -> Path:
    """GATEWAY_SPOOL_DIR, a relative path starting at the project root."""
    from core.config import PROJECT_ROOT

    directory = Path(settings.gateway_spool_dir)
    return directory if directory.is_absolute() else PROJECT_ROOT / directory


def interval_for(settings) -> float:
    """Seconds between two looks at the spool: the hand-over period, not under 50 ms."""
    return max(0.05, settings.gateway_flush_seconds)


def start_process(directory: str | Path, interval: float) -> subprocess.Popen:
    """The writer as its own process, stopping (after a last drain) when this one is gone."""
    from core.config import PROJECT_ROOT

    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "core.server.writer",
            "--spool",
            str(directory),
            "--parent",
            str(os.getpid()),
            "--interval",
            str(interval),
        ],
        cwd=PROJECT_ROOT,
    )


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()  # the writer drains what is left, then exits
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        log.warning("spool: the writer is still busy after 60 s; it goes on alone")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m core.server.writer", description="Write the gateway's spooled records into the ledger."
    )
    p.add_argument("--spool", required=True, help="the spool folder")
    p.add_argument("--interval", type=float, default=0.2, help="seconds between two looks at the spool")
    p.add_argument("--parent", type=int, help="stop (after a last drain) when this process is gone")
    p.add_argument("--once", action="store_true", help="drain once and exit")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    writer = Writer(args.spool, args.interval)
    if args.once:
        result = drain(args.spool)
        print(
            f"segments {result.segments}, inserted {result.inserted}, duplicates {result.duplicates}, "
            f"rejected {result.rejected}"
        )
        return 0
    lower_priority()
    signal.signal(signal.SIGTERM, lambda *_: writer.stopping.set())
    if args.parent:
        from core.server.parent import stop_with

        stop_with(args.parent)  # at once, not at its next look at the spool (GATEWAY_FLUSH_SECONDS away)
    # Ctrl-C reaches the whole process group at once: the writer of a gateway waits for the gateway's SIGTERM,
    # which comes once its server processes have handed their last records over (else those wait for a restart).
    signal.signal(signal.SIGINT, signal.SIG_IGN if args.parent else lambda *_: writer.stopping.set())
    writer.run(parent_pid=args.parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
