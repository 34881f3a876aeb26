"""The worker's daily OpenAI Usage/Costs sync: scheduled only with an admin key, at SYNC_TIME."""

import io
from datetime import UTC, date, datetime

import time_machine
from sqlalchemy import func, select

import worker as worker_module
from core.storage.db import session_scope
from core.storage.models import AIJob
from core.worker.jobs import sync_job
from tests.fakes.openai_admin_server import FakeOpenAIAdmin, usage_result


def billed_rows() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count()).select_from(AIJob).where(AIJob.source == "provider_bill"))


def test_no_admin_key_means_no_sync_job(db, env):
    env(OPENAI_ADMIN_KEY=None, ANTHROPIC_ADMIN_KEY=None)
    assert sync_job().skipped_reason == "no admin key set (OPENAI_ADMIN_KEY, ANTHROPIC_ADMIN_KEY)"
    w = worker_module.Worker(out=io.StringIO())
    w.setup()
    assert len(w.scheduler.get_jobs()) == 2  # probe and alerts only


def test_sync_runs_daily_at_sync_time(db, env):
    with FakeOpenAIAdmin(page_size=5) as fake:
        fake.usage[date(2026, 2, 11)] = [usage_result("gpt-4o-mini", "proj_a", 1000, 200)]
        env(
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_ADMIN_KEY=fake.admin_key,
            SYNC_TIME="08:30",
            OPENAI_SYNC_DAYS="3",
            OPENAI_SYNC_COMPANY="Billing",
        )
        with time_machine.travel(datetime(2026, 2, 12, 8, 29, 0, tzinfo=UTC), tick=False) as traveller:
            w = worker_module.Worker(out=io.StringIO())
            w.setup()
            assert len(w.scheduler.get_jobs()) == 3
            w.cycle()
            assert billed_rows() == 0
            traveller.move_to(datetime(2026, 2, 12, 8, 30, 0, tzinfo=UTC))
            w.cycle()
            assert billed_rows() == 1
            traveller.move_to(datetime(2026, 2, 13, 8, 30, 0, tzinfo=UTC))
            w.cycle()
            assert billed_rows() == 1  # the re-read day is replaced, never doubled
