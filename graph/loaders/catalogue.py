"""Loaders for categories, sellers, images, ratings and reviews."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, Subquery

from graph.loaders.base import Loader, Primed
from graph.pagination import Ordering, Slice, SortKey, Window, pages_per_parent
from marketplace import selectors
from marketplace.models import Category, ProductReview


class CategoryByIdLoader(Loader):
    """Categories by id. Each batch also fetches the parents of what it loads (same
    query) and primes them, so ``category { parent { ... } }`` costs one query."""

    context_key = "category_by_id"

    def load_batch(self, keys: list[int]) -> Primed:
        parents = Category.objects.filter(id__in=keys, parent_id__isnull=False).values("parent_id")
        found = {c.pk: c for c in Category.objects.filter(Q(id__in=keys) | Q(id__in=Subquery(parents)))}
        requested = set(keys)
        extra = {pk: c for pk, c in found.items() if pk not in requested}
        return Primed([found.get(key) for key in keys], {CategoryByIdLoader: extra})


class ChildrenByCategoryIdLoader(Loader):
    context_key = "children_by_category_id"

    def load_batch(self, keys: list[int]) -> Primed:
        by_parent: dict[int, list[Category]] = {key: [] for key in keys}
        for category in Category.objects.filter(parent_id__in=keys).order_by("name", "id"):
            by_parent[category.parent_id].append(category)
        children = {c.pk: c for group in by_parent.values() for c in group}
        return Primed([by_parent[key] for key in keys], {CategoryByIdLoader: children})


class CategoryTreeLoader(Loader):
    """The whole category tree as ``{parent_id: [child ids]}``; load it with key ``"tree"``."""

    context_key = "category_tree"

    def load_batch(self, keys: list[str]) -> list[dict]:
        tree = selectors.category_tree()
        return [tree for _ in keys]


class UserByIdLoader(Loader):
    context_key = "user_by_id"

    def load_batch(self, keys: list[int]) -> list[Any]:
        users = get_user_model().objects.only("id", "username", "first_name", "last_name").in_bulk(keys)
        return [users.get(key) for key in keys]


class ImagesByProductIdLoader(Loader):
    context_key = "images_by_product_id"

    def load_batch(self, keys: list[int]) -> list[list]:
        images = selectors.images_for(keys)
        return [images.get(key, []) for key in keys]


@dataclass(frozen=True)
class Rating:
    average: float | None
    count: int


class RatingByProductIdLoader(Loader):
    context_key = "rating_by_product_id"

    def load_batch(self, keys: list[int]) -> list[Rating]:
        ratings = selectors.ratings_for(keys)
        return [Rating(*ratings[key]) if key in ratings else Rating(None, 0) for key in keys]


REVIEW_ORDER = Ordering("REVIEWS_NEWEST", (SortKey("created_at", True, datetime), SortKey("id", True)))


@dataclass(frozen=True)
class ReviewPageKey:
    product_id: int
    window: Window


class ReviewPageByProductIdLoader(Loader):
    """A page of each product's reviews, newest first: one query per batch (``pages_per_parent``)."""

    context_key = "review_page_by_product_id"

    def load_batch(self, keys: list[ReviewPageKey]) -> list[Slice]:
        results: dict[ReviewPageKey, Slice] = {}
        by_window: dict[Window, list[ReviewPageKey]] = {}
        for key in dict.fromkeys(keys):
            by_window.setdefault(key.window, []).append(key)
        for window, group in by_window.items():
            querysets = {key: ProductReview.objects.filter(product_id=key.product_id) for key in group}
            results.update(pages_per_parent(querysets, REVIEW_ORDER, window))
        return [results[key] for key in keys]


class FavoriteByProductIdLoader(Loader):
    """Whether the request's user favorited each product (False for anonymous, no query)."""

    context_key = "favorite_by_product_id"

    def load_batch(self, keys: list[int]) -> list[bool]:
        from marketplace.models import Favorite

        user = self.context.user
        if user is None or not user.is_authenticated:
            return [False for _ in keys]
        liked = set(Favorite.objects.filter(user=user, product_id__in=keys).values_list("product_id", flat=True))
        return [key in liked for key in keys]
