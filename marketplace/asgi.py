"""ASGI entry point: ``uvicorn marketplace.asgi:application``."""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

try:
    from django.core.asgi import get_asgi_application

    application = get_asgi_application()
except ImproperlyConfigured as exc:
    print(f"Configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
