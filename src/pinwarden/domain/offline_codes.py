"""Offline access codes (algorithmic PINs, spec §7.7, igloohome-style).

An offline PIN carries its own window: the kind (hourly, daily, one-time), the start slot,
the length and a variance number are packed into an integer with a short keyed tag, then
enciphered with the lock's secret (a small Feistel network over decimal digits). The lock,
holding the same secret, deciphers a typed PIN and checks the window against its clock —
no connection needed. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pinwarden.domain.errors import RuleViolation

Kind = Literal["hourly", "daily", "one_time"]
KINDS: tuple[Kind, ...] = ("hourly", "daily", "one_time")
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)

# Ten digits: the spare room beyond the fields is a keyed tag, so that a random entry
# is not read as a valid code (about 1 in 10,000 times, with the window checks).
PIN_DIGITS = 10
# Field sizes. Start slots repeat every 8192 units (341 days for hourly codes): the lock
# takes the occurrence nearest its clock, so codes must be used within months of issue.
_SLOTS, _LENGTHS, _VARIANCES = 8192, 1024, 8
_PAYLOADS = _SLOTS * _LENGTHS * _VARIANCES * len(KINDS)
# What is left of the PIN space is a keyed tag, so fewer random entries decode as valid.
_TAGS: int = int(10**PIN_DIGITS) // _PAYLOADS
_ROUNDS = 8
_HIGH, _LOW = 5, 5  # the Feistel halves

# igloohome's limits (R183).
MAX_HOURS, MIN_DAYS, MAX_DAYS = 672, 29, 367
ONE_TIME_VALIDITY = DAY
# A longer code must be used for the first time within this long after its start.
FIRST_USE_WITHIN = DAY
VARIANCES: dict[Kind, int] = {"hourly": 3, "daily": 3, "one_time": 5}
_LENGTH_RANGES: dict[Kind, tuple[int, int]] = {
    "hourly": (1, MAX_HOURS),
    "daily": (MIN_DAYS, MAX_DAYS),
    "one_time": (24, 24),
}


@dataclass(frozen=True)
class OfflineWindow:
    """The window an offline PIN is valid in, already rounded to the lock's granularity."""

    kind: Kind
    starts_at: datetime
    ends_at: datetime

    @property
    def unit(self) -> timedelta:
        return DAY if self.kind == "daily" else HOUR


def _floor(t: datetime, unit: timedelta) -> datetime:
    return EPOCH + unit * ((t - EPOCH) // unit)


def _ceil(t: datetime, unit: timedelta) -> datetime:
    floor = _floor(t, unit)
    return floor if floor == t else floor + unit


def offline_window(
    starts_at: datetime | None,
    ends_at: datetime | None,
    max_time_rounding: Literal["1hour", "1day"],
    one_time: bool,
) -> OfflineWindow:
    """Round a requested window the way the lock counts time (R182–R183), or refuse it.

    Hourly codes run 1–672 h; longer ones need ``max_time_rounding: 1day`` and become
    daily codes of 29–367 days. A one-time code is valid for 24 h from its (hour) start.
    """
    if starts_at is None:
        raise RuleViolation("Offline access codes need starts_at", "starts_at")
    if one_time:
        start = _floor(starts_at, HOUR)
        return OfflineWindow("one_time", start, start + ONE_TIME_VALIDITY)
    if ends_at is None:
        raise RuleViolation("Offline access codes need ends_at, unless one-time", "ends_at")
    if ends_at <= starts_at:
        raise RuleViolation("ends_at must be later than starts_at", "ends_at")
    start, end = _floor(starts_at, HOUR), _ceil(ends_at, HOUR)
    if end - start <= MAX_HOURS * HOUR:
        return OfflineWindow("hourly", start, end)
    if max_time_rounding != "1day":
        raise RuleViolation(
            f"An offline code longer than {MAX_HOURS} hours is rounded to whole days; "
            "allow it with max_time_rounding: 1day",
            "max_time_rounding",
        )
    start, end = _floor(starts_at, DAY), _ceil(ends_at, DAY)
    if not MIN_DAYS * DAY <= end - start <= MAX_DAYS * DAY:
        raise RuleViolation(f"A daily offline code lasts {MIN_DAYS}–{MAX_DAYS} days", "ends_at")
    return OfflineWindow("daily", start, end)


def _p10(digits: int) -> int:
    return int(10**digits)


def _f(secret: bytes, round_no: int, value: int, digits: int) -> int:
    mac = hmac.new(secret, f"{round_no}:{value}".encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big") % _p10(digits)


def _encipher(secret: bytes, n: int) -> int:
    a, b = divmod(n, _p10(_LOW))
    for i in range(_ROUNDS):
        size = _HIGH if i % 2 == 0 else _LOW
        a, b = b, (a + _f(secret, i, b, size)) % _p10(size)
    return a * _p10(_LOW) + b


def _decipher(secret: bytes, n: int) -> int:
    a, b = divmod(n, _p10(_LOW))
    for i in reversed(range(_ROUNDS)):
        size = _HIGH if i % 2 == 0 else _LOW
        a, b = (b - _f(secret, i, a, size)) % _p10(size), a
    return a * _p10(_LOW) + b


def _tag(secret: bytes, payload: int) -> int:
    mac = hmac.new(secret, f"tag:{payload}".encode(), hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big") % _TAGS


def offline_pin(secret: bytes, window: OfflineWindow, variance: int) -> str:
    """The PIN for ``window``; ``variance`` tells apart codes with the same window."""
    units = (window.starts_at - EPOCH) // window.unit
    length = (window.ends_at - window.starts_at) // window.unit
    payload = (
        ((units % _SLOTS) * _LENGTHS + length) * _VARIANCES * len(KINDS)
        + variance * len(KINDS)
        + KINDS.index(window.kind)
    )
    n = payload * _TAGS + _tag(secret, payload)
    return str(_encipher(secret, n)).zfill(PIN_DIGITS)


def read_offline_pin(secret: bytes, pin: str, now: datetime) -> OfflineWindow | None:
    """What the lock makes of a typed ``pin`` at ``now``: its window, or None if the PIN
    is not one of this lock's offline codes."""
    if len(pin) != PIN_DIGITS or not pin.isdigit():
        return None
    payload, tag = divmod(_decipher(secret, int(pin)), _TAGS)
    if payload >= _PAYLOADS or tag != _tag(secret, payload):
        return None
    rest, kind_no = divmod(payload, len(KINDS))
    rest, variance = divmod(rest, _VARIANCES)
    slot, length = divmod(rest, _LENGTHS)
    kind = KINDS[kind_no]
    if (
        variance >= VARIANCES[kind]
        or not _LENGTH_RANGES[kind][0] <= length <= _LENGTH_RANGES[kind][1]
    ):
        return None
    unit = DAY if kind == "daily" else HOUR
    # The start is the occurrence of ``slot`` nearest the lock's clock.
    now_units = (now - EPOCH) // unit
    start_units = now_units - ((now_units - slot) % _SLOTS)
    if now_units - start_units > _SLOTS // 2:
        start_units += _SLOTS
    start = EPOCH + unit * start_units
    return OfflineWindow(kind, start, start + unit * length)
