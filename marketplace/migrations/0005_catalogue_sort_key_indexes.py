"""TOP_RATED's index, built concurrently on PostgreSQL (the table stays writable)."""

from django.db import migrations, models

from marketplace.migration_operations import AddIndexConcurrentlyWherePossible


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("marketplace", "0004_catalogue_sort_keys")]

    operations = [
        AddIndexConcurrentlyWherePossible(
            model_name="product",
            index=models.Index(fields=["is_active", "-rating_score", "-id"], name="product_active_top_rated"),
        ),
    ]
