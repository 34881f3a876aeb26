"""GET /metrics (Prometheus text format, prometheus-client): requests, attempts by provider and outcome, the
latency the gateway adds, records waiting in the spool, spans and usage records taken in.

Each gateway has its own registry (several can run in one test process). When the gateway runs as several server
processes, prometheus-client's multiprocess mode is on (PROMETHEUS_MULTIPROC_DIR, set by core.server.run before
they start): each process writes its counts to files there and any of them answers /metrics with the sum."""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

ADDED_BUCKETS = (0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class _Waiting:
    """records_waiting, read when scraped (the spool folder is shared by every server process)."""

    def __init__(self, waiting: Callable[[], int]):
        self.waiting = waiting

    def collect(self):
        yield GaugeMetricFamily(
            "aium_gateway_records_waiting",
            "Records in the spool, not yet written to the ledger",
            value=self.waiting(),
        )


class Metrics:
    def __init__(self, waiting: Callable[[], int]):
        self.registry = r = CollectorRegistry()
        self._shared = os.environ.get(MULTIPROCESS_DIR)
        self._waiting = _Waiting(waiting)
        if self._shared:  # the sums over every process; process metrics would be one random process's
            self._scraped = CollectorRegistry()
            MultiProcessCollector(self._scraped, path=self._shared)
        else:
            self._scraped = r
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
        self._scraped.register(self._waiting)
        self.requests = Counter(
            "aium_gateway_requests",
            "Requests answered, by endpoint and HTTP status",
            ["endpoint", "status"],
            registry=r,
        )
        self.attempts = Counter(
            "aium_gateway_attempts",
            "Provider attempts, by provider and outcome (completed, failed, timeout, skipped)",
            ["provider", "outcome"],
            registry=r,
        )
        self.added = Histogram(
            "aium_gateway_added_latency_seconds",
            "Time the gateway adds to a proxied request (its whole time less the time waiting on providers)",
            ["endpoint"],
            buckets=ADDED_BUCKETS,
            registry=r,
        )
        self.upstream = Histogram(
            "aium_gateway_upstream_seconds", "Time waiting on a provider, per attempt", ["provider"], registry=r
        )
        self.spans = Counter(
            "aium_gateway_otlp_spans",
            "OTLP spans received, by result (recorded: a GenAI call "
            "recorded; ignored: not a GenAI call; rejected: a GenAI span that is not valid)",
            ["result"],
            registry=r,
        )
        self.usage_records = Counter(
            "aium_gateway_usage_records",
            "Records received at /v1/usage, by result (imported, duplicate, refused)",
            ["result"],
            registry=r,
        )
        self._children: dict[tuple, object] = {}

    def child(self, metric, *labels):
        """The labelled child, cached: labels() costs more than the increment itself."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def render(self) -> bytes:
        return generate_latest(self._scraped)
