"""What the console's pages show, computed from the API's own views: status words,
attention markers, local times and the timeline's bars. Pure functions, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STATUS_TEXT = {
    "set": "set: on the lock",
    "setting": "setting: on its way to the lock",
    "unset": "unset: not on the lock now",
    "removing": "removing: being taken off the lock",
    "failed": "failed",
    "unknown": "unknown: the lock cannot be asked",
}


def parse_instant(value: str | None) -> datetime | None:
    """An API timestamp (``…Z``) as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def zone(device: dict[str, Any]) -> ZoneInfo:
    """The lock's time zone (UTC when it has none or an unknown one)."""
    name = (device.get("location") or {}).get("time_zone")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def zone_name(device: dict[str, Any]) -> str:
    return str(zone(device).key)


def local(value: str | datetime | None, tz: ZoneInfo) -> str:
    """``2025-01-02 16:00`` in ``tz``, or an empty string."""
    instant = parse_instant(value) if isinstance(value, str) or value is None else value
    if instant is None:
        return ""
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def local_input(value: str | datetime | None, tz: ZoneInfo) -> str:
    """The same as a ``datetime-local`` input's value (``2025-01-02T16:00``)."""
    return local(value, tz).replace(" ", "T")


def from_local_input(value: str, tz: ZoneInfo) -> str:
    """A ``datetime-local`` value read in ``tz`` as the API's UTC timestamp; a value that is
    no date is passed on as typed, for the API to refuse in its own words."""
    try:
        naive = datetime.fromisoformat(value)
    except ValueError:
        return value
    if naive.tzinfo is None:
        naive = naive.replace(tzinfo=tz)
    return naive.astimezone(UTC).isoformat().replace("+00:00", "Z")


def weekly_recurrence(days: list[str], start: str, end: str) -> dict[str, Any] | None:
    """The ``recurrence`` the form's weekly fields ask for (the lock's time zone), or None
    when no day is ticked; times are passed on as typed, for the API to judge."""
    if not days:
        return None
    return {"weekly": [{"days": days, "from": start, "to": end}]}


def weekly(recurrence: dict[str, Any]) -> str:
    """A recurrence in words: ``Mon, Thu 10:00–14:00; Sat 09:00–12:00 (Europe/Berlin)``."""
    windows = "; ".join(
        f"{', '.join(d.capitalize() for d in w['days'])} {w['from']}–{w['to']}"
        for w in recurrence.get("weekly", [])
    )
    zone = recurrence.get("time_zone")
    return f"{windows} ({zone})" if zone else windows


def shown_status(code: dict[str, Any]) -> str:
    """The status word the console shows: the code's ``status``, or ``failed`` while the
    lock refused or failed to set or remove it."""
    if any(str(e.get("error_code", "")).startswith("failed_to_") for e in code.get("errors", [])):
        return "failed"
    return str(code.get("status") or "unknown")


def needs_attention(code: dict[str, Any]) -> bool:
    return bool(code.get("errors") or code.get("warnings"))


def issues(item: dict[str, Any]) -> list[str]:
    """Errors and warnings as lines of text."""
    out = [f"error: {e.get('message') or e.get('error_code')}" for e in item.get("errors", [])]
    out += [
        f"warning: {w.get('message') or w.get('warning_code')}" for w in item.get("warnings", [])
    ]
    return out


def battery_text(device: dict[str, Any]) -> str:
    level = device["properties"].get("battery_level")
    if level is None:
        return "n/a"
    status = (device["properties"].get("battery") or {}).get("status")
    return f"{round(level * 100)}%" + (f" ({status})" if status else "")


def integration(device: dict[str, Any], account: dict[str, Any]) -> str:
    """Where a lock comes from: its brand, the account type when that is another name
    (``Acme via zwave-js``), and whether it is simulated."""
    brand = str(device["properties"]["model"]["manufacturer_display_name"])
    kind = str(account.get("account_type") or "")
    text = brand if kind.lower() in ("", brand.lower()) else f"{brand} via {kind}"
    return text + (" (sandbox)" if device.get("can_simulate_connection") else "")


@dataclass(frozen=True)
class Bar:
    """One code's window on the timeline, in percent of the shown range."""

    code: dict[str, Any]
    status: str
    left: float
    width: float
    label: str
    starts_before: bool
    ends_after: bool


@dataclass(frozen=True)
class Tick:
    left: float
    label: str


@dataclass(frozen=True)
class Timeline:
    view: str
    start: datetime
    end: datetime
    now_left: float | None
    bars: list[Bar]
    ticks: list[Tick]
    title: str
    previous: str
    next: str
    today: str


def _percent(at: datetime, start: datetime, end: datetime) -> float:
    span = (end - start).total_seconds()
    return max(0.0, min(100.0, (at - start).total_seconds() / span * 100))


def timeline(
    codes: list[dict[str, Any]], now: datetime, tz: ZoneInfo, view: str, day: date | None
) -> Timeline:
    """The day (or week, from Monday) around ``day`` in the lock's zone, with every code
    whose window meets it; ongoing codes span it all."""
    today = now.astimezone(tz).date()
    anchor = day or today
    if view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        days = 7
    else:
        view, first, days = "day", anchor, 1
    start = datetime.combine(first, time(), tz)
    end = datetime.combine(first + timedelta(days=days), time(), tz)
    bars = []
    for code in codes:
        begins = parse_instant(code.get("starts_at")) or start
        ends = parse_instant(code.get("ends_at")) or end
        if ends <= start or begins >= end:
            continue
        left = _percent(max(begins, start), start, end)
        right = _percent(min(ends, end), start, end)
        status = shown_status(code)
        bars.append(
            Bar(
                code=code,
                status=status,
                left=left,
                width=max(right - left, 0.8),
                label=f"{code.get('name') or 'unnamed'} ({status})",
                starts_before=begins < start,
                ends_after=ends > end,
            )
        )
    if view == "week":
        ticks = [Tick(i / 7 * 100, (first + timedelta(days=i)).strftime("%a %d")) for i in range(7)]
        title = f"Week of {first:%Y-%m-%d}"
        step = timedelta(days=7)
    else:
        ticks = [Tick(h / 24 * 100, f"{h:02d}:00") for h in range(0, 24, 3)]
        title = f"{first:%A %Y-%m-%d}"
        step = timedelta(days=1)
    now_left = _percent(now, start, end) if start <= now < end else None
    return Timeline(
        view=view,
        start=start,
        end=end,
        now_left=now_left,
        bars=bars,
        ticks=ticks,
        title=title,
        previous=(first - step).isoformat(),
        next=(first + step).isoformat(),
        today=today.isoformat(),
    )


def event_summary(event: dict[str, Any], names: dict[str, str]) -> str:
    """A line about what an event says beyond its type: the method of a lock or unlock,
    the code it names, an error."""
    parts = []
    method = event.get("method")
    if method:
        parts.append(f"method: {method}")
    code_id = event.get("access_code_id")
    if code_id:
        name = names.get(code_id)
        parts.append(f"code: {name}" if name else f"code id: {code_id}")
    if event.get("access_code_is_managed") is False:
        parts.append("unmanaged code")
    for key in ("error_code", "error_message", "code_revealed_by"):
        if event.get(key):
            parts.append(f"{key.replace('_', ' ')}: {event[key]}")
    return "; ".join(parts)
