"""Svix / Standard Webhooks signatures, so Seam's and Svix's verifiers accept our deliveries."""

from __future__ import annotations

import base64
import functools
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook as StandardWebhook


def new_secret() -> str:
    """A ``whsec_`` secret: base64 of 32 random bytes (R163)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> StandardWebhook:
    """One signer per secret: decoding the key once, not on every message."""
    return StandardWebhook(secret)


def signed_headers(secret: str, message_id: str, sent_at: datetime, body: str) -> dict[str, str]:
    """The headers of one delivery: ``svix-*`` plus the unprefixed ``webhook-*`` twins (R162)."""
    signature = _signer(secret).sign(message_id, sent_at, body)
    timestamp = str(int(sent_at.timestamp()))
    return {
        "svix-id": message_id,
        "svix-timestamp": timestamp,
        "svix-signature": signature,
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
