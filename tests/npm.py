"""The npm packages some tests run (the Z-Wave stack, the JS SDK), each folder pinned by
its committed ``package-lock.json`` and installed on first use."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
from pathlib import Path

# Written into node_modules after a successful install: the lock file's hash, so a
# changed lock installs again.
STAMP = ".pinwarden-lock-sha256"


def find_node_and_npm() -> tuple[str, str] | None:
    """The node and npm binaries, or None where either is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    return (node, npm) if node and npm else None


def npm_ci(folder: Path, npm: str) -> None:
    """``npm ci`` in ``folder`` unless its node_modules already holds what the lock file
    pins; raises RuntimeError with npm's output when the install fails."""
    digest = hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()
    stamp = folder / "node_modules" / STAMP
    # Two test sessions (or worktrees' runs) must not install over each other.
    with open(folder / ".npm-install.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text().strip() == digest:
            return
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"npm ci in {folder.name} failed ({result.returncode}):\n{result.stderr[-3000:]}"
            )
        stamp.write_text(digest)
