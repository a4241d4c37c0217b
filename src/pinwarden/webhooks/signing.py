"""Svix / Standard Webhooks signatures, so Seam's and Svix's verifiers accept our deliveries."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook as StandardWebhook


def new_secret() -> str:
    """A ``whsec_`` secret: base64 of 32 random bytes (R163)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secret: str, message_id: str, sent_at: datetime, body: str) -> dict[str, str]:
    """The headers of one delivery: ``svix-*`` plus the unprefixed ``webhook-*`` twins (R162)."""
    signature = StandardWebhook(secret).sign(message_id, sent_at, body)
    timestamp = str(int(sent_at.timestamp()))
    return {
        "svix-id": message_id,
        "svix-timestamp": timestamp,
        "svix-signature": signature,
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": signature,
    }
