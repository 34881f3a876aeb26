"""The gateway as several server processes (`python -m core serve --workers 2`): one port, one ledger writer, rate
limits and /metrics counted once over all of them, and a killed process replaced without losing its records."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select

from core.server.admission import RateLimits
from core.server.keys import KeyInfo, create_key
from core.server.spool import Backlog, Spool, encode, hand_over_orphans
from core.server.supervisor import bind_sockets
from core.storage.db import get_session
from core.storage.models import AIJob
from tests.helpers import free_port
from tests.helpers.llm import providers
from tests.server.gateway_harness import child_processes, serve_process
from tests.server.test_gateway_spool import BODY, record


def _two_processes(tmp_path, flush_seconds: str):
    """(env, port, main process) of `python -m core serve --workers 2`, its spool under tmp_path."""
    env = {**os.environ, "GATEWAY_SPOOL_DIR": str(tmp_path / "spool"), "GATEWAY_FLUSH_SECONDS": flush_seconds}
    port = free_port()
    return env, port, serve_process(env, port, "--workers", "2")


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit status waits for whoever reaps here)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _call(port: int, key: str, path: str = "/v1/chat/completions") -> tuple[int, str | None]:
    """One request on a connection of its own (so that the kernel may hand it to any server process)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        if path == "/v1/models":
            c.request("GET", path, headers=headers)
        else:
            c.request("POST", path, BODY, headers)
        resp = c.getresponse()
        resp.read()
        return resp.status, resp.headers.get("x-aium-request-id")
    finally:
        c.close()


def _spooling_pids(spool: Path) -> set[int]:
    return {int(re.match(r"\d+-(\d+)\.", p.name).group(1)) for p in spool.glob("*.open")}


def _metric(port: int, name: str, labels: str) -> float:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    series = f"{name}{{{labels}}}" if labels else name
    found = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def _stop(proc) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=90)


def _stored_request_ids(db: str) -> set[str]:
    s = get_session(db)
    try:
        return set(s.scalars(select(AIJob.request_id).where(AIJob.source == "gateway")))
    finally:
        s.close()


def test_two_server_processes_share_the_port_the_metrics_and_the_rate_limits(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path):
        free_key, _ = create_key("Acme")
        limited, _ = create_key("Acme", requests_per_minute=5)
        spool = tmp_path / "spool"
        # Segments stay `.open` for a minute: their names tell which processes spooled.
        _, port, proc = _two_processes(tmp_path, "60")
        try:
            workers = child_processes(proc.pid, b"spawn_main")
            assert len(workers) == 2
            assert len(child_processes(proc.pid, b"core.server.writer")) == 1  # one ledger writer for both
            answered: list[str] = []
            with ThreadPoolExecutor(8) as pool:
                for status, request_id in pool.map(lambda _: _call(port, free_key), range(40)):
                    assert status == 200
                    answered.append(request_id)
            # 40 connections, each hashed to one process's socket: both processes served some.
            assert _spooling_pids(spool) == set(workers)
            # Every process's requests, whichever answers the scrape.
            for _ in range(4):
                total = _metric(port, "aium_gateway_requests_total", 'endpoint="/v1/chat/completions",status="200"')
                assert total == len(answered)
            waiting = _metric(port, "aium_gateway_records_waiting", "")
            assert waiting == len(answered)  # both processes' segments
            # The limit is the key's, not each process's: 5 of 12 pass, whichever process takes each.
            with ThreadPoolExecutor(4) as pool:
                statuses = list(pool.map(lambda _: _call(port, limited, "/v1/models")[0], range(12)))
            assert sorted(statuses) == [200] * 5 + [429] * 7
        finally:
            _stop(proc)
    # At the stop, each process hands its segment over and the writer's last drain stores it.
    assert set(answered) <= _stored_request_ids(db)
    assert list(spool.glob("*.open")) == [] and list(spool.glob("*.ready")) == []


def test_a_killed_server_process_is_replaced_and_its_records_reach_the_ledger(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path):
        key, _ = create_key("Acme")
        spool = tmp_path / "spool"
        _, port, proc = _two_processes(tmp_path, "2")
        try:
            workers = child_processes(proc.pid, b"spawn_main")
            answered: list[str] = []
            with ThreadPoolExecutor(8) as pool:
                while not _spooling_pids(spool) and len(answered) < 800:
                    answered += [
                        rid for status, rid in pool.map(lambda _: _call(port, key), range(16)) if status == 200
                    ]
            [segment] = [p for p in spool.glob("*.open")][:1]
            victim = int(re.match(r"\d+-(\d+)\.", segment.name).group(1))
            held = [line for line in segment.read_bytes().split(b"\n") if line]
            assert held and victim in workers
            os.kill(victim, signal.SIGKILL)  # one server process, mid-segment; the rest of the gateway runs on
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                replaced = child_processes(proc.pid, b"spawn_main")
                if len(replaced) == 2 and victim not in replaced:
                    break
                time.sleep(0.2)
            assert len(replaced) == 2 and victim not in replaced
            assert _call(port, key)[0] == 200
            # The dead process's segment is handed over (by its replacement as it starts, else by the writer) and
            # stored, with no restart of the gateway.
            ids = set(answered)
            deadline = time.monotonic() + 60
            while not ids <= _stored_request_ids(db) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ids <= _stored_request_ids(db)
        finally:
            _stop(proc)
    assert list(spool.glob("*.open")) == [] and list(spool.glob("rejected*")) == []


def test_killing_the_main_process_stops_the_server_processes_and_the_writer(db, monkeypatch, tmp_path):
    with providers(monkeypatch, tmp_path):
        key, _ = create_key("Acme")
        spool = tmp_path / "spool"
        env, port, proc = _two_processes(tmp_path, "60")
        helpers = child_processes(proc.pid, b"spawn_main") + child_processes(proc.pid, b"core.server.writer")
        assert len(helpers) == 3
        answered = [_call(port, key) for _ in range(10)]
        os.kill(proc.pid, signal.SIGKILL)  # the main process only, as `kill -9 <pid>` would
        proc.wait()
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in helpers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_running(pid) for pid in helpers)  # nothing serves on alone
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
        # The server processes stopped cleanly: their records wait as ready segments for the next start.
        assert list(spool.glob("*.open")) == []
        proc = serve_process(env, port, "--workers", "2")
        _stop(proc)
    assert {rid for status, rid in answered if status == 200} <= _stored_request_ids(db)


def test_a_taken_port_is_said_plainly(db, tmp_path):
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        env = {**os.environ, "GATEWAY_SPOOL_DIR": str(tmp_path / "spool")}
        out = subprocess.run(
            [sys.executable, "-m", "core", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert out.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in out.stdout
    assert list((tmp_path / "spool").glob("shared-*")) == []  # nothing left behind
    group = bind_sockets("127.0.0.1", port, 2, 16)  # free again: the group of sockets binds
    assert len(group) == 2 and {sock.getsockname()[1] for sock in group} == {port}
    for sock in group:
        sock.close()


def test_the_backlog_counts_every_processs_segments_as_they_grow_and_move(tmp_path):
    mine = Spool(tmp_path)
    other = tmp_path / f"{time.time_ns():020d}-999999.ready"  # another process's handed-over segment
    other.write_bytes(encode(record(1)) + encode(record(2)))
    backlog = Backlog(tmp_path)
    assert backlog.count() == 2
    mine.append(record(3))
    assert backlog.count() == 3
    mine.append(record(4))
    ready = mine.rotate()  # renamed: counted once, its first line not read again
    assert backlog.count() == 4
    with open(ready, "ab") as fh:
        fh.write(encode(record(5)))
    assert backlog.count() == 5
    other.unlink()  # ingested
    assert backlog.count() == 3
    (tmp_path / "rejected-20261201.jsonl").write_bytes(encode(record(6)))  # not waiting: refused
    assert backlog.count() == 3


def test_only_dead_processes_segments_are_handed_over(tmp_path):
    live = Spool(tmp_path)
    live.append(record(1))
    dead = tmp_path / f"{time.time_ns():020d}-999999.open"
    dead.write_bytes(encode(record(2)))
    fresh_new = tmp_path / f"{time.time_ns():020d}-999998.new"  # being made right now by a live process
    fresh_new.touch()
    stale_new = tmp_path / f"{time.time_ns():020d}-999997.new"  # its process died before locking it
    stale_new.touch()
    os.utime(stale_new, (time.time() - 3600, time.time() - 3600))
    assert hand_over_orphans(tmp_path) == [dead.with_suffix(".ready")]
    assert fresh_new.exists() and not stale_new.exists()
    assert [p.suffix for p in tmp_path.glob("*.open")] == [".open"]  # the live one, still locked by it
    assert list(tmp_path.glob("*.new")) == [fresh_new]


def test_shared_rate_limits_count_a_key_once_across_processes(tmp_path):
    key = KeyInfo("k1", "", "Acme", None, 3)
    a, b = RateLimits(tmp_path / "buckets"), RateLimits(tmp_path / "buckets")  # two processes' views of one file
    waits = [limits.retry_after(key) for limits in (a, b, a, b, a)]
    assert waits[:3] == [0, 0, 0] and all(w >= 1 for w in waits[3:])
    other = KeyInfo("k2", "", "Acme", None, 1)
    assert b.retry_after(other) == 0 and a.retry_after(other) >= 1
    alone = RateLimits()  # one process: its own buckets
    assert [alone.retry_after(key) for _ in range(4)][-1] >= 1


def test_concurrent_takers_of_one_bucket_never_overspend(tmp_path):
    key = KeyInfo("k1", "", "Acme", None, 50)
    views = [RateLimits(tmp_path / "buckets") for _ in range(4)]
    passed = []

    def take(limits):
        passed.append(sum(1 for _ in range(40) if limits.retry_after(key) == 0))

    threads = [threading.Thread(target=take, args=(v,)) for v in views]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(passed) == 50  # 160 tries in well under a second: the minute's 50, no more
