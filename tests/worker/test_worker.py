"""The worker: the schedule (time moved with time-machine), the missed probe run once at start, two workers
never running one job twice, --once exit codes, SIGTERM, logging with secrets redacted."""

import io
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

import worker as worker_module
from core.limits.budgets import set_budget, set_quota
from core.storage.db import session_scope
from core.storage.models import PROBE_BATCH_KEY, AIJob, ProbeRun, WorkerHeartbeat, WorkerState
from core.worker.jobs import latest_slot, probe_job, probe_missed
from core.worker.probe import LAST_SUCCESS_KEY
from tests.fakes.provider_server import FakeProvider
from tests.helpers import ROOT
from tests.helpers.alerts import spend

KEY = "sk-proj-WORKERsecretKEY0123456789"


@pytest.fixture
def openai_fake(env):
    with FakeProvider("openai", "gpt-4o-mini") as fake:
        env(
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY=KEY,
            PROBE_TIMEOUT_SECONDS="5",
            OPERATIONS_FILE="/nonexistent/operations.toml",
        )
        yield fake


def set_last_success(when: datetime):
    with session_scope() as s:
        s.merge(WorkerState(key=LAST_SUCCESS_KEY, value=when.isoformat(), updated_at=when))


def state(key):
    with session_scope() as s:
        row = s.get(WorkerState, key)
        return None if row is None else row.value


def probe_runs() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(ProbeRun))


def test_latest_slot_in_the_probe_timezone(env):
    env(PROBE_TIME="09:00", PROBE_TIMEZONE="Europe/Paris")
    assert latest_slot(datetime(2026, 2, 12, 8, 0, tzinfo=UTC)) == datetime(2026, 2, 12, 8, 0, tzinfo=UTC)
    assert latest_slot(datetime(2026, 2, 12, 7, 59, tzinfo=UTC)) == datetime(2026, 2, 11, 8, 0, tzinfo=UTC)
    assert latest_slot(datetime(2026, 7, 1, 7, 30, tzinfo=UTC)) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # CEST


def test_schedule_probe_daily_at_the_configured_time_and_checks_every_interval(db, openai_fake, env):
    env(PROBE_TIME="09:00", PROBE_TIMEZONE="Europe/Paris", CHECK_INTERVAL_MINUTES="15")
    with time_machine.travel(datetime(2026, 2, 12, 7, 59, 0, tzinfo=UTC), tick=False) as traveller:
        w = worker_module.Worker(out=io.StringIO())
        w.start()
        assert openai_fake.calls == 0  # a fresh database has missed nothing
        first_check = state("alerts.last_run")
        assert first_check is not None
        traveller.move_to(datetime(2026, 2, 12, 7, 59, 59, tzinfo=UTC))
        w.cycle()
        assert openai_fake.calls == 0
        traveller.move_to(datetime(2026, 2, 12, 8, 0, 0, tzinfo=UTC))  # 09:00 in Paris
        w.cycle()
        assert openai_fake.calls == 1 and "OpenAI accessible" in w.out.getvalue()
        traveller.move_to(datetime(2026, 2, 12, 8, 1, 0, tzinfo=UTC))
        w.cycle()
        assert openai_fake.calls == 1
        assert state("alerts.last_run") == first_check
        traveller.move_to(datetime(2026, 2, 12, 8, 14, 0, tzinfo=UTC))
        w.cycle()
        assert state("alerts.last_run") != first_check  # 15 minutes after start
        traveller.move_to(datetime(2026, 2, 13, 8, 0, 0, tzinfo=UTC))
        w.cycle()
        assert openai_fake.calls == 2
        with session_scope() as s:
            beat = s.scalar(select(WorkerHeartbeat))
        assert beat.last_beat_at == datetime(2026, 2, 13, 8, 0, 0, tzinfo=UTC)


def test_missed_probe_runs_once_at_start(db, openai_fake, env):
    set_last_success(datetime(2026, 2, 9, 9, 0, 5, tzinfo=UTC))  # three slots missed while down
    with time_machine.travel(datetime(2026, 2, 12, 10, 30, tzinfo=UTC), tick=False) as traveller:
        assert probe_missed()
        w = worker_module.Worker(out=io.StringIO())
        w.start()
        assert openai_fake.calls == 1
        assert state(LAST_SUCCESS_KEY).startswith("2026-02-12T10:30")
        for minute in (31, 45, 59):
            traveller.move_to(datetime(2026, 2, 12, 10, minute, tzinfo=UTC))
            w.cycle()
        other = worker_module.Worker(out=io.StringIO())  # a second worker starting now
        other.start()
        assert openai_fake.calls == 1 and probe_runs() == 1


def test_not_missed_when_todays_probe_ran(db, env):
    set_last_success(datetime(2026, 2, 12, 9, 0, 2, tzinfo=UTC))
    with time_machine.travel(datetime(2026, 2, 12, 18, 0, tzinfo=UTC), tick=False):
        assert not probe_missed()
    with time_machine.travel(datetime(2026, 2, 13, 9, 0, tzinfo=UTC), tick=False):
        assert probe_missed()


def test_two_workers_never_run_the_probe_twice(db, openai_fake):
    """Concurrent scheduled runs of one slot: the lock (advisory / lease) and the slot record make one call."""
    openai_fake.hang_seconds = 1  # the first holder is still busy when the others arrive
    openai_fake.script.append("hang")
    barrier = threading.Barrier(3)
    outcomes, errors = [], []
    now = datetime.now(UTC)

    def run():
        try:
            barrier.wait()
            outcomes.append(probe_job(now=now, scheduled=True))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(o.ran for o in outcomes) == 1
    assert openai_fake.calls == 1 and probe_runs() == 1
    assert probe_job(now=now + timedelta(minutes=1), scheduled=True).ran is False  # that slot is done


def test_a_failing_job_is_logged_redacted_and_the_worker_goes_on(db, env, caplog):
    w = worker_module.Worker(out=io.StringIO())
    env(DATABASE_URL="postgresql+psycopg://postgres:hunter2secret@127.0.0.1:1/nowhere")
    caplog.set_level(logging.INFO)
    assert w.run_job("alerts", scheduled=False) is None
    assert "alerts job failed" in caplog.text and "hunter2secret" not in caplog.text
    env(DATABASE_URL=db)
    assert w.run_job("alerts", scheduled=False).ran


# -- the process ---------------------------------------------------------------------------------------------


def test_once_as_a_process(sqlite_db, env):
    """The smoke test of `python worker.py --once` as a process: exit codes and its log lines on stderr."""

    def once():
        return subprocess.run(
            [sys.executable, "worker.py", "--once", "alerts"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=dict(os.environ),
            timeout=120,
        )

    r = once()
    assert r.returncode == 0, r.stderr
    set_budget("Acme", "10", provider="openai")
    spend("9", when=datetime.now(UTC) - timedelta(minutes=5))
    r = once()
    assert r.returncode == 1, r.stderr
    assert "ALERT cost_warning" in r.stderr


def test_once_alerts_exit_codes(db, env, run_worker):
    r = run_worker("--once", "alerts")
    assert r.returncode == 0, r.stderr
    set_budget("Acme", "10", provider="openai")
    spend("9", when=datetime.now(UTC) - timedelta(minutes=5))
    r = run_worker("--once", "alerts")
    assert r.returncode == 1, r.stderr
    assert "ALERT cost_warning" in r.stderr
    assert run_worker("--once", "alerts").returncode == 0  # still open, nothing new


def test_once_probe_and_all_exit_codes_and_log_file(db, env, openai_fake, tmp_path, run_worker):
    log_file = tmp_path / "monitor.log"
    env(LOG_FILE=log_file)
    r = run_worker("--once", "probe")
    assert r.returncode == 0, r.stderr
    assert "✅ Monitoring OK" in r.stdout and "✅ OpenAI accessible" in r.stdout
    openai_fake.mode = "401"
    r = run_worker("--once", "all")
    assert r.returncode == 1
    assert "❌ OpenAI not accessible" in r.stdout and "AuthenticationError" in r.stdout
    logged = log_file.read_text()
    assert "probe: openai failed" in logged and "provider_unavailable" in logged
    assert KEY not in logged + r.stdout + r.stderr and "WORKERsecret" not in logged
    lines = logged.splitlines()
    assert lines and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (INFO|WARNING|ERROR) ", line) for line in lines)
    openai_fake.mode = "ok"
    env(LOG_FILE=None)
    r = run_worker("--once", "probe")
    assert r.returncode == 0  # recovered: the alert resolves itself, nothing new fired


def blow_quota():
    """Acme's OpenAI quota past 100 %: the check opens a critical quota_exceeded alert."""
    from core.alerts import check_alerts

    set_quota("Acme", "openai", monthly_usd="10")
    spend("12.5", when=datetime.now(UTC) - timedelta(minutes=5))
    assert [a["type"] for a in check_alerts()["alerts"]] == ["quota_exceeded"]


def test_once_exits_2_when_nothing_could_be_probed(db, env, run_worker):
    blow_quota()  # a critical alert open as well: the misconfigured monitor still comes first
    r = run_worker("--once", "all")
    assert r.returncode == 2, r.stderr
    assert "Monitoring OK" not in r.stdout and "⛔ Monitoring NOT OK: nothing was probed" in r.stdout
    assert "OPENAI_API_KEY" in r.stdout and "quota_exceeded · Acme / OpenAI" in r.stdout
    assert "probe: NOT OK: nothing was probed, no provider is configured" in r.stderr
    r = run_worker("--once", "probe")
    assert r.returncode == 2, r.stderr
    assert "nothing was probed" in r.stdout


def test_once_exits_1_while_a_critical_alert_is_open(db, openai_fake, run_worker):
    blow_quota()  # opened before: the runs below create nothing new
    r = run_worker("--once", "probe")
    assert r.returncode == 1, r.stderr
    assert "✅ OpenAI accessible" in r.stdout and "Monitoring OK" not in r.stdout
    assert "🚨 Critical alerts open (1):" in r.stdout and "quota_exceeded · Acme / OpenAI: " in r.stdout
    assert "probe: critical alert open: quota_exceeded" in r.stderr
    r = run_worker("--once", "alerts")
    assert r.returncode == 1, r.stderr
    assert "1 critical open" in r.stderr and "alerts: critical alert open: quota_exceeded" in r.stderr


def test_the_loop_logs_the_same_verdict(db, env, caplog):
    caplog.set_level(logging.INFO)
    w = worker_module.Worker(out=io.StringIO())
    w.setup()
    assert "no provider configured, so the daily probe has nothing to call" in caplog.text
    outcome = w.run_job("probe", scheduled=False)
    assert outcome.exit_code == 2
    assert "probe: NOT OK: nothing was probed" in caplog.text and "monitoring OK" not in caplog.text
    assert "Monitoring NOT OK" in w.out.getvalue()


def wait_for(predicate, what, limit=60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def test_sigterm_while_idle_exits_0(db, env):
    proc = subprocess.Popen(
        [sys.executable, "worker.py"],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def beating():
            with session_scope() as s:
                return s.scalar(select(func.count()).select_from(WorkerHeartbeat)) > 0

        wait_for(beating, "a heartbeat")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "worker: stopped" in err


@pytest.fixture
def hanging(env):
    """OpenAI and Gemini both hang far longer than a stop may take; the probe's timeout is long too."""
    with (
        FakeProvider("openai", "gpt-4o-mini", hang_seconds=90) as o,
        FakeProvider("gemini", "gemini-2.0-flash", hang_seconds=90) as g,
    ):
        o.mode = g.mode = "hang"
        env(
            OPENAI_BASE_URL=o.base_url,
            OPENAI_API_KEY=KEY,
            GEMINI_BASE_URL=g.base_url,
            GEMINI_API_KEY="AIzaSyWORKERgeminiKEY0123456789abc",
            PROBE_TIMEOUT_SECONDS="120",
            OPERATIONS_FILE="/nonexistent/operations.toml",
        )
        yield o, g


def cut_off_runs() -> list[ProbeRun]:
    with session_scope() as s:
        return list(s.scalars(select(ProbeRun).order_by(ProbeRun.id)))


def stop_mid_probe(args: list[str], fake: FakeProvider) -> tuple[float, str, str, int]:
    """Start the worker, SIGTERM it once the provider has the probe's call in hand; seconds until it exited."""
    proc = subprocess.Popen(
        [sys.executable, "worker.py", *args],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: fake.calls >= 1, "the probe call")
        time.sleep(0.3)  # well inside the call
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)  # the call would hang 120 s: a stop that waits for it fails here
        return time.monotonic() - sent, out, err, proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def assert_cut_off(out: str, last_success: str | None = None) -> None:
    runs = cut_off_runs()
    assert len(runs) == 1, [(r.provider, r.error_class) for r in runs]
    run = runs[0]
    assert (run.provider, run.ok, run.error_class) == ("openai", False, "ProbeStopped")
    assert re.fullmatch(
        r"stopped by SIGTERM after \d+\.\d s during the OpenAI call; not probed: gemini", run.error_message
    ), run.error_message
    assert "⏹️ Probe stopped by SIGTERM" in out and run.report in out
    assert state(LAST_SUCCESS_KEY) == last_success  # not a completed probe: it runs again at the next start
    with session_scope() as s:
        assert s.scalar(select(func.count()).select_from(AIJob)) == 0  # the cut call measured nothing


def test_sigterm_mid_probe_once_exits_at_once_and_records_the_cut(db, hanging):
    openai_fake, gemini_fake = hanging
    took, out, err, code = stop_mid_probe(["--once", "probe"], openai_fake)
    assert code == 0, err
    assert took < 60, f"{took:.1f} s between SIGTERM and exit"  # not the 120 s the call would have taken
    assert gemini_fake.calls == 0
    assert_cut_off(out)
    assert "probe: stopped by SIGTERM" in err


def test_sigterm_mid_probe_in_the_loop_exits_at_once_and_no_outage_is_reported(db, hanging):
    openai_fake, _ = hanging
    before = datetime.now(UTC) - timedelta(days=2)
    set_last_success(before)  # the missed probe runs at start
    with session_scope() as s:  # the previous complete probe: the availability rule reads runs since then
        s.merge(WorkerState(key=PROBE_BATCH_KEY, value=before.isoformat(), updated_at=before))
    took, out, err, code = stop_mid_probe([], openai_fake)
    assert code == 0, err
    assert took < 60, f"{took:.1f} s between SIGTERM and exit"  # not the 120 s the call would have taken
    assert "worker: stopped" in err
    assert_cut_off(out, last_success=before.isoformat())
    # The cut-off row is no measure of OpenAI: the next check opens no provider_unavailable for it.
    from core.alerts import check_alerts

    assert not [a for a in check_alerts()["alerts"] if a["type"] == "provider_unavailable"]


def test_a_stop_between_calls_probes_nothing_more(db, hanging):
    from core.worker.probe import run_probe
    from core.worker.probe_call import StopRequest

    stop = StopRequest()
    stop.set("SIGINT")
    report = run_probe(stop=stop)
    assert report.stopped.startswith("stopped by SIGINT after ")
    assert report.stopped.endswith("s; not probed: openai, gemini")
    assert [f.calls for f in hanging] == [0, 0]
    runs = cut_off_runs()
    assert [(r.provider, r.error_class) for r in runs] == [("openai", "ProbeStopped")]


def test_job_lock_is_exclusive_across_connections(db):
    from core.storage.locks import job_lock

    with job_lock("test.lock") as first:
        assert first
        with job_lock("test.lock", wait=0.2) as second:
            assert not second
        with job_lock("other.lock") as other:
            assert other
    with job_lock("test.lock") as again:
        assert again


def test_sqlite_lease_of_a_dead_holder_expires(sqlite_db):
    from core.storage.locks import job_lock

    with job_lock("lease.lock", ttl=-1) as stale:  # a holder whose lease already ran out (it died)
        assert stale
        with job_lock("lease.lock") as taken_over:
            assert taken_over
