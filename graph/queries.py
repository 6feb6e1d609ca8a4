"""The root Query: one line per field, the work is in ``graph.resolvers``."""

from __future__ import annotations

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.carts import request_cart
from graph.permissions import current_user, require_staff
from graph.resolvers import categories as category_resolvers
from graph.resolvers import nodes as node_resolvers
from graph.resolvers import products as product_resolvers
from graph.types.accounts import UserType
from graph.types.catalogue import (
    CategoryType,
    ProductConnection,
    ProductFilter,
    ProductOrderEnum,
    ProductType,
    listed_products,
)
from graph.types.commerce import CartType
from graph.types.node import Node
from graph.types.tracking import TrackingStatus
from tracking.process_stats import tracking_deployment_stats


@strawberry.type
class Query:
    @strawberry.field(description="Active products, a page at a time (20 by default, at most 100 per page).")
    async def products(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ProductFilter | None = None,  # noqa: A002
        order_by: ProductOrderEnum | None = None,  # NEWEST, or RELEVANCE with a search
        last: int | None = None,
        before: str | None = None,
    ) -> ProductConnection:
        page = await product_resolvers.products(
            info, first=first, after=after, filter=filter, order_by=order_by, last=last, before=before
        )
        return await listed_products(info, page)

    @strawberry.field(description="One active product by ID or slug (exactly one of them); null when not found.")
    async def product(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        slug: str | None = None,  # noqa: A002
    ) -> ProductType | None:
        return await product_resolvers.product(info, id=id, slug=slug)

    @strawberry.field(
        description="Any object by its global ID (Relay); null when it does not exist or is not yours to see."
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:  # noqa: A002
        return await node_resolvers.node(info, id=id)

    @strawberry.field(description="Objects by global ID, in the order asked (at most 100); null where `node` is null.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        return await node_resolvers.nodes(info, ids=ids)

    @strawberry.field(description="The root categories; walk `children` for the tree.")
    async def categories(self, info: Info) -> list[CategoryType]:
        return await category_resolvers.root_categories(info)

    @strawberry.field(description="One category by ID or slug (exactly one of them); null when not found.")
    async def category(
        self,
        info: Info,
        id: strawberry.ID | None = None,
        slug: str | None = None,  # noqa: A002
    ) -> CategoryType | None:
        return await category_resolvers.category(info, id=id, slug=slug)

    @strawberry.field(
        description=(
            "Tracking statistics summed over every server process, with a per-process breakdown "
            "(staff only: null with a FORBIDDEN or UNAUTHENTICATED error for anyone else)."
        )
    )
    async def tracking_status(self, info: Info) -> TrackingStatus | None:
        require_staff(info)
        return TrackingStatus.from_deployment(await sync_to_async(tracking_deployment_stats)())

    @strawberry.field(description="The logged-in user; null when nobody is.")
    def me(self, info: Info) -> UserType | None:
        return current_user(info)

    @strawberry.field(description="The current cart (the user's, or an anonymous visitor's session cart).")
    async def cart(self, info: Info) -> CartType | None:
        return await request_cart(info, create=False)
