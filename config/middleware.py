"""Project middleware, each usable under WSGI and ASGI alike, and none of it hopping to a
thread under ASGI unless it has I/O to do."""

from __future__ import annotations

import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth_middleware
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.middleware import clickjacking, common, csrf, security


class DualModeMiddleware:
    """The sync/async plumbing Django asks of a middleware that supports both: a
    subclass implements ``process`` (and ``aprocess`` when it has async work), which
    returns a response to answer at once, or None to go on."""

    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self.process(request) or self.get_response(request)

    async def __acall__(self, request):
        return await self.aprocess(request) or await self.get_response(request)

    def process(self, request) -> HttpResponse | None:
        return None

    async def aprocess(self, request) -> HttpResponse | None:
        return self.process(request)


def json_error(message: str, code: str, status: int) -> HttpResponse:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return HttpResponse(json.dumps(body), status=status, content_type="application/json")


class RequestSizeLimitMiddleware(DualModeMiddleware):
    """Refuse request bodies above ``REQUEST_MAX_BYTES`` with 413, before reading them."""

    def process(self, request) -> HttpResponse | None:
        limit = settings.REQUEST_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            return _too_big(limit)
        if not length and "CONTENT_LENGTH" not in request.META and request.method in ("POST", "PUT", "PATCH"):
            # Chunked: the ASGI server has buffered the body, so its size is known now;
            # Django refuses it past DATA_UPLOAD_MAX_MEMORY_SIZE (= REQUEST_MAX_BYTES).
            try:
                request.body  # noqa: B018 - read (and cache) it here to size it
            except RequestDataTooBig:
                return _too_big(limit)
        return None


def _too_big(limit: int) -> HttpResponse:
    return json_error(f"Request body larger than {limit:,} bytes.", "PAYLOAD_TOO_LARGE", 413)


# --- Django's middleware, without the thread hops -------------------------------
#
# Under ASGI, Django runs each ``MiddlewareMixin`` hook through ``sync_to_async``: two
# hand-offs to a thread and back per middleware per request, about 0.4 ms each here.
# The hooks below do no I/O (they read headers and cookies, set headers, build lazy
# objects), so they run inline on the event loop. The one that can write (the session's
# save) still goes to a thread, and only when there is something to save.


class InlineHooks:
    """For a ``MiddlewareMixin`` subclass whose ``process_request``/``process_response``
    do no I/O: under ASGI, run them on the event loop instead of in a thread."""

    async def __acall__(self, request):
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class SiteOnly:
    """For middleware that serves the admin and HTML pages only: the API path skips it."""

    def __call__(self, request):
        if is_api(request):
            return self.get_response(request)  # a coroutine under ASGI: the caller awaits it
        return super().__call__(request)


# The GraphQL endpoint (``graph.urls``): JSON for API clients, and GraphiQL.
API_PATH_PREFIX = "/graphql/"


def is_api(request) -> bool:
    return request.path_info.startswith(API_PATH_PREFIX)


class SecurityMiddleware(InlineHooks, security.SecurityMiddleware):
    pass


class CommonMiddleware(InlineHooks, common.CommonMiddleware):
    pass


class AuthenticationMiddleware(InlineHooks, auth_middleware.AuthenticationMiddleware):
    """Sets a lazy ``request.user`` and ``request.auser``: nothing is loaded until asked
    (the GraphQL view awaits ``request.auser()``)."""


class SessionMiddleware(sessions.SessionMiddleware):
    """The session is lazy (loaded on first access, asynchronously by ``auser``); saving
    it writes to the database, so only a request that changed it goes to a thread."""

    async def __acall__(self, request):
        self.process_request(request)
        response = await self.get_response(request)
        session = getattr(request, "session", None)
        if session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST):
            return await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
        return self.process_response(request, response)


class CsrfViewMiddleware(InlineHooks, csrf.CsrfViewMiddleware):
    """Django's CSRF protection for the admin's forms. On ``/graphql/`` (exempt: the API
    applies its own policy per operation, ``graph.extensions.CsrfForMutations``) it only
    keeps the csrftoken cookie current, which GraphiQL and a session login rely on.
    ``process_view`` is a coroutine so that Django's async handler calls it inline."""

    async def process_view(self, request, callback, callback_args, callback_kwargs):
        return super().process_view(request, callback, callback_args, callback_kwargs)


class MessageMiddleware(SiteOnly, InlineHooks, messages.MessageMiddleware):
    """The admin's flash messages; the API has none."""


class XFrameOptionsMiddleware(InlineHooks, clickjacking.XFrameOptionsMiddleware):
    """One header assignment: kept on ``/graphql/`` too, as GraphiQL is a page that must
    not be framed."""
