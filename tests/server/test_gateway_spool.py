"""The spool: records survive the gateway's death. A `kill -9` of the gateway and its writer under load loses no
answered call: after a restart, every request answered 2xx is in the ledger. Replays count once; a torn line is
kept aside with the reason, never lost silently."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.providers import chain
from core.providers.registry import ErrorInfo
from core.server import spool as spool_mod
from core.server.keys import create_key
from core.server.writer import NICENESS, drain
from core.storage.db import get_session
from core.storage.models import AIJob
from tests.helpers import free_port
from tests.helpers.ledger import call_record
from tests.helpers.llm import providers
from tests.server.gateway_harness import child_processes, gateway, ledger_count, serve_process

BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()


def record(i: int) -> dict:
    return call_record(f"s{i}", datetime(2026, 11, 2, 10, i, tzinfo=UTC), request_id="r", execution_time_seconds="0.5")


def _former_encoding(record: dict) -> bytes:
    """The spool line as written before the encoder lost its per-value callback (the format on disk)."""

    def default(value):
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        raise TypeError(type(value).__name__)

    return json.dumps(record, default=default, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def test_spool_lines_are_byte_for_byte_what_the_former_encoder_wrote():
    ctx = chain.new_context("résumé", "Acme «SA»", "web")
    started = datetime(2026, 11, 30, 23, 59, 58, 123456, tzinfo=UTC)
    tokens = {"input_tokens": 4020, "output_tokens": 809, "cached_tokens": 4012, "cache_write_tokens": 0}
    info = ErrorInfo("quota", "RateLimitError", True, 'Error code: 429 - quota \u2014 "exceeded"\n')
    records = [
        chain.attempt_record(
            ctx,
            1,
            provider="openai",
            model="gpt-4o-mini",
            started=started,
            elapsed=0.0213,
            status="completed",
            tokens=tokens | {"reasoning_tokens": 768},
        ),
        chain.skip_record(ctx, 2, chain.Step("openai", "gpt-4o", None), "budget of 10.00 USD used up"),
        chain.failure_record(ctx, 3, chain.Step("ollama", "qwen2.5:3b", None), started=started, elapsed=5.0, info=info),
        {**record(1), "source": "otel", "execution_time_seconds": Decimal("0.123456789"), "day": date(2026, 11, 30)},
        {"reason": "job_id='x': already recorded", "record": {**record(2), "created_at": "2026-11-02T10:02:00+00:00"}},
        {"reason": "nested", "record": {"at": started, "cost": Decimal("1E-7"), "list": [Decimal("2.50"), None]}},
        {"naive": datetime(2026, 1, 2, 3, 4, 5), "neg": Decimal("-0.000001"), "big": 10**30, "f": 0.1, "t": True},
    ]
    for rec in records:
        assert spool_mod.encode(rec) == _former_encoding(rec), rec
    assert b'"created_at":"2026-11-30T23:59:58.123456+00:00"' in spool_mod.encode(records[0])
    assert b'"execution_time_seconds":"0.021"' in spool_mod.encode(records[0])
    with pytest.raises(TypeError):
        spool_mod.encode({"x": {1, 2}})


def test_replay_counts_once_and_a_torn_line_is_kept_aside(db, tmp_path):
    sp = spool_mod.Spool(tmp_path)
    for i in range(3):
        sp.append(record(i))
    ready = sp.rotate()
    copy = ready.read_bytes()
    first = drain(tmp_path)
    assert (first.inserted, first.duplicates, first.rejected) == (3, 0, 0) and not ready.exists()
    # The same segment again (a crash between commit and delete), with a line cut by a crash mid-write.
    ready.write_bytes(copy + b'{"job_id": "s9", "crea')
    again = drain(tmp_path)
    assert (again.inserted, again.duplicates, again.rejected) == (0, 3, 1)
    assert ledger_count(db) == 3
    [rejected] = tmp_path.glob("rejected-*.jsonl")
    assert '"s9' in rejected.read_text() and "reason" in rejected.read_text()


def test_a_dead_processs_open_segment_is_recovered(db, tmp_path):
    dead = tmp_path / f"{time.time_ns():020d}-999999.open"
    dead.write_bytes(spool_mod.encode(record(1)))
    sp = spool_mod.Spool(tmp_path)
    sp.append(record(2))  # this process's own open segment is locked: not taken
    assert sp.recover() == 1 and not dead.exists()
    assert sp.waiting() == 2
    assert drain(tmp_path).inserted == 1
    assert sp.waiting() == 1


def test_the_ledger_writer_runs_at_a_lower_priority_than_the_server(db, monkeypatch, tmp_path):
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with gateway(monkeypatch, tmp_path, writer="thread"):
        [writer] = [t for t in threading.enumerate() if t.name == "aium-spool-writer"]
        assert os.getpriority(os.PRIO_PROCESS, writer.native_id) == min(19, base + NICENESS)
        # Only that thread: the server's event loop keeps its priority.
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base
        assert all(
            os.getpriority(os.PRIO_PROCESS, t.native_id) == base for t in threading.enumerate() if t is not writer
        )
    with gateway(monkeypatch, tmp_path, writer="process"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pids = child_processes(os.getpid(), b"core.server.writer")
            if pids and os.getpriority(os.PRIO_PROCESS, pids[0]) != base:
                break
            time.sleep(0.1)
        assert len(pids) == 1 and os.getpriority(os.PRIO_PROCESS, pids[0]) == min(19, base + NICENESS)


def test_kill_9_under_load_loses_no_answered_call(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path) as (oa, _, _):
        key, _ = create_key("Acme")
        env = {**os.environ, "GATEWAY_SPOOL_DIR": str(tmp_path / "spool"), "GATEWAY_FLUSH_SECONDS": "0.05"}
        port = free_port()
        proc = serve_process(env, port)
        answered: list[str] = []
        stop = threading.Event()

        def load() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            while not stop.is_set():
                try:
                    conn.request(
                        "POST",
                        "/v1/chat/completions",
                        BODY,
                        {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
                    )
                    resp = conn.getresponse()
                    resp.read()
                    if resp.status == 200:
                        answered.append(resp.headers["x-aium-request-id"])
                except (OSError, http.client.HTTPException):
                    return  # the gateway is gone

        workers = [threading.Thread(target=load) for _ in range(8)]
        for w in workers:
            w.start()
        while len(answered) < 150:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the gateway and its writer, mid-load
        proc.wait()
        stop.set()
        for w in workers:
            w.join()
        sent = oa.calls
        before = ledger_count(db)
        proc = serve_process(env, port)  # the restart replays what the spool holds
        try:
            deadline = time.monotonic() + 60
            while ledger_count(db) < len(answered) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
    s = get_session(db)
    try:
        stored = set(s.scalars(select(AIJob.request_id).where(AIJob.source == "gateway")))
    finally:
        s.close()
    assert before < len(answered), "the kill came after everything was written: the test proved nothing"
    assert set(answered) <= stored  # every answered call is in the ledger
    # At most the calls in flight at the kill were recorded without their answer reaching the client.
    assert len(answered) <= len(stored) <= min(sent, len(answered) + 8)
    assert list((tmp_path / "spool").glob("*.ready")) == [] and list((tmp_path / "spool").glob("rejected*")) == []
    # The killed gateway's shared folder went at the restart, the restarted one's at its stop.
    assert list((tmp_path / "spool").glob("shared-*")) == []
