"""The Relay ``Node`` interface: every object a client may refetch by its global ID.

A plain interface rather than ``strawberry.relay.Node``: the types keep their own
``id`` fields (``Type:pk`` in base64, ``graph.ids``), so every ID the API ever issued
still works, and ``node(id:)`` resolves through the same per-request loaders as the
rest of the schema (``graph.resolvers.nodes``).
"""

from __future__ import annotations

from typing import Any

import strawberry
from django.contrib.auth import get_user_model

from marketplace.models import Category, Order, Product, ProductReview


def _type_names() -> dict[type, str]:
    return {
        Product: "Product",
        Category: "Category",
        ProductReview: "Review",
        Order: "Order",
        get_user_model(): "Seller",  # a user is a Node only in their public face
    }


@strawberry.interface(description="An object with a global ID: refetch it with `node(id:)` (Relay).")
class Node:
    id: strawberry.ID

    @classmethod
    def resolve_type(cls, obj: Any, info: Any, abstract_type: Any) -> str | None:
        """The GraphQL type of a model instance a ``Node`` field returned."""
        return _type_names().get(type(obj))

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        """Resolvers return model instances, not type instances: trust them, as the types
        that implement no interface do (strawberry's default would check ``isinstance``)."""
        return True
