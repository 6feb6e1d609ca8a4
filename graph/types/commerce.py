"""Accounts, carts and orders as the API shows them to their owner."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal

import strawberry
from asgiref.sync import sync_to_async
from strawberry.types import Info

from graph.loaders.commerce import OrderItemsByOrderIdLoader
from graph.pagination import Ordering, SortKey, TotalCount, connection, counted_once, fetch_page
from graph.types.catalogue import ProductConnection, ProductType, product_connection
from graph.types.common import PageInfo, global_id_field
from marketplace.models import ApiToken, Cart, CartItem, Favorite, Order, OrderItem, Product

NEWEST_FIRST = (SortKey("created_at", True, datetime), SortKey("id", True))
FAVORITES_ORDER = Ordering("FAVORITES_NEWEST", NEWEST_FIRST)
ORDERS_ORDER = Ordering("ORDERS_NEWEST", NEWEST_FIRST)
MY_PRODUCTS_ORDER = Ordering("MY_PRODUCTS_NEWEST", NEWEST_FIRST)


@strawberry.type(description="A validation failure: which input, what is wrong, a stable code.")
class UserError:
    field: str | None
    message: str
    code: str


@strawberry.type(name="CartItem")
class CartItemType:
    quantity: int

    @strawberry.field
    def product(self, root: strawberry.Parent[CartItem]) -> ProductType:
        return root.product

    @strawberry.field
    def line_total(self, root: strawberry.Parent[CartItem]) -> Decimal:
        return root.product.price * root.quantity


@strawberry.type(name="Cart")
class CartType:
    id: strawberry.ID = global_id_field("Cart")

    @strawberry.field
    async def items(self, root: strawberry.Parent[Cart]) -> list[CartItemType]:
        return await _cart_items(root)

    @strawberry.field
    async def total_quantity(self, root: strawberry.Parent[Cart]) -> int:
        return sum(item.quantity for item in await _cart_items(root))

    @strawberry.field(description="Sum of the lines at today's prices (checkout captures them).")
    async def subtotal(self, root: strawberry.Parent[Cart]) -> Decimal:
        return sum((item.product.price * item.quantity for item in await _cart_items(root)), Decimal("0"))


async def _cart_items(cart: Cart) -> list[CartItem]:
    """The cart's lines with their products, read once per cart object however many
    of its fields a query selects (a mutation payload's cart is a fresh object)."""
    if not hasattr(cart, "_lines"):  # a shared future: sibling fields resolve concurrently
        lines = cart.items.select_related("product").order_by("added_at", "id")
        cart._lines = asyncio.ensure_future(sync_to_async(list)(lines))
    return await cart._lines


@strawberry.type(name="OrderItem")
class OrderItemType:
    quantity: int
    unit_price: Decimal = strawberry.field(description="The price when the order was placed.")

    @strawberry.field
    def product(self, root: strawberry.Parent[OrderItem]) -> ProductType:
        return root.product

    @strawberry.field
    def line_total(self, root: strawberry.Parent[OrderItem]) -> Decimal:
        return root.line_total


@strawberry.type(name="Order")
class OrderType:
    status: str
    total: Decimal
    created_at: datetime

    id: strawberry.ID = global_id_field("Order")

    @strawberry.field
    def items(self, root: strawberry.Parent[Order], info: Info) -> list[OrderItemType]:
        return OrderItemsByOrderIdLoader(info.context).load(root.pk)


@strawberry.type
class OrderEdge:
    cursor: str
    node: OrderType


@strawberry.type
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo


@strawberry.type(name="ApiToken", description="An API token's public record; the secret is shown only at login.")
class ApiTokenType:
    prefix: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    id: strawberry.ID = global_id_field("ApiToken")


async def _product_page(qs, ordering: Ordering, first: int | None, after: str | None, *, node) -> ProductConnection:
    """A ProductConnection over ``qs`` (rows turned into products by ``node``), counted lazily
    (exactly: a user's own favorites and products are few)."""

    async def count() -> TotalCount:
        return TotalCount(await qs.acount())

    return product_connection(await fetch_page(qs, ordering, first, after, count=counted_once(count)), node)


@strawberry.type(name="User", description="The logged-in user, as they see themselves.")
class UserType:
    username: str
    email: str
    is_staff: bool

    id: strawberry.ID = global_id_field("User")

    @strawberry.field(description="Favorited products, most recent first.")
    async def favorites(
        self, root: strawberry.Parent[object], first: int | None = 20, after: str | None = None
    ) -> ProductConnection:
        qs = Favorite.objects.filter(user=root).select_related("product")
        return await _product_page(qs, FAVORITES_ORDER, first, after, node=lambda favorite: favorite.product)

    @strawberry.field(description="Orders, most recent first.")
    async def orders(
        self, root: strawberry.Parent[object], first: int | None = 20, after: str | None = None
    ) -> OrderConnection:
        page = await fetch_page(Order.objects.filter(user=root), ORDERS_ORDER, first, after)
        return connection(page, OrderConnection, OrderEdge)

    @strawberry.field(description="Products this user sells, active or not, newest first.")
    async def products(
        self, root: strawberry.Parent[object], first: int | None = 20, after: str | None = None
    ) -> ProductConnection:
        qs = Product.objects.filter(seller=root)
        return await _product_page(qs, MY_PRODUCTS_ORDER, first, after, node=lambda product: product)

    @strawberry.field(description="API tokens, active and revoked.")
    async def tokens(self, root: strawberry.Parent[object], info: Info) -> list[ApiTokenType]:
        return [t async for t in ApiToken.objects.filter(user=root)]
