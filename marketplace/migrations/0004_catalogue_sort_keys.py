"""Stored sort keys and counts (see marketplace.sort_keys), backfilled in batches.

Adding a column with a constant default is instant on PostgreSQL 11+. The backfill
reads the reviews one product-id range at a time (one grouped query, then one UPDATE
per distinct (count, sum) pair) and logs its progress; the category counts are one
grouped query over active products. The index follows in 0005, built concurrently.
"""

import sys

from django.db import migrations, models
from django.db.models import Count, Max, Sum

BATCH = 50_000


def backfill(apps, schema_editor):
    from marketplace.sort_keys import rating_score

    Product = apps.get_model("marketplace", "Product")
    Review = apps.get_model("marketplace", "ProductReview")
    Category = apps.get_model("marketplace", "Category")
    last = Product.objects.aggregate(m=Max("id"))["m"] or 0
    for start in range(0, last + 1, BATCH):
        reviews = Review.objects.filter(product_id__gte=start, product_id__lt=start + BATCH)
        by_pair: dict[tuple[int, int], list[int]] = {}
        for row in reviews.order_by().values("product_id").annotate(n=Count("id"), s=Sum("rating")):
            by_pair.setdefault((row["n"], row["s"]), []).append(row["product_id"])
        for (n, s), ids in by_pair.items():
            Product.objects.filter(pk__in=ids).update(rating_count=n, rating_sum=s, rating_score=rating_score(s, n))
        if last > BATCH:
            sys.stdout.write(f"\n  ratings: products up to id {min(start + BATCH, last):,} of {last:,}")
    parents = dict(Category.objects.values_list("id", "parent_id"))
    counts = dict.fromkeys(parents, 0)
    for row in Product.objects.filter(is_active=True).order_by().values("category_id").annotate(n=Count("id")):
        category_id, seen = row["category_id"], set()
        while category_id is not None and category_id not in seen:
            seen.add(category_id)
            counts[category_id] += row["n"]
            category_id = parents.get(category_id)
    for category_id, n in counts.items():
        Category.objects.filter(pk=category_id).update(product_count=n)


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0003_checkout_idempotency_verified_reviews")]

    operations = [
        migrations.AddField(
            model_name="category",
            name="product_count",
            field=models.IntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.AddField(
            model_name="product",
            name="rating_count",
            field=models.IntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.AddField(
            model_name="product",
            name="rating_sum",
            field=models.IntegerField(default=0, db_default=0, editable=False),
        ),
        migrations.AddField(
            model_name="product",
            name="rating_score",
            field=models.FloatField(default=3.0, db_default=3.0, editable=False),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
