"""Resolvers of metrics over time: arguments checked, then a loader (history) or the
selectors of ``tracking.history`` (a seller's analytics)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from asgiref.sync import sync_to_async
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, Undefined, value_from_ast
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.loaders.history import HistoryByProductIdLoader, HistoryKey
from graph.prefetch import selected_fields
from tracking import history
from tracking.history import Bucket, Granularity, InvalidRange, RankedProduct, Ranking
from tracking.models import ProductMetrics

DEFAULT_GRANULARITY, DEFAULT_LAST = Granularity.DAY, 30


def product_history(info: Info, metrics: ProductMetrics, granularity: Granularity, last: int):
    """The product's series: in hand when the page prefetched it (``start_histories``),
    else an awaitable from the loader."""
    try:
        history.check_last(granularity, last)
    except InvalidRange as exc:
        raise BadUserInput(str(exc), field=exc.argument) from None
    # seller_id: on the row, see MetricsByProductLoader
    key = HistoryKey(metrics.product_id, metrics.seller_id, granularity, last, _selected_columns(info))
    return HistoryByProductIdLoader(info.context).load_now(key)


def _selected_columns(info: Info) -> tuple[str, ...]:
    """``bucket_columns`` of this field, worked out once per request: every item of a list
    has the same field nodes. The memo keeps the nodes, so their ids are not reused."""
    raw = info._raw_info  # noqa: SLF001
    key = ("history columns", *map(id, raw.field_nodes))
    known = info.context.memo.get(key)
    if known is None:
        known = info.context.memo[key] = (raw.field_nodes, bucket_columns(raw.field_nodes, raw.fragments))
    return known[1]


# MetricsBucket's fields and the stored columns they read (``start`` is always read).
BUCKET_COLUMNS = {
    "impressions": "impressions",
    "views": "views",
    "clicks": "clicks",
    "favoritesAdded": "favorites_added",
    "favoritesRemoved": "favorites_removed",
    "cartAdditions": "cart_additions",
    "cartRemovals": "cart_removals",
    "sales": "sales",
    "revenue": "revenue",
    "uniqueViewers": "unique_viewers",
}


def bucket_columns(field_nodes: Sequence[FieldNode], fragments: Mapping[str, Any]) -> tuple[str, ...]:
    """The stored columns that a ``history`` selection (every node of the field) reads,
    in ``tracking.history.COLUMNS`` order. A conditional selection (``@include``,
    ``@skip``) counts as read: a column too many costs little, one too few a wrong zero."""
    names: set[str] = set()
    pending = [node.selection_set for node in field_nodes if node.selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and (fragment := fragments.get(selection.name.value)):
                pending.append(fragment.selection_set)
    wanted = {BUCKET_COLUMNS[name] for name in names if name in BUCKET_COLUMNS}
    return tuple(column for column in history.COLUMNS if column in wanted)


def start_histories(info: Info, sold: Iterable[tuple[int, int]], path: Sequence[str]) -> list[asyncio.Future]:
    """Start loading the ``history`` that the selection ``path`` below the current field (a
    page's ``metrics``) asks for, for every (product id, seller id) of ``sold`` at once:
    the same keys as ``product_history`` makes (same batch, same one query), so that each
    product's series is in hand when the page completes, without a coroutine per item.
    Started beside the page's other loads, the batch runs with theirs rather than after
    them. Arguments that do not coerce or are out of range are left to the resolver, which
    reports them. Await the futures with ``graph.prefetch.settle``."""
    sold = list(sold)
    if not sold:
        return []
    fields: dict[str, list[FieldNode]] = {}  # graphql-core merges the nodes of one response key
    for node in selected_fields(info, path):
        if node.name.value == "history":
            fields.setdefault((node.alias or node.name).value, []).append(node)
    keys = []
    fragments = info._raw_info.fragments  # noqa: SLF001
    for nodes in fields.values():
        asked = _history_arguments(info, nodes[0])  # validation: one response key, one set of arguments
        if asked is None:
            continue
        granularity, last = asked
        columns = bucket_columns(nodes, fragments)
        keys += [HistoryKey(product_id, seller_id, granularity, last, columns) for product_id, seller_id in sold]
    loader = HistoryByProductIdLoader(info.context)
    return [loader.load(key) for key in keys]


def _history_arguments(info: Info, node: FieldNode) -> tuple[Granularity, int] | None:
    raw = info._raw_info  # noqa: SLF001
    field_def = raw.schema.get_type("ProductMetrics").fields["history"]
    values = {"granularity": DEFAULT_GRANULARITY.value, "last": DEFAULT_LAST}
    for argument in node.arguments:
        name = argument.name.value
        if name not in field_def.args:
            return None
        value = value_from_ast(argument.value, field_def.args[name].type, info.variable_values)
        if value is Undefined:
            return None
        values[name] = value
    try:
        granularity = Granularity(values["granularity"] or DEFAULT_GRANULARITY)
        last = DEFAULT_LAST if values["last"] is None else values["last"]
        history.check_last(granularity, last)
    except (ValueError, TypeError):
        return None
    return granularity, last


@dataclass
class SellerWindow:
    """One seller's analytics window as asked; what the SellerAnalytics fields read.
    The series is fetched once, when the first of ``series``/``totals`` asks for it."""

    seller_id: int
    granularity: Granularity
    start: datetime
    end: datetime
    first_period: datetime
    _series: asyncio.Future | None = field(default=None, repr=False)

    def series(self) -> asyncio.Future:
        if self._series is None:
            fetch = sync_to_async(history.seller_series)
            self._series = asyncio.ensure_future(
                fetch(seller_id=self.seller_id, granularity=self.granularity, start=self.start, end=self.end)
            )
        return self._series

    async def totals(self) -> Bucket:
        return history.window_totals(await self.series())

    async def top_products(self, *, by: Ranking, first: int) -> list[RankedProduct]:
        if not 1 <= first <= history.MAX_TOP_PRODUCTS:
            raise BadUserInput(f"first must be between 1 and {history.MAX_TOP_PRODUCTS}, got {first}.", field="first")
        return await sync_to_async(history.top_products)(
            seller_id=self.seller_id, granularity=self.granularity, start=self.start, end=self.end, by=by, first=first
        )


def seller_analytics(user, *, start: datetime, end: datetime, granularity: Granularity) -> SellerWindow:
    """The logged-in user's window over their own products (a user who sells nothing
    gets zeros and no top products: selling starts with the first product)."""
    try:
        history.check_window(granularity, start, end)
    except InvalidRange as exc:
        raise BadUserInput(str(exc), field=exc.argument) from None
    first_period = history.periods_between(granularity, start, end)[0]
    return SellerWindow(user.pk, granularity, start, end, first_period)
