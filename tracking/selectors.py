"""Read-side helpers for tracking: engagement orderings and tracking targets."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce

from marketplace.models import Product


def with_metric(qs: QuerySet[Product], field: str, alias: str) -> QuerySet[Product]:
    """Annotate a metrics counter, 0 for products whose metrics row is still missing."""
    return qs.annotate(**{alias: Coalesce(F(f"metrics__{field}"), Value(0))})


async def trackable_product_ids(product_ids: Iterable[int]) -> set[int]:
    """The given ids that belong to active products (one query): only those may be tracked."""
    ids = list(product_ids)
    return {pid async for pid in Product.objects.filter(id__in=ids, is_active=True).values_list("id", flat=True)}
