"""The error every mutation payload lists: a failure the client can fix and show."""

from __future__ import annotations

import strawberry


@strawberry.type(description="A validation failure: which input, what is wrong, a stable code.")
class UserError:
    field: str | None
    message: str
    code: str
