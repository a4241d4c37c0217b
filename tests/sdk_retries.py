"""The official SDK's own retry policy, made to wait on the test's fake clock.

``seam.Seam`` retries GET, HEAD, OPTIONS, PUT and DELETE up to twice on 429 and any 5xx
(and on timeouts and connection errors), never POST or PATCH; it waits for ``Retry-After``
when the response has one (seconds or an HTTP date, at most 120 s), else 0.20–0.24 s and then
0.40–0.48 s. Those waits are real ``time.sleep`` calls. :func:`retries_on_fake_clock` keeps
that exact policy but moves the server's fake clock by the wait instead, so a test sees what
a user's program would see after a minute's pause without waiting a minute.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from httpx_retries import Retry
from seam.client import DEFAULT_RETRIES


def retries_on_fake_clock(advance: Callable[[timedelta], None], waits: list[float]) -> Retry:
    """The SDK's default retries; each wait is appended to ``waits`` and passed to ``advance``."""

    class FakeClockRetry(Retry):
        def sleep(self, response: httpx.Response | Exception) -> None:
            headers = response.headers if isinstance(response, httpx.Response) else {}
            # The SDK's own choice of wait: Retry-After if present, else its back-off.
            seconds = self._calculate_sleep(headers)
            waits.append(seconds)
            advance(timedelta(seconds=seconds))

    sdk = DEFAULT_RETRIES
    return FakeClockRetry(
        total=sdk.total,
        allowed_methods=sdk.allowed_methods,
        status_forcelist=sdk.status_forcelist,
        retry_on_exceptions=sdk.retryable_exceptions,
        backoff_factor=sdk.backoff_factor,
        respect_retry_after_header=sdk.respect_retry_after_header,
        max_backoff_wait=sdk.max_backoff_wait,
        backoff_jitter=sdk.backoff_jitter,
    )
