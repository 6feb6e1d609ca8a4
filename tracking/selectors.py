"""Read-side helpers that order or annotate catalogue querysets by engagement."""

from __future__ import annotations

from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce

from marketplace.models import Product


def with_metric(qs: QuerySet[Product], field: str, alias: str) -> QuerySet[Product]:
    """Annotate a metrics counter, 0 for products whose metrics row is still missing."""
    return qs.annotate(**{alias: Coalesce(F(f"metrics__{field}"), Value(0))})
