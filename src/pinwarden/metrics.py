"""Prometheus metrics: one registry per :class:`~pinwarden.service.Service`.

Counters and histograms are bumped where things happen (HTTP middleware, worker,
reconciler, deliverer). The device gauges (due, overdue, offline) are read from the
database at scrape time: the queue is shared by every process, so any process answers
with the whole picture, including an API replica that runs no worker, and nothing can go
stale between scrapes.

``pinwarden serve --processes N`` answers ``/metrics`` from whichever API process takes
the request, so there the counters and histograms are kept in prometheus_client's
multiprocess mode (:func:`share_between_processes`: one file per process in a directory
of the server's) and every scrape sums all processes, the background loops' included.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from pinwarden.clock import Clock
from pinwarden.store.db import Database
from pinwarden.store.tables import Device

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LOCK_OPERATIONS = ("set", "remove")
LOCK_OUTCOMES = ("ack", "unavailable", "rejected")
RECONCILE_OUTCOMES = ("ok", "failed", "timeout", "lease_lost")
DELIVERY_OUTCOMES = ("succeeded", "http_error", "unreachable")
# Locks take seconds per command; a pass is several commands.
_PASS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
# prometheus_client's own variable: set, metrics are kept in files there.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def share_between_processes(directory: str) -> None:
    """Keep the metrics made from now on, in this process and in the processes it starts
    (they inherit the variable), in files under ``directory``, so that any of them can
    render the sum. Call before the first :class:`Metrics` is made."""
    os.environ[MULTIPROCESS_DIR] = directory
    # prometheus_client picks its value class once, at import; this process imported it
    # before it knew, so it is told again.
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


class Metrics:
    """Everything one process exports at ``/metrics``."""

    def __init__(self) -> None:
        # A registry of its own: tests build many services in one process, and the
        # global registry refuses a second metric of the same name.
        self.registry = CollectorRegistry()
        # Set: the counters live in files there, and render() sums every process's.
        self._shared_dir = os.environ.get(MULTIPROCESS_DIR) or None
        self._collectors: list[Collector] = []
        r = self.registry
        self.http_requests = Counter(
            "pinwarden_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "pinwarden_http_request_duration_seconds",
            "HTTP request latency by route template.",
            ["route"],
            registry=r,
        )
        self.reconciles = Counter(
            "pinwarden_reconciles",
            "Reconcile passes run by this process, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.reconcile_duration = Histogram(
            "pinwarden_reconcile_duration_seconds",
            "Wall-clock time of one reconcile pass.",
            registry=r,
            buckets=_PASS_BUCKETS,
        )
        self.lock_operations = Counter(
            "pinwarden_lock_operations",
            "Set/remove operations sent to locks, by the driver's outcome.",
            ["operation", "outcome"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "pinwarden_webhook_deliveries",
            "Webhook delivery attempts, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.webhook_lag = Histogram(
            "pinwarden_webhook_delivery_lag_seconds",
            "From an event's creation to its successful delivery.",
            registry=r,
            buckets=_LAG_BUCKETS,
        )
        # Zero series exist from the start, so rate() and alerts see them before the
        # first occurrence.
        for outcome in RECONCILE_OUTCOMES:
            self.reconciles.labels(outcome)
        for operation in LOCK_OPERATIONS:
            for lock_outcome in LOCK_OUTCOMES:
                self.lock_operations.labels(operation, lock_outcome)
        for delivery_outcome in DELIVERY_OUTCOMES:
            self.webhook_deliveries.labels(delivery_outcome)

    def watch_devices(self, db: Database, clock: Clock, overdue_after: timedelta) -> None:
        """Export the device gauges, computed from ``db`` at each scrape."""
        gauges = _DeviceGauges(db, clock, overdue_after)
        self.registry.register(gauges)
        self._collectors.append(gauges)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (of every process, when they
        are shared)."""
        if self._shared_dir is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=self._shared_dir)  # type: ignore[no-untyped-call]
        for collector in self._collectors:
            merged.register(collector)
        return generate_latest(merged)


class _DeviceGauges(Collector):
    """Due, overdue and offline devices: three counts over indexed columns, one query."""

    def __init__(self, db: Database, clock: Clock, overdue_after: timedelta) -> None:
        self._db = db
        self._clock = clock
        self._overdue_after = overdue_after

    def describe(self) -> Iterable[Metric]:
        # Described without a query, so registering never touches the database.
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        now = self._clock.now()
        due_at = Device.next_reconcile_at
        stmt = select(
            func.count().filter(due_at <= now),
            func.count().filter(due_at <= now - self._overdue_after),
            func.count().filter(Device.online.is_(False)),
        )
        try:
            with self._db.read() as session:
                row = session.execute(stmt).one()
        except SQLAlchemyError as exc:
            # A scrape while the database is away still shows the process's own metrics.
            log.warning("device gauges unavailable: %s", type(exc).__name__)
            return []
        return list(self._families(int(row[0]), int(row[1]), int(row[2])))

    def _families(self, due: int = 0, overdue: int = 0, offline: int = 0) -> Iterator[Metric]:
        overdue_seconds = int(self._overdue_after.total_seconds())
        yield GaugeMetricFamily(
            "pinwarden_devices_due", "Devices whose next reconcile time has come.", value=due
        )
        yield GaugeMetricFamily(
            "pinwarden_devices_overdue",
            f"Devices due for more than {overdue_seconds} s (the reconcile timeout).",
            value=overdue,
        )
        yield GaugeMetricFamily(
            "pinwarden_devices_offline", "Devices last reported offline.", value=offline
        )
