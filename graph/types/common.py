"""Types shared by every connection."""

from __future__ import annotations

import strawberry


@strawberry.type(description="Where a page ends and whether another follows (Relay cursor connections).")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None
    has_previous_page: bool = strawberry.field(
        default=False, description="Always false: pages only go forward (use `after`)."
    )
    start_cursor: str | None = None
