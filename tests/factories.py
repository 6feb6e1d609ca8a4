"""Small builders for test data: explicit, no magic, one line per object in a test."""

from __future__ import annotations

import itertools
from decimal import Decimal

from django.contrib.auth import get_user_model

from marketplace.models import Category, Product, ProductImage, ProductReview

_counter = itertools.count(1)


def make_user(username: str | None = None, **extra):
    n = next(_counter)
    username = username or f"user{n}"
    return get_user_model().objects.create_user(
        username=username, email=f"{username}@example.com", password="correct-horse-battery-9", **extra
    )


def make_category(name: str | None = None, parent: Category | None = None, **extra) -> Category:
    n = next(_counter)
    name = name or f"Category {n}"
    return Category.objects.create(name=name, slug=extra.pop("slug", f"category-{n}"), parent=parent, **extra)


def make_product(
    *, seller=None, category: Category | None = None, name: str | None = None, price: str = "10.00", **extra
) -> Product:
    n = next(_counter)
    return Product.objects.create(
        seller=seller or make_user(),
        category=category or make_category(),
        name=name or f"Product {n}",
        slug=extra.pop("slug", f"product-{n}"),
        price=Decimal(price),
        stock=extra.pop("stock", 10),
        **extra,
    )


def make_image(product: Product, position: int = 0) -> ProductImage:
    return ProductImage.objects.create(
        product=product,
        url=f"https://img.example.com/{product.pk}/{position}.jpg",
        alt_text=f"image {position}",
        position=position,
    )


def make_review(product: Product, user=None, rating: int = 5) -> ProductReview:
    return ProductReview.objects.create(product=product, user=user or make_user(), rating=rating, title="t", body="b")


def strip_metrics(*products: Product) -> None:
    """Delete metrics rows behind the app's back, as an import or old data would leave them."""
    from tracking.models import ProductMetrics

    ProductMetrics.objects.filter(product_id__in=[p.pk for p in products]).delete()
