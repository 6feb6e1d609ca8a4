"""The websocket side of ``/graphql/``: strawberry's Channels consumer, with this API's rules.

- Protocol: ``graphql-transport-ws`` only (the one graphql-ws, GraphiQL and Apollo speak
  today); an unknown subprotocol is closed with 4406 by strawberry.
- Authentication, once per socket: a bearer token in the ``connection_init`` payload
  (``{"authorization": "Bearer mp_..."}``, or ``{"token": "mp_..."}``) or the session
  cookie. A token that is invalid or revoked closes the socket with 4403 (never a silent
  downgrade to anonymous, as over HTTP). The cookie counts only without an ``Origin``
  header or from this site's origin (or a ``CSRF_TRUSTED_ORIGINS`` one): a page on
  another site must not follow a logged-in seller's revenue with the visitor's cookie.
- Only subscriptions run over the socket: queries and mutations belong on HTTP, where
  CSRF, rate limits and request-level middleware apply.
- Bounds: ``SUBSCRIPTIONS_PER_CONNECTION`` operations per socket (strawberry answers an
  ``error`` message beyond it); ``WEBSOCKET_CONNECTIONS_PER_VISITOR`` sockets per visitor
  (user, else client address) in this process, closed with 4429 beyond it; a socket that
  sends no ``connection_init`` within ``WEBSOCKET_INIT_TIMEOUT`` is closed with 4408.
  Idle sockets: uvicorn pings every 20 s and closes a socket whose pong does not come
  within 20 s (``--ws-ping-interval`` / ``--ws-ping-timeout``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from graphql import OperationType, get_operation_ast, parse
from graphql.error import GraphQLError, GraphQLSyntaxError
from strawberry.channels import GraphQLWSConsumer
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler

from graph.context import Context
from marketplace.services.accounts import user_for_token

CLOSE_TOO_MANY_CONNECTIONS = 4429

_open_per_visitor: Counter[str] = Counter()  # this process's sockets, per visitor


@dataclass
class LiveContext(Context):
    """The socket's context: shared by its subscriptions, with ``connection_init``'s payload."""

    connection_params: dict[str, Any] = field(default_factory=dict)


class SubscriptionsOnlyHandler(BaseGraphQLTransportWSHandler):
    async def handle_subscribe(self, message) -> None:
        payload = message.get("payload")
        if self.connection_acknowledged and isinstance(payload, dict) and isinstance(payload.get("query"), str):
            try:
                refusal = _not_a_subscription(payload["query"], payload.get("operationName"))
            except GraphQLSyntaxError as exc:
                # The protocol's answer to a document that does not parse. Closed here because the
                # schema's ParserCache parses in its hook, where strawberry's stream cannot catch it.
                await self.websocket.close(code=4400, reason=exc.message[:120])
                return
            if refusal is not None and message.get("id") not in self.operations:
                error = GraphQLError(refusal, extensions={"code": "BAD_USER_INPUT"})
                await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
                return
        await super().handle_subscribe(message)


def _not_a_subscription(query: str, operation_name: str | None) -> str | None:
    operation = get_operation_ast(parse(query, max_tokens=settings.GRAPHQL_MAX_TOKENS), operation_name)
    if operation is None or operation.operation == OperationType.SUBSCRIPTION:
        return None
    return f"Only subscriptions run over the websocket: send this {operation.operation.value} as an HTTP POST."


class LiveConsumer(GraphQLWSConsumer):
    graphql_transport_ws_handler_class = SubscriptionsOnlyHandler
    channel_layer_alias = "no-per-socket-channel"  # graph.subscriptions.hub listens once per process

    def __init__(self, schema) -> None:
        super().__init__(
            schema,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=dt.timedelta(seconds=settings.WEBSOCKET_INIT_TIMEOUT),
            max_subscriptions_per_connection=settings.SUBSCRIPTIONS_PER_CONNECTION,
        )
        self.visitor: str | None = None

    async def connect(self) -> None:
        visitor = _visitor(self.scope)
        if _open_per_visitor[visitor] >= settings.WEBSOCKET_CONNECTIONS_PER_VISITOR:
            await self.accept(subprotocol=await self.pick_websocket_subprotocol(self))
            await self.close(code=CLOSE_TOO_MANY_CONNECTIONS, reason="Too many connections")
            return
        self.visitor = visitor
        _open_per_visitor[visitor] += 1
        await super().connect()

    async def disconnect(self, code: int) -> None:
        if self.visitor is None:
            return
        _open_per_visitor[self.visitor] -= 1
        if _open_per_visitor[self.visitor] <= 0:
            del _open_per_visitor[self.visitor]
        self.visitor = None
        await super().disconnect(code)

    async def get_context(self, request, response) -> LiveContext:
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and _same_site(self.scope):
            return LiveContext(request=request, response=response, user=user, auth_method="session")
        from django.contrib.auth.models import AnonymousUser

        return LiveContext(request=request, response=response, user=AnonymousUser(), auth_method=None)

    async def on_ws_connect(self, context: LiveContext):
        secret = _token_in(context.connection_params)
        if secret is None:
            return None
        user = await sync_to_async(user_for_token)(secret)
        if user is None:
            raise ConnectionRejectionError({"message": "Invalid or revoked API token."})
        context.user = user
        context.auth_method = "token"
        return None


def _token_in(params: dict) -> str | None:
    for key in ("authorization", "Authorization"):
        value = params.get(key)
        if isinstance(value, str):
            scheme, _, secret = value.partition(" ")
            return secret.strip() if scheme.lower() == "bearer" else value.strip()
    value = params.get("token")
    return value.strip() if isinstance(value, str) else None


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin1")
    return None


def _same_site(scope) -> bool:
    origin = _header(scope, b"origin")
    if origin is None:
        return True  # not a browser: nothing can attach the cookie behind the user's back
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    return urlsplit(origin).netloc == (_header(scope, b"host") or "")


def _visitor(scope) -> str:
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    client = scope.get("client") or ("unknown", 0)
    return f"address:{client[0]}"
