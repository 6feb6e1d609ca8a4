"""Keyset (cursor) pagination over ordered querysets, and the one place connections are built.

A cursor holds the order it belongs to and the sort values of the last row seen,
so the next page continues strictly after that row: stable while rows are added
elsewhere, and every order ends with the id, so ties never skip or repeat a row.

The "after" condition is a row-value comparison, ``(key, id) < (x, y)``: unlike
``key < x OR (key = x AND id < y)`` the planner uses it as the bound of an index range
scan, so a cursor 90% deep costs what the first page costs. Every order sorts all its
keys in one direction (that is what makes a single row comparison exact).

Backward paging (``last``/``before``) runs the same keyset query with the ORDER BY and
the row comparison reversed (the same index, walked the other way), then reverses the
rows in Python, so a page near the end costs what a page near the start costs.

``hasNextPage`` and ``hasPreviousPage`` come from the one extra row each query fetches
(``LIMIT size + 1``): going forward it tells whether more rows follow, going backward
whether more rows precede. The other flag is false, as the Relay spec allows
("if the server can efficiently determine..."): knowing it would cost a second query.

Resolvers return a ``Page``; the types turn it into their connection with ``connection``.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

import strawberry
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db.models import F, QuerySet, Value
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan, TupleLookupMixin

from graph.errors import BadUserInput

MAX_CURSOR_LENGTH = 512  # a real cursor is under 120 characters
_BIGINT = 2**63 - 1
_DECIMAL_LIMIT = Decimal("1e15")


@strawberry.type(description="Where a page ends and whether another follows (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="With `first`: whether more rows follow this page. Paging backward (`last`) it is false."
    )
    end_cursor: str | None
    has_previous_page: bool = strawberry.field(
        default=False,
        description="With `last`: whether more rows precede this page. Paging forward (`first`) it is false: "
        "knowing would cost another query, which the Relay spec lets a server skip.",
    )
    start_cursor: str | None = None


@dataclass(frozen=True)
class SortKey:
    """One column of an order: the attribute (or annotation), its direction, its value type."""

    attr: str
    descending: bool
    kind: type = int

    def dump(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        return value

    def load(self, raw: Any) -> Any:
        """The value from a cursor, or ValueError: only values a row could hold get through,
        so nothing reaches the database that it would refuse (NaN, year 1, 10**400)."""
        if self.kind is datetime:
            if not isinstance(raw, str):
                raise ValueError("not a timestamp")
            value = datetime.fromisoformat(raw)
            if value.tzinfo is None or not 1900 <= value.astimezone(UTC).year <= 9000:
                raise ValueError("timestamp out of range")
            return value
        if self.kind is Decimal:
            if not isinstance(raw, str):
                raise ValueError("not a decimal")
            value = Decimal(raw)
            if not value.is_finite() or abs(value) >= _DECIMAL_LIMIT:
                raise ValueError("decimal out of range")
            return value
        if self.kind is float:
            if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
                raise ValueError("not a finite number")
            return float(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or abs(raw) > _BIGINT:
            raise ValueError("not an integer")
        return raw


@dataclass(frozen=True)
class Ordering:
    name: str
    keys: tuple[SortKey, ...]  # the last key is always the id; all keys share one direction

    def __post_init__(self) -> None:
        if len({k.descending for k in self.keys}) != 1:
            raise ValueError(f"{self.name}: a keyset order sorts every key in one direction")

    @property
    def descending(self) -> bool:
        return self.keys[0].descending

    def sort_key(self, row: Any) -> tuple:
        return tuple(getattr(row, k.attr) for k in self.keys)

    def order_by(self, *, reverse: bool = False) -> list[str]:
        return [f"-{k.attr}" if k.descending != reverse else k.attr for k in self.keys]

    def after(self, values: tuple, *, reverse: bool = False) -> TupleLookupMixin:
        """Rows strictly after ``values`` in this order (``reverse``: strictly before)."""
        row = Tuple(*(F(k.attr) for k in self.keys))
        lookup = TupleLessThan if self.descending != reverse else TupleGreaterThan
        return lookup(row, tuple(values))


def page_size(first: int | None, default: int = 20, *, field: str = "first") -> int:
    maximum = settings.GRAPHQL_MAX_PAGE_SIZE
    if first is None:
        return default
    if first < 0 or first > maximum:
        raise BadUserInput(f"{field} must be between 0 and {maximum}, got {first}.", field=field)
    return first


@dataclass(frozen=True)
class Window:
    """Which rows a page holds: at most ``size`` rows strictly between the ``after`` and
    ``before`` sort values, the first ones (forward) or the last ones (``backward``).
    Hashable, so loaders group pages by it."""

    size: int
    after: tuple | None = None
    before: tuple | None = None
    backward: bool = False


def page_window(
    ordering: Ordering,
    *,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
    default: int = 20,
) -> Window:
    """Validate the four Relay arguments; BAD_USER_INPUT for ``first`` with ``last``, a size
    out of range or a cursor this API did not issue. Neither size: ``default`` rows forward."""
    if first is not None and last is not None:
        raise BadUserInput("Give first or last, not both.", field="last")
    return Window(
        size=page_size(last, field="last") if last is not None else page_size(first, default),
        after=decode_cursor(ordering, after) if after else None,
        before=decode_cursor(ordering, before, field="before") if before else None,
        backward=last is not None,
    )


def encode_cursor(ordering: Ordering, row: Any) -> str:
    payload = [ordering.name, *[key.dump(getattr(row, key.attr)) for key in ordering.keys]]
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_cursor(ordering: Ordering, cursor: str, *, field: str = "after") -> tuple:
    """The sort values in ``cursor``; BAD_USER_INPUT for anything this API did not issue
    for ``ordering`` (garbage, another order, nested JSON, out-of-range values)."""
    malformed = BadUserInput(f"{field}: the cursor is malformed.", field=field)
    if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_LENGTH:
        raise malformed
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(payload, list) or len(payload) != len(ordering.keys) + 1:
            raise ValueError("wrong shape")
        name, *raw = payload
        if name != ordering.name:
            raise BadUserInput(f"{field}: the cursor belongs to the order {name}, not {ordering.name}.", field=field)
        return tuple(key.load(value) for key, value in zip(ordering.keys, raw, strict=True))
    except BadUserInput:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError, InvalidOperation, binascii.Error, UnicodeError):
        raise malformed from None


def bounded(qs: QuerySet, ordering: Ordering, window: Window) -> QuerySet:
    """``qs`` narrowed to the window and sorted the way it is walked (reversed going
    backward), limited to one row more than the page: that row tells whether more exist."""
    if window.after is not None:
        qs = qs.filter(ordering.after(window.after))
    if window.before is not None:
        qs = qs.filter(ordering.after(window.before, reverse=True))
    return qs.order_by(*ordering.order_by(reverse=window.backward))[: window.size + 1]


class Slice(NamedTuple):
    """One page's rows in the ordering's direction, and whether rows follow / precede it."""

    rows: list
    has_next: bool
    has_previous: bool = False


def cut(rows: list, window: Window) -> Slice:
    """The page in ``rows`` (as ``bounded`` fetched them): the extra row dropped, and
    backward pages turned back into the ordering's direction."""
    more = len(rows) > window.size
    rows = rows[: window.size]
    if window.backward:
        return Slice(rows[::-1], has_next=False, has_previous=more)
    return Slice(rows, has_next=more)


def slice_page(qs: QuerySet, ordering: Ordering, window: Window) -> Slice:
    """One page of ``qs`` (one query)."""
    return cut(list(bounded(qs, ordering, window)), window)


@dataclass(frozen=True)
class TotalCount:
    """A count and whether it is exact; inexact means "at least ``value``" (a capped count)."""

    value: int
    exact: bool = True


def counted_once(count: Callable[[], Awaitable[TotalCount]]) -> Callable[[], Awaitable[TotalCount]]:
    """``count`` run at most once, however many fields (totalCount, totalCountIsExact) ask."""
    result: list[TotalCount] = []

    async def once() -> TotalCount:
        if not result:
            result.append(await count())
        return result[0]

    return once


@dataclass
class Page:
    """What a resolver returns: the rows of one page in ``ordering``, whether more follow,
    and (for connections that expose a total) how to count every match lazily."""

    rows: Sequence[Any]
    has_next: bool
    ordering: Ordering
    count: Callable[[], Awaitable[TotalCount]] | None = field(default=None)
    has_previous: bool = False

    @classmethod
    def of(cls, found: Slice, ordering: Ordering, **extra) -> Page:
        return cls(found.rows, found.has_next, ordering, has_previous=found.has_previous, **extra)


async def fetch_page(
    qs: QuerySet,
    ordering: Ordering,
    *,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
    default: int = 20,
    **extra,
) -> Page:
    """Validate the paging arguments and fetch one page of ``qs`` (one query)."""
    window = page_window(ordering, first=first, after=after, last=last, before=before, default=default)
    return Page.of(await sync_to_async(slice_page)(qs, ordering, window), ordering, **extra)


def connection(page: Page, connection_type: type, edge_type: type, node: Callable[[Any], Any] = lambda r: r, **extra):
    """The Relay connection of ``page``: one edge per row, cursors from the page's order."""
    edges = [edge_type(cursor=encode_cursor(page.ordering, row), node=node(row)) for row in page.rows]
    info = PageInfo(
        has_next_page=page.has_next,
        end_cursor=edges[-1].cursor if edges else None,
        has_previous_page=page.has_previous,
        start_cursor=edges[0].cursor if edges else None,
    )
    return connection_type(edges=edges, page_info=info, **extra)


_UNION_TERMS = 400  # below SQLite's limit of 500 terms in one compound SELECT


def pages_per_parent[K](querysets: dict[K, QuerySet], ordering: Ordering, window: Window) -> dict[K, Slice]:
    """One page of each queryset (a page of products per category, of reviews per product)
    in one query: a UNION ALL of one ``ORDER BY ... LIMIT size + 1`` per parent, each
    answered from an index, so the cost is ``parents x page`` whatever the table holds
    (a ``ROW_NUMBER()`` window sorted every matching row first)."""
    results: dict[K, Slice] = {}
    keys = list(querysets)
    walked_descending = ordering.descending != window.backward
    for start in range(0, len(keys), _UNION_TERMS):
        chunk = keys[start : start + _UNION_TERMS]
        parts = [
            bounded(querysets[key].annotate(page_parent=Value(i)), ordering, window) for i, key in enumerate(chunk)
        ]
        rows = _union_all(parts) if len(parts) > 1 else list(parts[0])
        grouped: dict[int, list] = {}
        for row in rows:
            grouped.setdefault(row.page_parent, []).append(row)
        for i, key in enumerate(chunk):
            walked = sorted(grouped.get(i, []), key=ordering.sort_key, reverse=walked_descending)
            results[key] = cut(walked, window)
    return results


def _union_all(parts: list[QuerySet]) -> list:
    """``SELECT * FROM (part) UNION ALL ...`` as one raw query. Django refuses a sliced,
    ordered queryset in ``union()`` on SQLite, although SQLite runs it as a subquery;
    this form runs on both databases, and each part keeps its own index-driven plan."""
    sqls, params = [], []
    for i, part in enumerate(parts):
        try:
            sql, part_params = part.query.sql_with_params()
        except EmptyResultSet:  # a part that cannot match (an empty category scope)
            continue
        sqls.append(f"SELECT * FROM ({sql}) AS page_{i}")
        params.extend(part_params)
    return list(parts[0].model.objects.raw(" UNION ALL ".join(sqls), params)) if sqls else []
