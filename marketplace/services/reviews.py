"""Reviews: one per user and product, rating 1..5."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from marketplace.models import Product, ProductReview
from marketplace.services.errors import ServiceError


def add_review(*, user, product: Product, rating: int, title: str = "", body: str = "") -> ProductReview:
    if not 1 <= rating <= 5:
        raise ServiceError("Rating must be between 1 and 5.", field="rating", code="out_of_range")
    if len(title) > 200:
        raise ServiceError("Title is longer than 200 characters.", field="title", code="too_long")
    if len(body) > 10_000:
        raise ServiceError("Review is longer than 10,000 characters.", field="body", code="too_long")
    try:
        with transaction.atomic():
            return ProductReview.objects.create(user=user, product=product, rating=rating, title=title, body=body)
    except IntegrityError:
        raise ServiceError("You have already reviewed this product.", field="productId", code="duplicate") from None
