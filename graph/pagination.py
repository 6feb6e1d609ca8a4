"""Keyset (cursor) pagination over ordered querysets.

A cursor holds the order it belongs to and the sort values of the last row seen,
so the next page continues strictly after that row: stable while rows are added
elsewhere, and every order ends with the id, so ties never skip or repeat a row.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from graph.errors import BadUserInput


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
        if self.kind is datetime:
            return datetime.fromisoformat(raw)
        if self.kind is Decimal:
            return Decimal(raw)
        if self.kind is float:
            return float(raw)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError("not an integer")
        return raw


@dataclass(frozen=True)
class Ordering:
    name: str
    keys: tuple[SortKey, ...]  # the last key is always the id

    def order_by(self) -> list[str]:
        return [f"-{k.attr}" if k.descending else k.attr for k in self.keys]

    def after(self, values: tuple) -> Q:
        """Rows strictly after ``values`` in this order (lexicographic over the keys)."""
        condition = Q()
        for i, key in enumerate(self.keys):
            step = Q(**{f"{key.attr}__{'lt' if key.descending else 'gt'}": values[i]})
            for j in range(i):
                step &= Q(**{self.keys[j].attr: values[j]})
            condition |= step
        return condition


def page_size(first: int | None, default: int = 20) -> int:
    maximum = settings.GRAPHQL_MAX_PAGE_SIZE
    if first is None:
        return default
    if first < 0 or first > maximum:
        raise BadUserInput(f"first must be between 0 and {maximum}, got {first}.", field="first")
    return first


def encode_cursor(ordering: Ordering, row: Any) -> str:
    payload = [ordering.name, *[key.dump(getattr(row, key.attr)) for key in ordering.keys]]
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def decode_cursor(ordering: Ordering, cursor: str) -> tuple:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(payload, list) or len(payload) != len(ordering.keys) + 1:
            raise ValueError("wrong shape")
        name, *raw = payload
        if name != ordering.name:
            raise BadUserInput(f"after: the cursor belongs to the order {name}, not {ordering.name}.", field="after")
        return tuple(key.load(value) for key, value in zip(ordering.keys, raw, strict=True))
    except BadUserInput:
        raise
    except (ValueError, TypeError, InvalidOperation, binascii.Error, UnicodeError, json.JSONDecodeError):
        raise BadUserInput("after: the cursor is malformed.", field="after") from None


def slice_page(qs: QuerySet, ordering: Ordering, first: int, after: tuple | None) -> tuple[list, bool]:
    """Fetch ``first`` rows after the cursor values, and whether more follow (one query)."""
    if after is not None:
        qs = qs.filter(ordering.after(after))
    rows = list(qs.order_by(*ordering.order_by())[: first + 1])
    return rows[:first], len(rows) > first
