"""``pinwarden serve`` as a new user meets it: what it prints, and how it refuses."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.processes import PINWARDEN, free_port, sandbox_key


def _env(db: str, default_processes: bool = False) -> dict[str, str]:
    """The environment of a first run; ``default_processes`` drops the tests' one API
    process for the default, as a user runs it (each extra process starts in ~1 s)."""
    env = dict(os.environ)
    if default_processes:
        env.pop("PINWARDEN_API_PROCESSES")
    env["PINWARDEN_DATABASE_URL"] = db
    env["PINWARDEN_SANDBOX_LATENCY_SECONDS"] = "0"
    return env


def _refused(env: dict[str, str], *args: str) -> str:
    """Run ``serve`` expecting a refusal; its one stderr line."""
    out = subprocess.run(
        [*PINWARDEN, "serve", "--sandbox", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0
    assert out.stdout == ""  # no key, no "listening"
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_a_taken_port_is_refused_before_anything_is_written(
    tmp_path: Path, taken_port: int
) -> None:
    db = tmp_path / "never.db"
    line = _refused(_env(f"sqlite:///{db}"), "--port", str(taken_port))
    assert line == f"error: cannot listen on 127.0.0.1:{taken_port}: Address already in use"
    assert not db.exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///{tmp}/missing/dir/x.db", "cannot open database sqlite:///"),
        ("sqlite:///{tmp}/a-file/x.db", "cannot open database sqlite:///"),
        ("mysql://root@127.0.0.1/db", "unsupported database 'mysql'"),
        ("not a url", "the database URL cannot be parsed"),
        ("postgresql://postgres@127.0.0.1:{closed}/test", "Connection refused"),
    ],
)
def test_a_database_pinwarden_cannot_use_is_one_line(
    tmp_path: Path, url: str, expected: str
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    url = url.format(tmp=tmp_path, closed=free_port())
    line = _refused(_env(url), "--port", str(free_port()))
    assert line.startswith("error: ") and expected in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PINWARDEN_PORT", "xyz"),
        ("PINWARDEN_PORT", "70000"),
        ("PINWARDEN_LEASE_SECONDS", "soon"),
        ("PINWARDEN_WORKER_CONCURRENCY", "0"),
        ("PINWARDEN_RUN_WORKER", "maybe"),
        ("PINWARDEN_METRICS", "sometimes"),
    ],
)
def test_an_unreadable_setting_is_one_line(tmp_path: Path, name: str, value: str) -> None:
    db = tmp_path / "never.db"
    env = _env(f"sqlite:///{db}")
    env[name] = value
    line = _refused(env)
    assert line.startswith(f"error: {name} must be") and repr(value) in line
    assert not db.exists()


@contextmanager
def _serving(env: dict[str, str], port: int, *args: str) -> Iterator[list[str]]:
    """Run ``serve`` with the block, after reading its stdout up to "listening on";
    yields those lines."""
    proc = subprocess.Popen(
        [*PINWARDEN, "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("listening on"):
                break
        yield lines
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _first_lines(env: dict[str, str], port: int, *args: str) -> list[str]:
    """Start ``serve``, read stdout up to "listening on", stop it; those lines."""
    with _serving(env, port, *args) as lines:
        return lines


def _run_hint(hint: str) -> dict[str, object]:
    """The printed ``Try:`` command's JSON answer: run as printed when curl is here."""
    argv = shlex.split(hint.removeprefix("Try: "))
    assert argv[0] == "curl"
    if shutil.which("curl"):
        return dict(
            json.loads(subprocess.run([*argv, "-s"], capture_output=True, check=True).stdout)
        )
    header = argv[argv.index("-H") + 1]
    name, _, value = header.partition(": ")
    return dict(httpx.get(argv[-1], headers={name: value}).json())


def test_the_first_run_prints_a_key_and_a_hint_that_work_and_later_runs_mint_none(
    tmp_path: Path,
) -> None:
    env = _env(f"sqlite:///{tmp_path / 'first.db'}")
    port = free_port()
    with _serving(env, port, "--sandbox") as first:
        assert first[-1] == f"listening on http://127.0.0.1:{port}"
        assert first[0].startswith("Sandbox workspace ") and first[0].endswith(" created")
        key = first[1].split()[-1]
        assert key.startswith("seam_test")
        hint = next(line for line in first if line.startswith("Try: "))
        assert key in hint
        answer = _run_hint(hint)
        assert answer["ok"] is True and answer["devices"]

    again = _first_lines(env, free_port(), "--sandbox")
    assert "exists" in again[0] and "--new-key" in again[0]
    assert not any("seam_" in line for line in again)
    fresh = _first_lines(env, free_port(), "--sandbox", "--new-key")
    new_key = next(w for line in fresh for w in line.split() if w.startswith("seam_test"))
    assert new_key != key


def test_serve_without_sandbox_says_where_it_listens(tmp_path: Path) -> None:
    port = free_port()
    lines = _first_lines(_env(f"sqlite:///{tmp_path / 'plain.db'}"), port)
    assert lines == [f"listening on http://127.0.0.1:{port}"]


def test_the_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("### Python", 1)[1]
    script = section.split("```python\n", 1)[1].split("```", 1)[0]
    env = _env(f"sqlite:///{tmp_path / 'quick.db'}", default_processes=True)
    key = sandbox_key(env)
    port = free_port()
    script = script.replace('"seam_test…"', repr(key)).replace(":3020", f":{port}")
    with _serving(env, port) as lines:
        assert lines[0].startswith("listening on")
        run = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
    assert run.returncode == 0, run.stderr
    printed = run.stdout.splitlines()
    assert printed[:4] == ["setting", "set", "unset", "False"]
    assert "access_code.created" in printed[4]


def test_serve_prints_the_console_url_and_it_answers(tmp_path: Path) -> None:
    env = _env(f"sqlite:///{tmp_path / 'console.db'}")
    port = free_port()
    proc = subprocess.Popen(
        [*PINWARDEN, "serve", "--port", str(port), "--sandbox"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("console:"):
                break
        assert lines[-2] == f"listening on http://127.0.0.1:{port}"
        url = f"http://127.0.0.1:{port}/console"
        assert lines[-1] == f"console: {url} (sign in with an API key)"
        answer = httpx.get(url, follow_redirects=True)
        assert answer.status_code == 200
        assert str(answer.url).startswith(f"{url}/login")
        assert "API key" in answer.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
