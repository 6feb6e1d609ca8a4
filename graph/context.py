"""The per-request context: the request, the response, and this request's dataloaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse


@dataclass
class Context:
    request: HttpRequest
    response: HttpResponse
    # Filled lazily by ``graph.loaders.base.Loader``: one instance per loader class per
    # request, so caches never leak between requests (or event loops).
    dataloaders: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self):
        return self.request.user

    # strawberry's Django integration lets resolvers use ``info.context["request"]``.
    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return getattr(self, key, default)
