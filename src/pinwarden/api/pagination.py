"""Opaque, filter-bound cursors over (created_at, id) order (R46–R50)."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import Row, Select, and_, bindparam, or_
from sqlalchemy.engine import Connection
from sqlalchemy.orm import InstrumentedAttribute, Session

from pinwarden.api.errors import SeamError, invalid_input
from pinwarden.store.prepared import PreparedRead

T = TypeVar("T")

_NOT_FILTERS = {"page_cursor", "limit", "_strict"}


def _fingerprint(params: dict[str, Any]) -> str:
    filters = {k: v for k, v in params.items() if k not in _NOT_FILTERS and v is not None}
    blob = json.dumps(filters, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def _encode(fingerprint: str, created_at: datetime, row_id: str) -> str:
    raw = json.dumps([fingerprint, created_at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fingerprint, created_at, row_id = json.loads(raw)
        return str(fingerprint), datetime.fromisoformat(created_at), str(row_id)
    except (ValueError, TypeError) as exc:
        raise invalid_input("page_cursor is not a valid cursor", "page_cursor") from exc


def _page_url(url: str, cursor: str) -> str:
    parts = urlsplit(url)
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "page_cursor"
    ]
    query.append(("page_cursor", cursor))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _position(cursor: str | None, fingerprint: str) -> tuple[datetime, str] | None:
    """Where the page starts, from a cursor that must belong to these filters."""
    if not cursor:
        return None
    cursor_fp, after_created, after_id = _decode(cursor)
    if cursor_fp != fingerprint:
        raise SeamError(
            400,
            "mismatched_page_parameters",
            "page_cursor was issued for different filters than this request",
        )
    return after_created, after_id


def _page(
    rows: list[T],
    limit: int,
    fingerprint: Callable[[], str],
    url: str,
    position: Callable[[T], tuple[datetime, str]],
) -> tuple[list[T], dict[str, Any]]:
    """Cut ``rows`` (up to limit + 1 of them) to a page and describe what follows;
    ``position`` gives a row's created-at and id."""
    has_next = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if has_next:
        next_cursor = _encode(fingerprint(), *position(rows[-1]))
    return rows, {
        "has_next_page": has_next,
        "next_page_cursor": next_cursor,
        "next_page_url": _page_url(url, next_cursor) if next_cursor else None,
    }


class PageParams(Protocol):
    """A list request: its filters, ``limit`` and ``page_cursor``."""

    limit: int
    page_cursor: str | None

    def model_dump(self, *, mode: str) -> dict[str, Any]: ...


def paginate(
    session: Session,
    stmt: Select[T],
    created_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[str],
    params: PageParams,
    url: str,
    keep: Callable[[T], bool] | None = None,
) -> tuple[list[T], dict[str, Any]]:
    """One page of ``stmt`` and Seam's ``pagination`` object; the cursor is tied to the
    request's other filters.

    ``keep`` filters rows on what SQL cannot express; the page is then cut in Python
    from every matching row, so pages stay full and cursors stay exact.
    """
    limit = params.limit
    fingerprint = _fingerprint(params.model_dump(mode="json"))
    position = _position(params.page_cursor, fingerprint)
    if position is not None:
        after_created, after_id = position
        stmt = stmt.where(
            or_(
                created_col > after_created,
                and_(created_col == after_created, id_col > after_id),
            )
        )
    stmt = stmt.order_by(created_col, id_col)
    if keep is None:
        rows = list(session.scalars(stmt.limit(limit + 1)).all())
    else:
        rows = [row for row in session.scalars(stmt) if keep(row)][: limit + 1]
    return _page(
        rows,
        limit,
        lambda: fingerprint,
        url,
        lambda row: (getattr(row, created_col.key), getattr(row, id_col.key)),
    )


def keyset(
    stmt: Select[T],
    created_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[str],
    after: bool,
) -> Select[T]:
    """``stmt`` as a page query with bound parameters, for :func:`paginate_rows`: in
    (created_at, id) order, ``:page_limit`` rows, after the cursor's position when
    ``after``. Build it once per shape of filters: a prebuilt statement compiles once."""
    if after:
        stmt = stmt.where(
            or_(
                created_col > bindparam("after_created"),
                and_(created_col == bindparam("after_created"), id_col > bindparam("after_id")),
            )
        )
    return stmt.order_by(created_col, id_col).limit(bindparam("page_limit"))


def paginate_rows(
    conn: Connection,
    statement: Callable[[bool], Select[Any] | PreparedRead],
    values: dict[str, Any],
    params: PageParams,
    url: str,
    keys: tuple[str, str] = ("created_at", "id"),
    position_of: Callable[[Row[Any]], tuple[datetime, str]] | None = None,
) -> tuple[list[Row[Any]], dict[str, Any]]:
    """:func:`paginate` on a Core connection: ``statement(after)`` is a :func:`keyset`
    query (or its :class:`~pinwarden.store.prepared.PreparedRead`), run with the filters'
    ``values``; ``keys`` name the rows' created-at and id, or ``position_of`` gives them
    (for rows read raw, :class:`~pinwarden.api.reads.RawColumns`).

    The cursor fingerprint is only worked out when a cursor is given or issued.
    """
    fingerprint = _lazy_fingerprint(params)
    position = _position(params.page_cursor, fingerprint()) if params.page_cursor else None
    bound = {**values, "page_limit": params.limit + 1}
    if position is not None:
        bound["after_created"], bound["after_id"] = position
    query = statement(position is not None)
    if isinstance(query, PreparedRead):
        rows = query.all(conn, bound)
    else:
        rows = list(conn.execute(query, bound).all())
    created_key, id_key = keys
    return _page(
        rows,
        params.limit,
        fingerprint,
        url,
        position_of or (lambda row: (getattr(row, created_key), getattr(row, id_key))),
    )


def _lazy_fingerprint(params: PageParams) -> Callable[[], str]:
    done: list[str] = []

    def fingerprint() -> str:
        if not done:
            done.append(_fingerprint(params.model_dump(mode="json")))
        return done[0]

    return fingerprint
