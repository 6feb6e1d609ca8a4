"""The per-request context: the request, the response, the user, and this request's dataloaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse


@dataclass
class Context:
    request: HttpRequest
    response: HttpResponse
    user: Any = None  # resolved once per request by the view (AnonymousUser when nobody)
    auth_method: str | None = None  # "session", "token" or None
    csrf_ok: bool = True  # False: a session-authenticated POST without a valid CSRF token
    # Filled lazily by ``graph.loaders.base.Loader``: one instance per loader class per
    # request, so caches never leak between requests (or event loops).
    dataloaders: dict[str, Any] = field(default_factory=dict)
    # What a resolver works out from the document once per request rather than once per
    # list item (``graph.resolvers.history``: the bucket columns a selection reads).
    memo: dict[Any, Any] = field(default_factory=dict)

    # strawberry's Django integration lets resolvers use ``info.context["request"]``.
    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)
