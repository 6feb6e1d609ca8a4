"""Loaders of single objects by id, for ``node``/``nodes``: each answers ``None`` for what
the public may not see (a deactivated product, a review of one, an inactive user), so
that a refetch by ID shows what a listing shows. Orders are loaded whole: whose they
are is the resolver's check (``graph.resolvers.nodes``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from graph.loaders.base import Loader
from marketplace import selectors
from marketplace.models import Order, ProductReview


class ProductByIdLoader(Loader):
    context_key = "product_by_id"

    def load_batch(self, keys: list[int]) -> list[Any]:
        found = selectors.active_products().in_bulk(keys)
        return [found.get(key) for key in keys]


class SellerByIdLoader(Loader):
    """Active users, with the columns their public face (``Seller``) shows."""

    context_key = "seller_by_id"

    def load_batch(self, keys: list[int]) -> list[Any]:
        users = get_user_model().objects.filter(is_active=True).only("id", "username", "first_name", "last_name")
        found = users.in_bulk(keys)
        return [found.get(key) for key in keys]


class ReviewByIdLoader(Loader):
    context_key = "review_by_id"

    def load_batch(self, keys: list[int]) -> list[ProductReview | None]:
        found = ProductReview.objects.filter(product__in=selectors.active_products()).in_bulk(keys)
        return [found.get(key) for key in keys]


class OrderByIdLoader(Loader):
    context_key = "order_by_id"

    def load_batch(self, keys: list[int]) -> list[Order | None]:
        found = Order.objects.in_bulk(keys)
        return [found.get(key) for key in keys]
