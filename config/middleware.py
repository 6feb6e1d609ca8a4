"""Project middleware, each usable under WSGI and ASGI alike."""

from __future__ import annotations

import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse


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
