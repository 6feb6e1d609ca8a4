"""ASGI entry point: ``uvicorn config.asgi:application``.

Django's ASGI handler speaks HTTP only; this wrapper also answers the ASGI
lifespan protocol, so that a server's graceful stop (SIGTERM to uvicorn or
gunicorn) sends ``server_shutdown`` after the last request finished: the tracking
executor drains its queue there. (uvicorn re-raises SIGTERM once it has shut
down, which kills the process without running ``atexit`` handlers.)

Websockets on ``/graphql/`` are GraphQL subscriptions (live metrics, graph.subscriptions).
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.exceptions import ImproperlyConfigured  # noqa: E402

try:
    from django.core.asgi import get_asgi_application

    django_application = get_asgi_application()
except ImproperlyConfigured as exc:
    print(f"Configuration error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None

from asgiref.sync import sync_to_async  # noqa: E402

from graph.schema import schema  # noqa: E402  (needs Django set up)
from graph.subscriptions.routing import websocket_application  # noqa: E402
from graph.subscriptions.stopping import drain_before_close  # noqa: E402
from marketplace.signals import server_shutdown, server_started  # noqa: E402

websockets = websocket_application(schema)

from django.conf import settings  # noqa: E402

from config.garbage import tune_garbage_collector  # noqa: E402

tune_garbage_collector(settings.GC_GEN0_THRESHOLD)  # last: after everything start-up builds


async def application(scope, receive, send):
    if scope["type"] == "websocket":
        return await websockets(scope, receive, send)
    if scope["type"] != "lifespan":
        return await django_application(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await sync_to_async(server_started.send, thread_sensitive=False)(sender="asgi")
            drain_before_close()  # websockets close after the tracking drain (graph.subscriptions.stopping)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await sync_to_async(server_shutdown.send, thread_sensitive=False)(sender="asgi")
            finally:
                await send({"type": "lifespan.shutdown.complete"})
            return
