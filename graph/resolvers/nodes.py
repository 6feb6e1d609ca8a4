"""``node(id:)`` and ``nodes(ids:)``: a global ID's type name picks the loader, so a list
of IDs costs one query per type however many IDs it holds.

What answers ``null``: an ID of an object that does not exist, or that the viewer may not
see (a deactivated product, an inactive seller, someone else's order), as ``product(id:)``
does. What is BAD_USER_INPUT: text that is no global ID, or the ID of a type that is not a
``Node`` (this API never issues such an ID for a Node, so it is a client's mistake).
"""

from __future__ import annotations

import asyncio
from typing import Any

from strawberry.relay import from_base64
from strawberry.types import Info

from graph.errors import BadUserInput
from graph.ids import decode_id
from graph.loaders import CategoryByIdLoader
from graph.loaders.nodes import OrderByIdLoader, ProductByIdLoader, ReviewByIdLoader, SellerByIdLoader
from graph.permissions import current_user

MAX_NODES = 100

NODE_LOADERS = {
    "Product": ProductByIdLoader,
    "Category": CategoryByIdLoader,
    "Seller": SellerByIdLoader,
    "Review": ReviewByIdLoader,
    "Order": OrderByIdLoader,
}


def _parse(value: str, field: str) -> tuple[str, int]:
    try:
        type_name, _ = from_base64(value)
    except Exception:
        raise BadUserInput(f"{field}: {str(value)[:40]!r} is not a valid ID.", field=field) from None
    if type_name not in NODE_LOADERS:
        raise BadUserInput(f"{field}: a {type_name[:40]} ID does not name a Node.", field=field)
    return type_name, decode_id(value, type_name, field=field)


def _visible(info: Info, type_name: str, obj: Any) -> Any:
    if obj is None or type_name != "Order":
        return obj
    user = current_user(info)
    return obj if user is not None and (user.is_staff or obj.user_id == user.pk) else None


async def _load(info: Info, type_name: str, pk: int) -> Any:
    return _visible(info, type_name, await NODE_LOADERS[type_name](info.context).load(pk))


async def node(info: Info, *, id: str) -> Any:  # noqa: A002
    return await _load(info, *_parse(id, "id"))


async def nodes(info: Info, *, ids: list[str]) -> list[Any]:
    if len(ids) > MAX_NODES:
        raise BadUserInput(f"ids: at most {MAX_NODES} IDs, got {len(ids)}.", field="ids")
    parsed = [_parse(value, f"ids[{i}]") for i, value in enumerate(ids)]
    return list(await asyncio.gather(*(_load(info, type_name, pk) for type_name, pk in parsed)))
