"""The Celery application (``celery -A config worker``), used when
``TRACKING_BACKEND=celery``. Tasks are discovered in the installed apps."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("marketplace")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
