"""Privacy (deleteAccount, exportData): the favorites of erased accounts that
``total_favorites`` keeps, and an index of a user's activity rows in id order (the
export pages along it, the erasure finds the rows). Built concurrently on PostgreSQL,
so the tracking drain keeps writing activity meanwhile."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from marketplace.migration_operations import AddIndexConcurrentlyWherePossible


class Migration(migrations.Migration):
    atomic = False
    dependencies = [
        ("marketplace", "0006_product_search"),
        ("tracking", "0007_trending_event_ids_bot_events"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ErasedFavorites",
            fields=[
                (
                    "product",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="marketplace.product",
                    ),
                ),
                ("count", models.BigIntegerField(default=0)),
            ],
            options={"verbose_name_plural": "erased favorites"},
        ),
        AddIndexConcurrentlyWherePossible(
            model_name="activityevent",
            index=models.Index(fields=["user", "id"], name="event_user_id"),
        ),
    ]
