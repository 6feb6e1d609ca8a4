"""Resolvers of metrics over time: arguments checked, then a loader (history) or the
selectors of ``tracking.history`` (a seller's analytics)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.loaders.history import HistoryByProductIdLoader, HistoryKey
from tracking import history
from tracking.history import Bucket, Granularity, InvalidRange, RankedProduct, Ranking
from tracking.models import ProductMetrics


def product_history(info: Info, metrics: ProductMetrics, granularity: Granularity, last: int):
    """The product's series (an awaitable from the loader: no coroutine per product)."""
    try:
        history.check_last(granularity, last)
    except InvalidRange as exc:
        raise BadUserInput(str(exc), field=exc.argument) from None
    # seller_id: on the row, see MetricsByProductLoader
    key = HistoryKey(metrics.product_id, metrics.seller_id, granularity, last)
    return HistoryByProductIdLoader(info.context).load(key)


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
