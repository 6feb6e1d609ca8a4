"""What every type shares: global ID fields and page info."""

from __future__ import annotations

from typing import Any

import strawberry

from graph.ids import global_id
from graph.pagination import PageInfo

__all__ = ["PageInfo", "global_id_field"]


def global_id_field(type_name: str) -> Any:
    """The ``id: ID!`` field of a model's type: ``Type:pk`` in base64, the Relay convention."""

    def resolve(root: strawberry.Parent[Any]) -> strawberry.ID:
        return strawberry.ID(global_id(type_name, root.pk))

    return strawberry.field(resolver=resolve)
