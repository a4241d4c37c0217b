"""Health, readiness, metrics and the API description, over real HTTP."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pinwarden.api.routes import all_endpoints
from pinwarden.config import Settings
from pinwarden.health import Readiness
from pinwarden.service import Service
from pinwarden.store import migrate
from tests.conftest import Harness
from tests.processes import free_port, serve, wait_until
from tests.webhooks.receiver import Receiver

SECOND = timedelta(seconds=1)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_health_and_ready_answer_without_a_key(server: Harness) -> None:
    health = httpx.get(f"{server.endpoint}/health")
    assert health.status_code == 200 and health.json()["ok"] is True
    # Ready once the worker loop has looked at its queue for the first time.
    wait_until(lambda: httpx.get(f"{server.endpoint}/ready").status_code == 200, 15)
    ready = httpx.get(f"{server.endpoint}/ready")
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok", "worker": "ok"}


def test_ready_fails_on_a_stale_worker_and_names_it(
    server: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server.service.worker, "heartbeat_age", lambda: 10_000.0)
    ready = httpx.get(f"{server.endpoint}/ready")
    assert ready.status_code == 503
    assert ready.json()["failed"] == ["worker"]
    assert "no heartbeat" in ready.json()["checks"]["worker"]


def test_ready_fails_on_an_old_schema_and_an_absent_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0003")
    settings = replace(Settings(), database_url=url, run_worker=False)
    checks = Readiness(Service(settings).db, settings, None).check()
    assert checks["database"] == "ok"
    assert checks["migrations"].startswith("database at 0003")
    gone = replace(settings, database_url="postgresql://nobody@127.0.0.1:1/none")
    checks = Readiness(Service(gone).db, gone, None).check()
    assert checks["database"].startswith("unreachable")


def test_ready_of_an_api_only_process_skips_the_worker(tmp_path: Path) -> None:
    env = dict(os.environ, PINWARDEN_DATABASE_URL=f"sqlite:///{tmp_path / 'api.db'}")
    port = free_port()
    proc = serve(env, port, "--no-worker")
    try:

        def ready() -> httpx.Response | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ready")
            except httpx.HTTPError:
                return None

        wait_until(ready, 30)
        answer = ready()
        assert answer is not None and answer.status_code == 200
        assert answer.json()["checks"] == {"database": "ok", "migrations": "ok"}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_metrics_move_when_a_code_is_set_and_delivered(server: Harness) -> None:
    receiver = Receiver()
    try:
        seam = server.seam()
        seam.webhooks.create(url=receiver.url)
        device_id = seam.devices.list(device_type="august_lock")[0].device_id
        before = _samples(httpx.get(f"{server.endpoint}/metrics").text)
        seam.access_codes.create(device_id=device_id, code="4821")
        server.advance(SECOND)
        assert seam.access_codes.list(device_id=device_id)[0].status == "set"
        scrape = httpx.get(f"{server.endpoint}/metrics")
    finally:
        receiver.close()
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    after = _samples(scrape.text)

    def grew(name: str, **labels: str) -> bool:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) > before.get(key, 0)

    route = {"route": "/access_codes/create", "method": "POST", "status": "200"}
    assert grew("pinwarden_http_requests_total", **route)
    assert grew("pinwarden_http_request_duration_seconds_count", route="/access_codes/create")
    assert grew("pinwarden_reconciles_total", outcome="ok")
    assert grew("pinwarden_reconcile_duration_seconds_count")
    assert grew("pinwarden_lock_operations_total", operation="set", outcome="ack")
    assert (
        after[
            ("pinwarden_lock_operations_total", (("operation", "remove"), ("outcome", "rejected")))
        ]
        == 0
    )
    assert grew("pinwarden_webhook_deliveries_total", outcome="succeeded")
    assert grew("pinwarden_webhook_delivery_lag_seconds_count")
    for gauge in (
        "pinwarden_devices_due",
        "pinwarden_devices_overdue",
        "pinwarden_devices_offline",
    ):
        assert (gauge, ()) in after
    # Unknown paths share one series, whatever a scanner asks for.
    httpx.get(f"{server.endpoint}/no/such/thing")
    again = _samples(httpx.get(f"{server.endpoint}/metrics").text)
    assert (
        "pinwarden_http_requests_total",
        (("method", "GET"), ("route", "other"), ("status", "404")),
    ) in again


def test_devices_offline_gauge_follows_the_lock(server: Harness) -> None:
    seam = server.seam()
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    seam.client.post("/devices/simulate/disconnect", json={"device_id": device_id})
    server.settle()
    after = _samples(httpx.get(f"{server.endpoint}/metrics").text)
    assert after[("pinwarden_devices_offline", ())] >= 1


def test_metrics_off_removes_the_route(tmp_path: Path) -> None:
    settings = replace(
        Settings(), database_url=f"sqlite:///{tmp_path / 'm.db'}", run_worker=False, metrics=False
    )
    service = Service(settings)
    paths = {getattr(r, "path", None) for r in service.app.routes}
    assert "/metrics" not in paths and "/health" in paths


def test_openapi_describes_exactly_the_mounted_routes(server: Harness) -> None:
    spec = httpx.get(f"{server.endpoint}/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    mounted = {e.path: e for e in [*all_endpoints(), *server.service.integrations.endpoints]}
    described = set(spec["paths"]) - {"/health", "/ready", "/metrics", "/openapi.json", "/docs"}
    assert described == set(mounted)
    for path, endpoint in mounted.items():
        assert {m.upper() for m in spec["paths"][path]} == set(endpoint.methods)
    create = spec["paths"]["/access_codes/create"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert "device_id" in schema["properties"] and "device_id" in schema["required"]
    listed = {p["name"] for p in spec["paths"]["/devices/list"]["get"]["parameters"]}
    assert "device_ids" in listed
    docs = httpx.get(f"{server.endpoint}/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
    assert "/access_codes/create" in docs.text and "<script" not in docs.text


def test_metrics_count_a_lock_that_refuses(server: Harness) -> None:
    seam = server.seam()
    device_id = seam.devices.list(device_type="august_lock")[0].device_id
    seam.client.post("/devices/simulate/faults", json={"device_id": device_id, "reject_rate": 1.0})
    seam.access_codes.create(device_id=device_id, code="4821")
    server.advance(SECOND)
    after = _samples(httpx.get(f"{server.endpoint}/metrics").text)
    rejected = ("pinwarden_lock_operations_total", (("operation", "set"), ("outcome", "rejected")))
    assert after[rejected] >= 1
    assert after[("pinwarden_reconciles_total", (("outcome", "failed"),))] >= 1
