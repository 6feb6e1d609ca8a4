"""Issue 17: the TRENDING score (forward decay, its index built concurrently on PostgreSQL
so the tracking drain keeps writing), client event ids counted once, crawler events in the
process statistics. Existing scores start at zero: ``manage.py rebase_trending --rebuild``
computes them from the activity rows."""

from django.db import migrations, models
from django.utils import timezone

from marketplace.migration_operations import AddIndexConcurrentlyWherePossible


def create_epoch(apps, schema_editor):
    apps.get_model("tracking", "TrendingEpoch").objects.get_or_create(
        id=1, defaults={"epoch": timezone.now()}
    )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('marketplace', '0006_product_search'),
        ('tracking', '0005_metrics_buckets'),
    ]

    operations = [
        migrations.CreateModel(
            name='TrackedEventId',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('key', models.CharField(max_length=32)),
                ('product_id', models.BigIntegerField()),
                ('created_at', models.DateTimeField(db_index=True)),
            ],
        ),
        migrations.CreateModel(
            name='TrendingEpoch',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('epoch', models.DateTimeField()),
            ],
        ),
        migrations.AddField(
            model_name='processstats',
            name='bot_events',
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name='productmetrics',
            name='trending_score',
            field=models.FloatField(db_default=0.0, default=0.0),
        ),
        migrations.RunPython(create_epoch, migrations.RunPython.noop, elidable=True),
        AddIndexConcurrentlyWherePossible(
            model_name='productmetrics',
            index=models.Index(fields=['-trending_score', '-product'], name='metrics_trending_desc'),
        ),
        migrations.AddConstraint(
            model_name='trackedeventid',
            constraint=models.UniqueConstraint(fields=('key', 'product_id'), name='tracked_event_id_key_product'),
        ),
    ]
