"""Runtime settings, read from ``PINWARDEN_*`` environment variables."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from datetime import timedelta

DEFAULT_DATABASE_URL = "sqlite:///pinwarden.db"


_TRUE = ("1", "on", "true", "yes")
_FALSE = ("0", "off", "false", "no")


class SettingError(ValueError):
    """A ``PINWARDEN_*`` variable that cannot be used; the message names it and says why."""


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise SettingError(f"{name} must be a number of at least 0, not {raw!r}")
    return value


def _env_int(name: str, default: int, low: int = 0, high: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise SettingError(f"{name} must be a whole number {bounds}, not {raw!r}")
    return value


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise SettingError(f"{name} must be on or off (1/0, true/false), not {raw!r}")


@dataclass(frozen=True)
class Settings:
    """Everything the service can be tuned with. See the README's configuration table."""

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 3020
    # Just-in-time programming starts this long before ``starts_at`` (spec R130).
    programming_lead_time: timedelta = timedelta(minutes=60)
    # Locks that schedule natively get the code (with its window) this early (R129).
    native_preload: timedelta = timedelta(hours=72)
    # How long the simulated locks take to apply a set/remove.
    sandbox_latency: timedelta = timedelta(seconds=1)
    # Setting or removing that takes longer than this raises a delay warning (R142).
    delay_warning_after: timedelta = timedelta(minutes=5)
    # A converged device is still re-read this often to notice drift.
    drift_check_interval: timedelta = timedelta(hours=1)
    # Every connected account's locks are discovered again this often.
    discovery_interval: timedelta = timedelta(minutes=5)
    # Retry back-off after a failed device call: base * 2^n, capped.
    retry_base: timedelta = timedelta(seconds=5)
    retry_cap: timedelta = timedelta(minutes=10)
    # A pass renews its device's lease every third of this; a device whose process died
    # is taken over once it lapses.
    lease_duration: timedelta = timedelta(seconds=30)
    # Reconciles one process runs at once, and how long one may take before it is
    # cancelled and retried with back-off.
    worker_concurrency: int = 32
    reconcile_timeout: timedelta = timedelta(seconds=60)
    # Webhook delivery: per-request timeout, how long a claimed delivery is held, how
    # many receivers are served at once, and how long events are kept.
    webhook_timeout: timedelta = timedelta(seconds=10)
    delivery_lease: timedelta = timedelta(seconds=60)
    webhook_lanes: int = 50
    event_retention: timedelta = timedelta(days=90)
    run_worker: bool = True
    # Which background loops a process with the worker runs: the engine (reconcile
    # worker, discovery, device events) and the webhook deliverer. Either may run in a
    # process of its own (``pinwarden worker`` with the other one off), e.g. to give the
    # deliverer a core of its own.
    run_engine: bool = True
    deliver_webhooks: bool = True
    # /metrics is served without authentication, as Prometheus scrapes; off removes it.
    metrics: bool = True
    # An idle worker or deliverer looks for work this often even unwoken: work written
    # by another process on SQLite, or notified while a listener was reconnecting.
    idle_poll: timedelta = timedelta(seconds=5)
    # Access-code writes allowed per device and minute (R51); 0 = unlimited. Counted in
    # the database, so they hold across API processes.
    rate_limit_creates: int = 10
    rate_limit_updates: int = 10
    rate_limit_deletes: int = 20
    # The keys PINs and secrets are sealed with (store/sealed.py): given inline, or else in a
    # key file, created on first start; None: PINWARDEN_SECRET_KEY(_FILE) or pinwarden.key.
    secret_key: str | None = None
    secret_key_file: str | None = None
    # Audit entries older than this are pruned hourly (store/audit.py).
    audit_retention: timedelta = timedelta(days=365)
    # Bad API keys one address may send in a burst before it must wait (about this many
    # a minute after that); 0 = no guard. Per process (api/bruteforce.py).
    auth_failure_limit: int = 10
    # HTTP API processes ``pinwarden serve`` runs on its one port (serving.py); with more
    # than one, the background loops run in the process that started them. Two by default
    # (one on a one-core machine): on two cores they answer reads 1.5-2x faster than one
    # (docs/benchmarks.md), and three were no faster than two.
    api_processes: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))

    @classmethod
    def from_env(cls) -> Settings:
        """Build settings from the environment, falling back to the defaults; raises
        :class:`SettingError` for a value that cannot be read."""
        base = cls()

        def span(name: str, unit: timedelta, default: timedelta) -> timedelta:
            return unit * _env_float(name, default / unit)

        minute, hour, second = timedelta(minutes=1), timedelta(hours=1), timedelta(seconds=1)
        return replace(
            base,
            database_url=os.environ.get("PINWARDEN_DATABASE_URL") or base.database_url,
            host=os.environ.get("PINWARDEN_HOST") or base.host,
            port=_env_int("PINWARDEN_PORT", base.port, low=1, high=65535),
            programming_lead_time=span(
                "PINWARDEN_PROGRAMMING_LEAD_MINUTES", minute, base.programming_lead_time
            ),
            native_preload=span("PINWARDEN_NATIVE_PRELOAD_HOURS", hour, base.native_preload),
            sandbox_latency=span("PINWARDEN_SANDBOX_LATENCY_SECONDS", second, base.sandbox_latency),
            delay_warning_after=span(
                "PINWARDEN_DELAY_WARNING_MINUTES", minute, base.delay_warning_after
            ),
            drift_check_interval=span(
                "PINWARDEN_DRIFT_CHECK_MINUTES", minute, base.drift_check_interval
            ),
            discovery_interval=span(
                "PINWARDEN_DISCOVERY_INTERVAL_SECONDS", second, base.discovery_interval
            ),
            lease_duration=span("PINWARDEN_LEASE_SECONDS", second, base.lease_duration),
            worker_concurrency=_env_int(
                "PINWARDEN_WORKER_CONCURRENCY", base.worker_concurrency, low=1
            ),
            reconcile_timeout=span(
                "PINWARDEN_RECONCILE_TIMEOUT_SECONDS", second, base.reconcile_timeout
            ),
            webhook_timeout=span("PINWARDEN_WEBHOOK_TIMEOUT_SECONDS", second, base.webhook_timeout),
            delivery_lease=span("PINWARDEN_DELIVERY_LEASE_SECONDS", second, base.delivery_lease),
            event_retention=span(
                "PINWARDEN_EVENT_RETENTION_DAYS", timedelta(days=1), base.event_retention
            ),
            run_worker=_env_bool("PINWARDEN_RUN_WORKER", base.run_worker),
            run_engine=_env_bool("PINWARDEN_RUN_ENGINE", base.run_engine),
            deliver_webhooks=_env_bool("PINWARDEN_DELIVER_WEBHOOKS", base.deliver_webhooks),
            metrics=_env_bool("PINWARDEN_METRICS", base.metrics),
            idle_poll=span("PINWARDEN_IDLE_POLL_SECONDS", second, base.idle_poll),
            rate_limit_creates=_env_int(
                "PINWARDEN_RATE_LIMIT_CREATES_PER_MINUTE", base.rate_limit_creates
            ),
            rate_limit_updates=_env_int(
                "PINWARDEN_RATE_LIMIT_UPDATES_PER_MINUTE", base.rate_limit_updates
            ),
            rate_limit_deletes=_env_int(
                "PINWARDEN_RATE_LIMIT_DELETES_PER_MINUTE", base.rate_limit_deletes
            ),
            secret_key=os.environ.get("PINWARDEN_SECRET_KEY") or None,
            secret_key_file=os.environ.get("PINWARDEN_SECRET_KEY_FILE") or None,
            audit_retention=span(
                "PINWARDEN_AUDIT_RETENTION_DAYS", timedelta(days=1), base.audit_retention
            ),
            auth_failure_limit=_env_int("PINWARDEN_AUTH_FAILURE_LIMIT", base.auth_failure_limit),
            api_processes=_env_int("PINWARDEN_API_PROCESSES", base.api_processes, low=1, high=64),
        )
