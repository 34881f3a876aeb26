"""The spool: every record the gateway makes is appended to a file on disk before its answer is finished, and the
ledger writer (core.server.writer) takes it from there in batches.

Files, in one folder (several server processes may share it, each with its own segments):
- `<time>-<pid>.new`: a segment being made: created, locked, then renamed `.open`, so that an unlocked `.open`
  segment is always one whose process died, never one not locked yet.
- `<time>-<pid>.open`: the segment this process appends to, one JSON line per record, locked (flock) by it.
- `<time>-<pid>.ready`: a segment handed over (renamed every GATEWAY_FLUSH_SECONDS); the writer ingests it and
  deletes it once the transaction holding its records has committed.
- `rejected-<time>.jsonl`: records the ledger refused (each with the reason), kept for a person to look at.

An append is one write(2) on a file opened O_APPEND: once it returns, the kernel holds the line and a `kill -9`
of the process loses nothing. A lost machine (power) can lose the last moments unless GATEWAY_SPOOL_FSYNC is on.
A `.open` segment nobody holds a lock on was left by a process that died: `hand_over_orphans` (at a server's start,
and by the writer as it goes, for a server process that died and was restarted) hands it over. Replays are
harmless: the ledger is idempotent on job id.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

NEW, OPEN, READY = ".new", ".open", ".ready"
STALE_NEW_SECONDS = 60.0  # a `.new` file is locked within microseconds of its making: one this old is a dead one


def _default(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot spool a {type(value).__name__}")


_LINE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # built once, not per line
_AS_TEXT = {datetime: datetime.isoformat, date: date.isoformat, Decimal: Decimal.__str__}


def encode(record: dict) -> bytes:
    """One spool line. A record's dates and amounts are turned to text before encoding, so the encoder runs
    without a per-value callback; a value of another kind (or nested deeper) takes the callback path."""
    flat = dict(record)
    for k, v in record.items():
        as_text = _AS_TEXT.get(type(v))
        if as_text is not None:
            flat[k] = as_text(v)
    try:
        text = _LINE.encode(flat)
    except TypeError:
        text = json.dumps(record, default=_default, separators=(",", ":"), ensure_ascii=False)
    return text.encode() + b"\n"


def _locked_by_other(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops the lock taken to test it
    return False


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


class Spool:
    """Appends records to the current segment; `rotate` hands it to the writer. Used from one thread (the event
    loop)."""

    def __init__(self, directory: str | Path, *, fsync: bool = False):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._fd: int | None = None
        self._path: Path | None = None
        self._lines = 0
        self._backlog = Backlog(self.dir)
        self.appended = 0

    def _open(self) -> None:
        new = self.dir / f"{time.time_ns():020d}-{os.getpid()}{NEW}"
        self._fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # blocking: another process may be testing it for a moment
        self._path = new.with_suffix(OPEN)
        os.rename(new, self._path)  # the lock follows the file: it is never `.open` and unlocked while we live
        self._lines = 0

    def append(self, record: dict) -> None:
        self.append_line(encode(record))

    def append_line(self, line: bytes) -> None:
        if self._fd is None:
            self._open()
        written = os.write(self._fd, line)
        if written != len(line):  # a full disk: the tail of the line is lost; say so rather than spool half
            raise OSError(f"spool: wrote {written} of {len(line)} bytes")
        if self.fsync:
            os.fdatasync(self._fd)
        self._lines += 1
        self.appended += 1

    def rotate(self) -> Path | None:
        """Hand the current segment to the writer (if it holds anything)."""
        if self._fd is None or self._lines == 0:
            return None
        ready = self._path.with_suffix(READY)
        os.rename(self._path, ready)
        os.close(self._fd)
        self._fd = self._path = None
        return ready

    def close(self) -> None:
        self.rotate()
        if self._fd is not None:  # an empty segment
            os.close(self._fd)
            os.unlink(self._path)
            self._fd = self._path = None

    def recover(self) -> int:
        """Hand over the segments of processes that died (unlocked `.open` files); returns their record count."""
        return sum(count_lines(ready) for ready in hand_over_orphans(self.dir))

    def waiting(self) -> int:
        """Records spooled and not yet in the ledger, by whichever process shares the folder: the lines of its
        `.open` and `.ready` segments."""
        return self._backlog.count()


def ready_segments(directory: str | Path) -> list[Path]:
    return sorted(Path(directory).glob(f"*{READY}"))


def hand_over_orphans(directory: str | Path) -> list[Path]:
    """Rename to `.ready` every `.open` segment no live process holds (its process died), and remove the empty
    `.new` files of processes that died while making one; returns the segments handed over."""
    directory = Path(directory)
    handed = []
    for path in sorted(directory.glob(f"*{OPEN}")):
        if _locked_by_other(path):
            continue
        ready = path.with_suffix(READY)
        try:
            os.rename(path, ready)
        except FileNotFoundError:  # another process handed it over first
            continue
        handed.append(ready)
    for path in directory.glob(f"*{NEW}"):
        with contextlib.suppress(FileNotFoundError):
            if time.time() - path.stat().st_mtime > STALE_NEW_SECONDS and not _locked_by_other(path):
                path.unlink()
    return handed


class Backlog:
    """Records in a spool folder not yet in the ledger, whichever process spooled them: the lines of its `.open`
    and `.ready` segments. Each segment is read once, its new bytes only at the next look (segments are keyed by
    inode, which a rename keeps)."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self._seen: dict[int, tuple[int, int]] = {}  # inode -> (bytes counted, lines in them)

    def count(self) -> int:
        seen: dict[int, tuple[int, int]] = {}
        total = 0
        for path in [*self.dir.glob(f"*{OPEN}"), *self.dir.glob(f"*{READY}")]:
            try:
                with open(path, "rb") as fh:
                    ino = os.fstat(fh.fileno()).st_ino
                    offset, lines = self._seen.get(ino, (0, 0))
                    fh.seek(offset)
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        offset += len(chunk)
                        lines += chunk.count(b"\n")
            except FileNotFoundError:  # ingested meanwhile
                continue
            seen[ino] = (offset, lines)
            total += lines
        self._seen = seen
        return total
