"""Chaos benchmark on PostgreSQL: 3 worker processes and an API process; 2,000 codes created,
renamed, deleted and expiring while a worker is SIGKILLed every 3 s (20 kills). Prints what
the run did, how long convergence took after the last kill, and every invariant broken (see
``tests/chaos.py`` for the list). Run from the repository root:

    .venv/bin/python bench/chaos_bench.py [--codes 2000] [--kills 20] [--kill-every 3]
        [--workers 3] [--database postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from pinwarden.store import migrate
from pinwarden.store.db import normalize_url
from tests.chaos import PERIOD, run_chaos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    base = normalize_url(args.database)
    schema = f"pw_chaos_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{base}?options=-csearch_path%3D{schema}"
    try:
        migrate.upgrade(url)
        started = time.perf_counter()
        report = run_chaos(
            url,
            codes=args.codes,
            kills=args.kills,
            kill_every=args.kill_every,
            workers=args.workers,
            workspaces=max(2, args.codes // 250),
        )
        elapsed = time.perf_counter() - started
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    converged = report.converged_after_last_kill_s
    print(
        f"chaos benchmark (PostgreSQL, {args.workers} worker processes + 1 API process, "
        f"reconcile period {PERIOD.total_seconds():.0f} s):"
    )
    print(
        f"{report.codes} codes created, {report.renames} renamed, {report.deletes} deleted; "
        f"{report.kills} SIGKILLs every {args.kill_every:g} s; run {elapsed:.0f} s"
    )
    print(
        "converged "
        + (f"{converged:.1f} s after the last kill" if converged is not None else "NOT in time")
        + f" (writes trailed it by {report.writes_after_last_kill_s:.1f} s)"
        + f"; {len(report.violations)} invariant violations"
    )
    for violation in report.violations[:20]:
        print("  " + violation)


if __name__ == "__main__":
    main()
