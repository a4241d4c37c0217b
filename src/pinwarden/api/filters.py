"""List filters by id or name: what ``device_ids`` and ``device_id`` (and the like) accept.

The SDKs send an empty array (``key=`` in a query string, ``[]`` in a JSON body) when the
caller passes one, meaning "none of these" (spec R23, R27): an empty list filter matches
nothing. Only a filter left out (None) matches everything. Filters combine with AND
(R124), a list and its singular form too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import QueryableAttribute

R = TypeVar("R")


def accepted(many: Sequence[str] | None, one: str | None = None) -> frozenset[str] | None:
    """The values both ``many`` and ``one`` allow; None when neither was given (no filter).

    ``[]`` allows nothing, whatever ``one`` says.
    """
    if many is None:
        return None if one is None else frozenset({one})
    values = frozenset(many)
    return values if one is None else values & {one}


def where_accepted(
    stmt: Select[R],
    column: QueryableAttribute[Any],
    many: Sequence[str] | None,
    one: str | None = None,
) -> Select[R]:
    """``stmt`` kept to rows whose ``column`` is :func:`accepted` (unchanged when neither
    filter was given; no rows when they accept nothing)."""
    values = accepted(many, one)
    # Sorted, so that equal filters make the same SQL (and the same cached statement).
    return stmt if values is None else stmt.where(column.in_(sorted(values)))
