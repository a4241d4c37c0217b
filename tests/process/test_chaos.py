"""Chaos, small: three worker processes on PostgreSQL, one SIGKILLed every two seconds while
codes are created, renamed, deleted and expire (the harness in ``tests/chaos.py`` says what
is checked; ``bench/chaos_bench.py`` runs it large)."""

from __future__ import annotations

import pytest

from tests.chaos import run_chaos


def test_killing_workers_loses_nothing_and_converges(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several worker processes share a queue on PostgreSQL only")
    report = run_chaos(database_url, codes=150, kills=5, kill_every=2.0)
    assert report.violations == []
    assert report.kills == 5 and report.codes == 150
    assert report.deletes > 0 and report.renames > 0
