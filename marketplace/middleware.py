"""Refuse request bodies above ``REQUEST_MAX_BYTES`` with 413, before reading them."""

from __future__ import annotations

import json

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpResponse


def _too_large(limit: int) -> HttpResponse:
    body = {
        "errors": [
            {"message": f"Request body larger than {limit:,} bytes.", "extensions": {"code": "PAYLOAD_TOO_LARGE"}}
        ]
    }
    return HttpResponse(json.dumps(body), status=413, content_type="application/json")


class RequestSizeLimitMiddleware:
    async_capable = True
    sync_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _refuse(self, request) -> HttpResponse | None:
        limit = settings.REQUEST_MAX_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        return _too_large(limit) if length > limit else None

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return self._refuse(request) or self.get_response(request)

    async def __acall__(self, request):
        return self._refuse(request) or await self.get_response(request)
