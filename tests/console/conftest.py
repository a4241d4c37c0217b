"""Browser tests of the web console: one headless Chromium (the system's package, driven
by Playwright) for the whole session, a new browser context per test, and the suite's
real server on a fake clock (``tests/conftest.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import Harness

CHROMIUM = os.environ.get("PINWARDEN_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent / "screenshots"


def _chromium() -> str | None:
    """The browser's path, installing Debian's ``chromium`` when it is missing and we are
    root; None when it cannot be had."""
    if Path(CHROMIUM).exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            env=env,
            check=False,
            capture_output=True,
        )
        return shutil.which("chromium")
    return None


@pytest.fixture
def database_url(tmp_path: Path, _sqlite_template: Path) -> str:
    """The console tests run on SQLite only: the pages read and write through the API's
    handlers, whose PostgreSQL leg the API tests cover."""
    path = tmp_path / "pinwarden.db"
    shutil.copy(_sqlite_template, path)
    return f"sqlite:///{path}"


# Package scope: one browser for every console test of the session, closed once they are
# done. Playwright's sync API keeps an event loop marked as running on the main thread while
# it is started, so it must be stopped before the suite's other tests call asyncio.run().
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for all the console tests."""
    executable = _chromium()
    if executable is None:
        pytest.skip(
            f"no Chromium at {CHROMIUM} and it could not be installed (apt-get install -y "
            "chromium needs root): console browser tests skipped"
        )
    browser = playwright.chromium.launch(
        executable_path=executable, headless=True, args=["--no-sandbox"]
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) at desktop width."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def shot(page: Page, name: str, full_page: bool = True) -> Path:
    """A screenshot in ``tests/console/screenshots/`` (kept out of git)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Page, server: Harness, api_key: str) -> None:
    """Sign in through the console's form, as a person would."""
    page.goto(f"{server.endpoint}/console")
    page.fill("#api_key", api_key)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/locks")
