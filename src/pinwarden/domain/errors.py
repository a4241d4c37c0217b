"""The one exception the pure rules raise."""

from __future__ import annotations


class RuleViolation(ValueError):
    """A request breaks a documented rule; ``param`` names the offending input if any."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
