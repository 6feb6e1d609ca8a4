# Load the Celery app with Django, as Celery's Django guide does: without it a web process
# with TRACKING_BACKEND=celery would publish through Celery's default app (amqp://localhost),
# not the configured Redis, because nothing else imports config.celery there.
from config.celery import app as celery_app

__all__ = ("celery_app",)
