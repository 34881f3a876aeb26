"""The sidecar worker: the daily probe at PROBE_TIME (PROBE_TIMEZONE), alert checks every
CHECK_INTERVAL_MINUTES, a heartbeat every cycle.

    python worker.py                       # loop (systemd, `make run`)
    python worker.py --once probe|alerts|all   # one run for cron, exit code:
        2  nothing could be probed: no provider configured (probe, all; before any other code)
        1  an alert fired (a new alert, a probe report saying ALERT) or a critical alert is open
        0  otherwise

SIGTERM / SIGINT: exit 0 within a second or so. A probe in hand is cut short, even mid-call, and recorded as cut
off (it runs again at the next start); another job in hand finishes (its transaction commits or rolls back as
usual).
"""

from __future__ import annotations

import signal

_EARLY_SIGNALS: list[int] = []
if __name__ == "__main__":
    # Catch SIGTERM from the first instant: a stop asked during the imports or the migration still exits 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: _EARLY_SIGNALS.append(signum))
    signal.signal(signal.SIGINT, lambda signum, frame: _EARLY_SIGNALS.append(signum))

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import schedule  # noqa: E402

from core.config import get_settings  # noqa: E402
from core.providers.registry import configured_providers  # noqa: E402
from core.redact import redact  # noqa: E402
from core.worker.heartbeat import beat  # noqa: E402
from core.worker.jobs import (  # noqa: E402
    alerts_job,
    probe_job,
    probe_missed,
    setup_logging,
    sync_configured,
    sync_job,
)
from core.worker.probe_call import StopRequest  # noqa: E402
from core.worker.probe_report import settings_to_set  # noqa: E402

log = logging.getLogger("worker")

MAX_SLEEP = 30.0  # seconds between cycles at most: the heartbeat cadence


class Worker:
    def __init__(self, *, out=None):
        self.settings = get_settings()
        # The stdout of now, not the one at import time: a caller (a test, a wrapper) may have redirected it since.
        self.out = out if out is not None else sys.stdout
        self.stop = StopRequest()
        self.started_at = datetime.now(UTC)
        self.last_job = "start"
        self.scheduler = schedule.Scheduler()

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    # -- signals ---------------------------------------------------------------------------------------------
    def request_stop(self, signum=None, frame=None) -> None:
        try:
            name = signal.Signals(signum).name
        except (TypeError, ValueError):
            name = "a stop request"
        if not self.stopping:
            log.info("worker: %s received, stopping (a probe in hand is cut short)", name)
        self.stop.set(name)

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        if _EARLY_SIGNALS:
            self.request_stop(_EARLY_SIGNALS[0])

    # -- jobs ------------------------------------------------------------------------------------------------
    def run_job(self, name: str, *, scheduled: bool = True):
        """Run one job; an exception is logged (redacted) and the loop goes on."""
        if self.stopping:
            return None
        self.last_job = name
        try:
            if name == "probe":
                return probe_job(scheduled=scheduled, out=self.out, stop=self.stop)
            if name == "sync":
                return sync_job()
            return alerts_job(scheduled=scheduled)
        except Exception as e:  # noqa: BLE001 - one failed job must not stop the worker
            log.error("%s job failed: %s: %s", name, type(e).__name__, redact(str(e)))
            return None

    def setup(self) -> None:
        s = self.settings
        self.scheduler.every().day.at(s.probe_time, s.probe_timezone).do(self.run_job, "probe")
        self.scheduler.every(s.check_interval_minutes).minutes.do(self.run_job, "alerts")
        if sync_configured(s):
            # The providers' bills for the last days, before the morning probe reads month-to-date spend.
            self.scheduler.every().day.at(s.sync_time, s.probe_timezone).do(self.run_job, "sync")
        log.info(
            "worker: probe daily at %s %s, alert checks every %s min",
            s.probe_time,
            s.probe_timezone,
            s.check_interval_minutes,
        )
        if not configured_providers(s):
            log.warning(
                "worker: no provider configured, so the daily probe has nothing to call and reports NOT OK; set %s",
                settings_to_set(),
            )

    def start(self) -> None:
        """Schedule the jobs, catch up a missed daily probe (once), run a first alert check."""
        self.setup()
        self.heartbeat()
        try:
            missed = probe_missed()
        except Exception as e:  # noqa: BLE001
            log.error("worker: cannot read the last probe time: %s", redact(str(e)))
            missed = False
        if missed:
            log.info("worker: the daily probe was missed while down; running it once now")
            self.run_job("probe", scheduled=True)
        self.run_job("alerts", scheduled=True)
        self.heartbeat()

    def heartbeat(self) -> None:
        try:
            beat(started_at=self.started_at, last_job=self.last_job)
        except Exception as e:  # noqa: BLE001 - a missed beat shows as "stale", it must not kill the loop
            log.error("worker: heartbeat failed: %s", redact(str(e)))

    def cycle(self) -> None:
        self.scheduler.run_pending()
        self.heartbeat()

    def loop(self) -> int:
        self.start()
        while not self.stopping:
            self.cycle()
            idle = self.scheduler.idle_seconds
            wait = MAX_SLEEP if idle is None else max(0.0, min(MAX_SLEEP, idle))
            deadline = time.monotonic() + wait
            while not self.stopping and time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        log.info("worker: stopped")
        return 0

    def once(self, what: str) -> int:
        """Exit code: 2 nothing could be probed (it outranks the rest), 1 an alert or a failed job, else 0."""
        codes = []
        names = ["probe", "alerts"] if what == "all" else [what]
        for name in names:
            if name == "alerts" and what == "all":
                continue  # the probe job ends with an alert check already
            outcome = self.run_job(name, scheduled=False)
            if outcome is None and not self.stopping:
                codes.append(1)  # the job itself failed: cron should hear about it
            elif outcome is not None:
                codes.append(outcome.exit_code)
        self.heartbeat()
        if self.stopping:
            return 0
        return max(codes, default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python worker.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--once",
        choices=["probe", "alerts", "all"],
        help="run once and exit: 2 when nothing could be probed (no provider configured), 1 when "
        "an alert fired or a critical alert is open, else 0",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_file)
    worker = Worker()
    worker.install_signals()
    from core.storage.db import migrate

    try:
        migrate()
    except Exception as e:  # noqa: BLE001
        log.error("worker: database migration failed: %s: %s", type(e).__name__, redact(str(e)))
        return 2
    if worker.stopping:
        log.info("worker: stopped before starting")
        return 0
    if args.once:
        return worker.once(args.once)
    return worker.loop()


if __name__ == "__main__":
    raise SystemExit(main())
