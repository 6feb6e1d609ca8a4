"""Reviews: one per user and product, rating 1..5, never by the product's own seller."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from marketplace.models import Order, OrderItem, Product, ProductReview
from marketplace.services.errors import ServiceError


def add_review(*, user, product: Product, rating: int, title: str = "", body: str = "") -> ProductReview:
    """Store ``user``'s review of ``product``.

    A seller may not review their own product (a review is a buyer's word). The
    review is marked a verified purchase when the author has a placed order of the
    product at the time of writing; the mark is stored, so that listing reviews
    costs no order lookup per review.
    """
    if product.seller_id == user.pk:
        raise ServiceError("You cannot review your own product.", field="productId", code="own_product")
    if not 1 <= rating <= 5:
        raise ServiceError("Rating must be between 1 and 5.", field="rating", code="out_of_range")
    if len(title) > 200:
        raise ServiceError("Title is longer than 200 characters.", field="title", code="too_long")
    if len(body) > 10_000:
        raise ServiceError("Review is longer than 10,000 characters.", field="body", code="too_long")
    verified = OrderItem.objects.filter(product=product, order__user=user, order__status=Order.Status.PLACED).exists()
    try:
        with transaction.atomic():
            return ProductReview.objects.create(
                user=user, product=product, rating=rating, title=title, body=body, verified_purchase=verified
            )
    except IntegrityError:
        raise ServiceError("You have already reviewed this product.", field="productId", code="duplicate") from None
