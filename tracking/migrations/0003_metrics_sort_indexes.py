"""MOST_VIEWED / BEST_SELLING read the metrics rows through an index in their sort
direction, id included, and through an INNER join: every product gets its row here
(batched, like ``create_missing_metrics``). Indexes are built and dropped concurrently
on PostgreSQL, so the tracking drain keeps writing meanwhile."""

import sys

from django.db import migrations, models

from marketplace.migration_operations import AddIndexConcurrentlyWherePossible, RemoveIndexConcurrentlyWherePossible


def create_missing_rows(apps, schema_editor):
    from tracking.backfill import backfill_missing_metrics

    def progress(batch):
        sys.stdout.write(f"\n  metrics rows: {batch}")

    backfill_missing_metrics(batch_size=50_000, on_batch=progress)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("tracking", "0002_applied_batches"), ("marketplace", "0004_catalogue_sort_keys")]

    operations = [
        migrations.RunPython(create_missing_rows, migrations.RunPython.noop, elidable=True),
        AddIndexConcurrentlyWherePossible(
            model_name="productmetrics",
            index=models.Index(fields=["-total_views", "-product"], name="metrics_views_desc"),
        ),
        AddIndexConcurrentlyWherePossible(
            model_name="productmetrics",
            index=models.Index(fields=["-total_sales", "-product"], name="metrics_sales_desc"),
        ),
        RemoveIndexConcurrentlyWherePossible(model_name="productmetrics", name="metrics_most_viewed"),
        RemoveIndexConcurrentlyWherePossible(model_name="productmetrics", name="metrics_best_selling"),
    ]
