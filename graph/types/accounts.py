"""The logged-in user as they see themselves, with what they own, and their API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.export import export_link
from graph.pagination import Ordering, SortKey, TotalCount, connection, counted_once, fetch_page
from graph.permissions import current_user
from graph.resolvers.history import seller_analytics
from graph.types.analytics import SellerAnalyticsType
from graph.types.catalogue import ProductConnection, product_connection
from graph.types.commerce import OrderConnection, OrderEdge
from graph.types.common import global_id_field
from graph.types.history import MetricsGranularityEnum
from marketplace import selectors
from tracking.history import Granularity

NEWEST_FIRST = (SortKey("created_at", True, datetime), SortKey("id", True))
FAVORITES_ORDER = Ordering("FAVORITES_NEWEST", NEWEST_FIRST)
ORDERS_ORDER = Ordering("ORDERS_NEWEST", NEWEST_FIRST)
MY_PRODUCTS_ORDER = Ordering("MY_PRODUCTS_NEWEST", NEWEST_FIRST)


@strawberry.type(name="ApiToken", description="An API token's public record; the secret is shown only at login.")
class ApiTokenType:
    prefix: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    id: strawberry.ID = global_id_field("ApiToken")


async def _product_page(qs, ordering: Ordering, paging: dict, *, node) -> ProductConnection:
    """A ProductConnection over ``qs`` (rows turned into products by ``node``), counted lazily
    (exactly: a user's own favorites and products are few)."""

    async def count() -> TotalCount:
        return TotalCount(await qs.acount())

    return product_connection(await fetch_page(qs, ordering, **paging, count=counted_once(count)), node)


@strawberry.type(
    name="DataExport",
    description="A link to everything the marketplace holds about you, as one JSON document (GDPR access): "
    "account, orders with their lines, reviews, favorites and activity. GET it without further authentication "
    "before it expires; it is streamed, however long your history.",
)
class DataExportType:
    url: str
    expires_at: datetime


@strawberry.type(name="User", description="The logged-in user, as they see themselves.")
class UserType:
    username: str
    email: str
    is_staff: bool

    id: strawberry.ID = global_id_field("User")

    @strawberry.field(
        description="Favorited products, most recent first. A product its seller stopped selling is left out "
        "(it comes back if sold again), except for its seller and staff."
    )
    async def favorites(
        self,
        root: strawberry.Parent[object],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ProductConnection:
        qs = selectors.favorites_of(user=root)
        paging = {"first": first, "after": after, "last": last, "before": before}
        return await _product_page(qs, FAVORITES_ORDER, paging, node=lambda favorite: favorite.product)

    @strawberry.field(description="Orders, most recent first.")
    async def orders(
        self,
        root: strawberry.Parent[object],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> OrderConnection:
        paging = {"first": first, "after": after, "last": last, "before": before}
        page = await fetch_page(selectors.orders_of(user=root), ORDERS_ORDER, **paging)
        return connection(page, OrderConnection, OrderEdge)

    @strawberry.field(description="Products this user sells, active or not, newest first.")
    async def products(
        self,
        root: strawberry.Parent[object],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> ProductConnection:
        qs = selectors.products_sold_by(user=root)
        paging = {"first": first, "after": after, "last": last, "before": before}
        return await _product_page(qs, MY_PRODUCTS_ORDER, paging, node=lambda product: product)

    @strawberry.field(description="API tokens, active and revoked.")
    async def tokens(self, root: strawberry.Parent[object], info: Info) -> list[ApiTokenType]:
        return await sync_to_async(list)(selectors.api_tokens_of(user=root))

    @strawberry.field(
        description="A short-lived link to download all your data as one JSON document; null unless this "
        "is the logged-in user."
    )
    def export_data(self, root: strawberry.Parent[object], info: Info) -> DataExportType | None:
        viewer = current_user(info)
        if viewer is None or viewer.pk != root.pk:
            return None
        url, expires_at = export_link(info.context.request, root)
        return DataExportType(url=url, expires_at=expires_at)

    @strawberry.field(
        description="Metrics of the products this user sells (active or not) over a window: the series summed "
        "over them, its totals, and the top products. The window is at most a year (31 days with HOUR); an "
        "inverted or longer one is a BAD_USER_INPUT error. A user who sells nothing gets zeros."
    )
    def seller_analytics(
        self,
        root: strawberry.Parent[object],
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        granularity: MetricsGranularityEnum | None = Granularity.DAY,
    ) -> SellerAnalyticsType | None:
        return seller_analytics(root, start=from_, end=to, granularity=granularity or Granularity.DAY)
