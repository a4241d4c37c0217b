"""Webhook signing and delivery from the event outbox."""
