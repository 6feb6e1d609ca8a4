"""Carts and orders as the API shows them to their owner."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry.types import Info

from graph.loaders.commerce import CartItemsByCartIdLoader, OrderItemsByOrderIdLoader
from graph.types.catalogue import ProductType
from graph.types.common import PageInfo, global_id_field
from graph.types.node import Node
from marketplace.models import Cart, CartItem, Order, OrderItem


@strawberry.enum(description="Where an order stands.")
class OrderStatus(enum.Enum):
    # The model's choices, one for one (a test holds them together).
    PLACED = Order.Status.PLACED.value
    CANCELLED = Order.Status.CANCELLED.value


@strawberry.type(name="CartItem")
class CartItemType:
    quantity: int

    @strawberry.field
    def product(self, root: strawberry.Parent[CartItem]) -> ProductType:
        return root.product

    @strawberry.field(
        description="False once the seller stopped selling the product: the line stays so that the shopper "
        "sees what happened (and can remove it), but checkout does not buy it and the totals leave it out."
    )
    def available(self, root: strawberry.Parent[CartItem]) -> bool:
        return root.product.is_active

    @strawberry.field
    def line_total(self, root: strawberry.Parent[CartItem]) -> Decimal:
        return root.product.price * root.quantity


@strawberry.type(name="Cart")
class CartType:
    id: strawberry.ID = global_id_field("Cart")

    @strawberry.field
    def items(self, root: strawberry.Parent[Cart], info: Info) -> list[CartItemType]:
        return CartItemsByCartIdLoader(info.context).load(root.pk)

    @strawberry.field(description="Units checkout would buy (available lines only).")
    async def total_quantity(self, root: strawberry.Parent[Cart], info: Info) -> int:
        lines = await CartItemsByCartIdLoader(info.context).load(root.pk)
        return sum(item.quantity for item in lines if item.product.is_active)

    @strawberry.field(description="What checkout would charge: available lines at today's prices (it captures them).")
    async def subtotal(self, root: strawberry.Parent[Cart], info: Info) -> Decimal:
        lines = await CartItemsByCartIdLoader(info.context).load(root.pk)
        return sum((item.product.price * item.quantity for item in lines if item.product.is_active), Decimal("0"))


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


@strawberry.type(name="Order", description="An order; a Node only its owner and staff can fetch.")
class OrderType(Node):
    total: Decimal
    created_at: datetime

    id: strawberry.ID = global_id_field("Order")

    @strawberry.field
    def status(self, root: strawberry.Parent[Order]) -> OrderStatus:
        return OrderStatus(root.status)

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
