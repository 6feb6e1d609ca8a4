"""The ASGI application for websockets: ``/graphql/`` speaks graphql-transport-ws, nothing else does."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from django.urls import re_path

from graph.subscriptions.consumer import LiveConsumer


async def refuse(scope, receive, send) -> None:
    """Any other websocket path: the handshake is refused (HTTP 403), never an exception."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": 1008})


def websocket_application(schema):
    """The websocket ASGI app for ``schema`` (passed in by config.asgi: graph.schema imports
    this package's resolvers, so importing the schema here would be a cycle)."""
    return AuthMiddlewareStack(
        URLRouter(
            [
                re_path(r"^graphql/?$", LiveConsumer.as_asgi(schema=schema)),
                re_path(r"", refuse),
            ]
        )
    )
