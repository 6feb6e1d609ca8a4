"""Checks on a request body's JSON, before GraphQL sees any of it.

Both kinds of input below used to reach the server's innards and fail there as 500s:
JSON nested thousands of levels deep (Python's ``json`` and graphql-core's coercion
recurse once per level, until ``RecursionError``), and strings holding a lone UTF-16
surrogate (``"a\\ud800"`` is valid JSON, yet no database, log or UTF-8 encoder can take
the string it decodes to). They are the client's mistake, so they are a 400 here.
"""

from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException

# Far deeper than any operation's variables go (a filter object, a list of IDs).
MAX_JSON_NESTING = 32


class BadRequestBody(HTTPException):
    """A body the API cannot take; the view answers 400 with ``BAD_USER_INPUT``."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, reason)


def loads(data: str | bytes) -> Any:
    """``json.loads`` that turns a body nested too deeply for Python's stack into a 400."""
    try:
        return json.loads(data)
    except RecursionError:
        raise BadRequestBody(
            f"The JSON body is nested too deeply; at most {MAX_JSON_NESTING} levels are allowed."
        ) from None


def check(value: Any) -> None:
    """Refuse nesting beyond ``MAX_JSON_NESTING`` and strings with lone surrogates."""
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if level > MAX_JSON_NESTING:
            raise BadRequestBody(f"The JSON body is nested more than {MAX_JSON_NESTING} levels deep.")
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    try:  # one pass in C: UTF-8 cannot encode a lone surrogate, in a key or a value
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestBody(
            "A string in the request holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape): "
            "send text as valid Unicode."
        ) from None
