"""The ``Subscription`` type: live totals of chosen products, or of the seller's own."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.errors import BadUserInput, Unauthenticated
from graph.ids import decode_id, global_id
from graph.subscriptions.hub import hub
from graph.types.live import ProductMetricsUpdate
from marketplace import selectors
from marketplace.models import Product
from tracking import live
from tracking.models import COUNTER_FIELDS, ProductMetrics

MAX_PRODUCTS_PER_SUBSCRIPTION = 100


def _active_products(ids: list[int]) -> dict[int, Product]:
    return {p.pk: p for p in selectors.active_products().filter(pk__in=ids)}


def _seller_products(user, ids: list[int]) -> dict[int, Product]:
    return {p.pk: p for p in selectors.products_sold_by(user=user).filter(pk__in=ids)}


def metrics_from_row(row: live.TotalsRow) -> ProductMetrics:
    """An unsaved ``ProductMetrics`` carrying the read totals (and ``seller_id``, which
    ``ProductMetrics.totalRevenue`` checks, as the query-side loader provides it). One per
    update sent: the row itself is shared by every subscription it was offered to."""
    counters = {name: getattr(row, name) for name in COUNTER_FIELDS}
    counters["total_revenue"] = live.revenue(row)
    metrics = ProductMetrics(product_id=row.product_id, updated_at=live.updated_at(row), **counters)
    metrics.seller_id = row.seller_id
    return metrics


async def _stream(
    info: Info, products: dict[int, Product], *, product_ids=(), seller_id=None, load=None
) -> AsyncGenerator[ProductMetricsUpdate, None]:
    """Updates from a hub mailbox; products first seen in an update are loaded with ``load``."""
    async with hub.subscription(product_ids=product_ids, seller_id=seller_id) as mailbox:
        while True:
            pending = await mailbox.take()
            missing = [pid for pid in pending if pid not in products]
            if missing and load is not None:
                products.update(await sync_to_async(load)(missing))
            info.context.dataloaders.clear()  # a long-lived socket must not serve cached rows
            for product_id, (row, applied_at) in sorted(pending.items()):
                product = products.get(product_id)
                if product is not None:
                    yield ProductMetricsUpdate(product=product, metrics=metrics_from_row(row), applied_at=applied_at)


def _decode_product_ids(product_ids: list[strawberry.ID]) -> list[int]:
    if not product_ids:
        raise BadUserInput("productIds: give at least one product ID.", field="productIds")
    if len(product_ids) > MAX_PRODUCTS_PER_SUBSCRIPTION:
        raise BadUserInput(
            f"productIds: at most {MAX_PRODUCTS_PER_SUBSCRIPTION} products per subscription, got {len(product_ids)}.",
            field="productIds",
        )
    return list(dict.fromkeys(decode_id(value, "Product", field="productIds") for value in product_ids))


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "New totals of the given products after each applied batch of events that touched them "
            f"(at most {MAX_PRODUCTS_PER_SUBSCRIPTION} active products). A slow client gets the newest totals, "
            "not every intermediate one."
        )
    )
    async def product_metrics_updated(
        self, info: Info, product_ids: list[strawberry.ID]
    ) -> AsyncGenerator[ProductMetricsUpdate, None]:
        # Checked before the stream starts, so that a bad id is the protocol's ``error`` message.
        ids = _decode_product_ids(product_ids)
        products = await sync_to_async(_active_products)(ids)
        unknown = [global_id("Product", pid) for pid in ids if pid not in products]
        if unknown:
            raise BadUserInput(f"productIds: no active product with ID {', '.join(unknown)}.", field="productIds")
        return _stream(info, products, product_ids=ids)

    @strawberry.subscription(
        description="New totals of the logged-in seller's own products (revenue included) after each applied batch."
    )
    async def seller_metrics_updated(self, info: Info) -> AsyncGenerator[ProductMetricsUpdate, None]:
        user = info.context.user
        if user is None or not user.is_authenticated:
            raise Unauthenticated("Log in (session cookie or a bearer token in connection_init) to follow your sales.")
        return _stream(info, {}, seller_id=user.pk, load=lambda ids: _seller_products(user, ids))
