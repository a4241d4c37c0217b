"""The engine and the deliverer can each run in a process of their own."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from pinwarden.config import Settings
from pinwarden.service import Service
from tests.conftest import make_settings


def _loops_running() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("pinwarden-")}


@pytest.mark.parametrize(
    ("engine", "deliver", "expected"),
    [
        (True, True, {"pinwarden-engine", "pinwarden-deliverer"}),
        (False, True, {"pinwarden-deliverer"}),
        (True, False, {"pinwarden-engine"}),
    ],
)
def test_background_runs_only_the_loops_asked_for(
    database_url: str, engine: bool, deliver: bool, expected: set[str]
) -> None:
    settings = replace(make_settings(database_url), run_engine=engine, deliver_webhooks=deliver)
    service = Service(settings)
    before = _loops_running()
    try:
        with service.background():
            assert _loops_running() - before - {"pinwarden-listener"} == expected
    finally:
        service.db.dispose()


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINWARDEN_RUN_ENGINE", "0")
    monkeypatch.setenv("PINWARDEN_DELIVER_WEBHOOKS", "0")
    settings = Settings.from_env()
    assert (settings.run_engine, settings.deliver_webhooks) == (False, False)
