# Each server process's tracking statistics, shared through the database (trackingStatus).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('tracking', '0003_metrics_sort_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='ProcessStats',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('host', models.CharField(max_length=255)),
                ('pid', models.PositiveIntegerField()),
                ('started_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField(db_index=True)),
                ('enqueued', models.BigIntegerField(default=0)),
                ('processed', models.BigIntegerField(default=0)),
                ('dropped', models.BigIntegerField(default=0)),
                ('failed', models.BigIntegerField(default=0)),
                ('retried', models.BigIntegerField(default=0)),
                ('discarded', models.BigIntegerField(default=0)),
                ('batches', models.BigIntegerField(default=0)),
                ('rate_limited', models.BigIntegerField(default=0)),
                ('queue_depth', models.BigIntegerField(default=0)),
                ('oldest_pending_age', models.FloatField(default=0.0)),
                ('last_batch_duration', models.FloatField(default=0.0)),
                ('last_batch_size', models.BigIntegerField(default=0)),
                ('workers_alive', models.IntegerField(default=0)),
                ('unconfirmed', models.BigIntegerField(default=0)),
                ('resent', models.BigIntegerField(default=0)),
                ('released', models.BigIntegerField(default=0)),
            ],
            options={
                'verbose_name_plural': 'process stats',
                'constraints': [models.UniqueConstraint(fields=('host', 'pid'), name='process_stats_host_pid')],
            },
        ),
    ]
