"""Sort keys and counts the catalogue keeps current, so that listings read them from an index.

Two kinds, each maintained in the transaction of the write that changes its source
(receivers below, connected in ``MarketplaceConfig.ready``, so the services, the admin
and the test factories all keep them), and each recomputable from its source
(``rating_drift`` / ``category_count_drift``; ``reconcile_metrics`` reports and repairs):

- ``Product.rating_count/rating_sum/rating_score``: TOP_RATED ranks by a Bayesian
  average, ``(PRIOR_COUNT * PRIOR_MEAN + sum) / (PRIOR_COUNT + count)``: every product
  starts as if it had ``RATING_PRIOR_COUNT`` reviews of ``RATING_PRIOR_MEAN`` stars, so one
  5-star review (3.33) does not outrank a hundred at 4.9 (4.81). ``rating { average count }``
  in the API stays the exact mean over the reviews. Both sides of the division are
  integers, so SQL and Python compute the same double and the naive ORDER BY agrees.
- ``Category.product_count``: active products in the category and all its descendants,
  so ``productCount`` and an unfiltered ``totalCount`` cost no COUNT.

Writes that bypass ``save()``/``delete()`` (``QuerySet.update``, raw SQL) leave drift that
``reconcile_metrics --fix`` repairs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from django.db.models import Count, F, FloatField, Sum, Value
from django.db.models.functions import Cast
from django.db.models.signals import post_delete, post_save, pre_save

from marketplace.models import Category, Product, ProductReview

RATING_PRIOR_COUNT = 5
RATING_PRIOR_MEAN = 3
_PRIOR_SUM = RATING_PRIOR_COUNT * RATING_PRIOR_MEAN


def rating_score(total: int, count: int) -> float:
    return (_PRIOR_SUM + total) / (RATING_PRIOR_COUNT + count)


def rating_score_sql(total, count):
    """The same formula as a database expression over ``total`` and ``count`` expressions."""
    return Cast(Value(_PRIOR_SUM) + total, FloatField()) / Cast(Value(RATING_PRIOR_COUNT) + count, FloatField())


def add_rating(product_id: int, *, stars: int, reviews: int) -> None:
    """Add ``stars`` to the rating sum and ``reviews`` to the count (negative to remove): one
    UPDATE that increments in the database, so concurrent reviews lose nothing."""
    total, count = F("rating_sum") + stars, F("rating_count") + reviews
    Product.objects.filter(pk=product_id).update(
        rating_sum=total, rating_count=count, rating_score=rating_score_sql(total, count)
    )


def _ancestors(category_ids: Iterable[int]) -> Counter:
    """``{category_id: times}``: each given category and its ancestors, once per occurrence."""
    parents = dict(Category.objects.values_list("id", "parent_id"))
    found: Counter = Counter()
    for category_id in category_ids:
        seen = set()
        while category_id is not None and category_id not in seen:
            seen.add(category_id)
            found[category_id] += 1
            category_id = parents.get(category_id)
    return found


def add_products_to_counts(added: Iterable[int], removed: Iterable[int] = ()) -> None:
    """Count products into (``added``) or out of (``removed``) their categories' chains,
    one category id per product. Rows are updated in ascending id order, one UPDATE per
    distinct change (usually one or two), so concurrent writers lock in one order."""
    change = _ancestors(added)
    change.subtract(_ancestors(removed))
    by_delta: dict[int, list[int]] = {}
    for category_id, delta in sorted(change.items()):
        if delta:
            by_delta.setdefault(delta, []).append(category_id)
    for delta, ids in sorted(by_delta.items()):
        Category.objects.filter(id__in=ids).update(product_count=F("product_count") + delta)


# --- receivers -------------------------------------------------------------------------


def _counted(state: tuple[bool, int | None] | None) -> list[int]:
    return [state[1]] if state and state[0] and state[1] is not None else []


def product_saved(sender, instance: Product, created: bool, raw: bool = False, update_fields=None, **kwargs) -> None:
    if raw or (update_fields is not None and not {"is_active", "category", "category_id"} & set(update_fields)):
        return  # a stock or price change (checkout): no count moves, no query
    before = None if created else getattr(instance, "_counted_as", None)
    after = (instance.is_active, instance.category_id)
    if before != after:
        add_products_to_counts(_counted(after), _counted(before))
    instance._counted_as = after


def product_before_save(sender, instance: Product, raw: bool = False, **kwargs) -> None:
    """A product saved without being read first (``Product(pk=..).save()``): read what it was."""
    if not raw and instance.pk is not None and not hasattr(instance, "_counted_as"):
        row = Product.objects.filter(pk=instance.pk).values_list("is_active", "category_id").first()
        if row is not None:
            instance._counted_as = row


def product_deleted(sender, instance: Product, **kwargs) -> None:
    add_products_to_counts((), _counted(getattr(instance, "_counted_as", (instance.is_active, instance.category_id))))


def products_bulk_created(sender, product_ids: list[int], **kwargs) -> None:
    """Count products inserted with ``bulk_create`` or raw rows: grouped per category,
    in chunks of ids (SQLite bounds the parameters of one statement)."""
    per_category: Counter = Counter()
    for start in range(0, len(product_ids), 20_000):
        chunk = Product.objects.filter(pk__in=product_ids[start : start + 20_000], is_active=True)
        per_category.update(
            dict(chunk.order_by().values("category_id").annotate(n=Count("id")).values_list("category_id", "n"))
        )
    add_products_to_counts(per_category.elements())


def review_before_save(sender, instance: ProductReview, raw: bool = False, **kwargs) -> None:
    if not raw and instance.pk is not None:
        instance._rated_as = ProductReview.objects.filter(pk=instance.pk).values_list("rating", flat=True).first()


def review_saved(sender, instance: ProductReview, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    before = getattr(instance, "_rated_as", None)
    if created or before is None:
        add_rating(instance.product_id, stars=instance.rating, reviews=1)
    elif before != instance.rating:
        add_rating(instance.product_id, stars=instance.rating - before, reviews=0)
    instance._rated_as = instance.rating


def review_deleted(sender, instance: ProductReview, **kwargs) -> None:
    add_rating(instance.product_id, stars=-instance.rating, reviews=-1)


def category_before_save(sender, instance: Category, raw: bool = False, **kwargs) -> None:
    if not raw and instance.pk is not None:
        instance._parent_was = Category.objects.filter(pk=instance.pk).values_list("parent_id", flat=True).first()


def category_saved(sender, instance: Category, created: bool, raw: bool = False, **kwargs) -> None:
    """A category moved under another parent: its count leaves the old ancestors and joins
    the new ones (rare, admin-only: recomputed from the products)."""
    if not raw and not created and getattr(instance, "_parent_was", instance.parent_id) != instance.parent_id:
        fix_category_counts(category_count_drift())


def connect() -> None:
    from marketplace.signals import products_bulk_created as bulk_signal

    uid = "marketplace.sort_keys."
    pre_save.connect(product_before_save, sender=Product, dispatch_uid=uid + "product_before_save")
    post_save.connect(product_saved, sender=Product, dispatch_uid=uid + "product_saved")
    post_delete.connect(product_deleted, sender=Product, dispatch_uid=uid + "product_deleted")
    bulk_signal.connect(products_bulk_created, dispatch_uid=uid + "products_bulk_created")
    pre_save.connect(review_before_save, sender=ProductReview, dispatch_uid=uid + "review_before_save")
    post_save.connect(review_saved, sender=ProductReview, dispatch_uid=uid + "review_saved")
    post_delete.connect(review_deleted, sender=ProductReview, dispatch_uid=uid + "review_deleted")
    pre_save.connect(category_before_save, sender=Category, dispatch_uid=uid + "category_before_save")
    post_save.connect(category_saved, sender=Category, dispatch_uid=uid + "category_saved")


# --- recomputation from the sources (reconcile, seeding, migrations) --------------------


def category_counts_from_source() -> dict[int, int]:
    """``{category_id: active products in it and its descendants}`` for every category."""
    direct = Product.objects.filter(is_active=True).order_by().values("category_id").annotate(n=Count("id"))
    counts = Counter({c: 0 for c in Category.objects.values_list("id", flat=True)})
    for row in direct:
        for category_id, times in _ancestors([row["category_id"]]).items():
            counts[category_id] += times * row["n"]
    return dict(counts)


def category_count_drift() -> list[tuple[int, int, int]]:
    """``(category_id, stored, actual)`` for every category whose count is wrong."""
    actual = category_counts_from_source()
    stored = dict(Category.objects.values_list("id", "product_count"))
    return [(cid, stored[cid], n) for cid, n in sorted(actual.items()) if stored.get(cid) != n]


def fix_category_counts(drift: list[tuple[int, int, int]]) -> None:
    for category_id, _, actual in drift:
        Category.objects.filter(pk=category_id).update(product_count=actual)


def rating_drift(*, first_id: int = 0, last_id: int | None = None) -> list[tuple[int, str, object, object]]:
    """``(product_id, field, stored, actual)`` for rating keys that disagree with the reviews,
    over products ``first_id..last_id`` (all by default): one grouped query and one scan."""
    reviews = ProductReview.objects.filter(product_id__gte=first_id)
    products = Product.objects.filter(pk__gte=first_id)
    if last_id is not None:
        reviews, products = reviews.filter(product_id__lte=last_id), products.filter(pk__lte=last_id)
    truth = {
        row["product_id"]: (row["n"], row["s"])
        for row in reviews.order_by().values("product_id").annotate(n=Count("id"), s=Sum("rating"))
    }
    drift = []
    rows = products.order_by("pk").values_list("pk", "rating_count", "rating_sum", "rating_score")
    for pk, count, total, score in rows.iterator(chunk_size=5000):
        n, s = truth.get(pk, (0, 0))
        for field, stored, actual in (
            ("rating_count", count, n),
            ("rating_sum", total, s),
            ("rating_score", score, rating_score(s, n)),
        ):
            if stored != actual:
                drift.append((pk, field, stored, actual))
    return drift


def fix_ratings(drift: list[tuple[int, str, object, object]]) -> None:
    by_product: dict[int, dict] = {}
    for pk, field, _, actual in drift:
        by_product.setdefault(pk, {})[field] = actual
    for pk, values in sorted(by_product.items()):
        Product.objects.filter(pk=pk).update(**values)
