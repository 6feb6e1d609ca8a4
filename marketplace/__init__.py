"""Catalogue and commerce: the domain (models, services that write, selectors that read).

The Django project itself (settings, urls, the ASGI/WSGI entry points, the Celery app)
lives in ``config``."""
