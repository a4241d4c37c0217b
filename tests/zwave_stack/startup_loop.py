"""Start and stop the Z-Wave stack N times in a row; report failures and start-up times.

    .venv/bin/python -m tests.zwave_stack.startup_loop 10

Each start is cold (a fresh zwave-js cache, so every lock is interviewed), as the
session fixture's is."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.npm import npm_ci
from tests.zwave_stack import DEFAULT_LOCKS, HERE, StackError, ZWaveStack


def main(runs: int) -> int:
    npm_ci(HERE, "npm")
    times: list[float] = []
    failures = 0
    for run in range(runs):
        with tempfile.TemporaryDirectory() as workdir:
            stack = ZWaveStack(Path(workdir))
            try:
                stack.start()
                expected = {lock.node_id: dict(lock.codes) for lock in DEFAULT_LOCKS}
                if {n: stack.codes(n) for n in stack.node_ids} != expected:
                    raise StackError("a lock's memory differs from its declaration")
                times.append(stack.startup_seconds)
                print(f"run {run}: ready in {stack.startup_seconds:.1f} s", flush=True)
            except StackError as exc:
                failures += 1
                print(f"run {run}: FAILED {exc}", flush=True)
            finally:
                stack.stop()
    summary = f"{failures}/{runs} failed"
    if times:
        summary += f"; ready in {min(times):.1f}-{max(times):.1f} s"
        summary += f" (mean {sum(times) / len(times):.1f} s)"
    print(summary)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
