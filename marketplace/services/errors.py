"""The one exception services raise for a request that cannot be honoured."""

from __future__ import annotations


class ServiceError(Exception):
    """A validation failure the caller can show: ``field``, ``message``, ``code``."""

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code
