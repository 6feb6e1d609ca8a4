"""Per-field execution cost: hand graphql-core values, not awaitables, wherever we can.

graphql-core completes a field whose resolver returns a plain value in the same call;
a field that returns an awaitable (a dataloader future, a coroutine) costs a coroutine,
a task when several are gathered, and event-loop callbacks, per field and per list item:
on a 50-item listing that was most of the execution time. So:

- ``prefetch`` loads what a page's items will ask their loaders for, once per list and
  before the list is completed (the same loads, so the same batches and SQL queries);
- the resolvers then use ``Loader.load_now``, which returns the value itself when the
  loader already holds it, and the future otherwise (a field nobody prefetched still
  works, it only costs its coroutine again).

The other half, completing those values cheaply, is ``graph.execution``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from graphql import FieldNode, FragmentSpreadNode, GraphQLResolveInfo, InlineFragmentNode, SelectionSetNode
from strawberry.types import Info

Load = Callable[[Any, Any], Awaitable[Any]]
"""``(context, item) -> future``: what an item's field asks its loader for."""


def selected_names(info: Info | GraphQLResolveInfo, path: Sequence[str]) -> set[str]:
    """The field names selected ``path`` below the current field (``("edges", "node")`` for
    a connection's items), through fragments. A selection carrying a directive (``@skip``,
    ``@include``) is left out: prefetching a skipped field would cost a query the request
    did not ask for, and leaving one out only costs it the slower path."""
    return {field.name.value for field in selected_fields(info, path)}


def selected_fields(info: Info | GraphQLResolveInfo, path: Sequence[str]) -> list[FieldNode]:
    """The field nodes selected ``path`` below the current field, as ``selected_names``."""
    raw = getattr(info, "_raw_info", info)
    fragments = raw.fragments
    selection_sets = [node.selection_set for node in raw.field_nodes if node.selection_set]
    for name in path:
        selection_sets = [
            field.selection_set
            for field in _fields(selection_sets, fragments)
            if field.name.value == name and field.selection_set
        ]
    return list(_fields(selection_sets, fragments))


def _fields(selection_sets: Iterable[SelectionSetNode], fragments: Mapping[str, Any]) -> Iterable[FieldNode]:
    for selection_set in selection_sets:
        for selection in selection_set.selections:
            if selection.directives:
                continue
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                yield from _fields([selection.selection_set], fragments)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    yield from _fields([fragment.selection_set], fragments)


async def prefetch(info: Info, items: Sequence[Any], loads: Mapping[str, Load], path: Sequence[str] = ()) -> None:
    """Start every selected field's load for every item, then wait for the batches.

    ``loads`` maps a GraphQL field name to the load its resolver makes. Failures are left
    in the loaders' futures: the field that reads one reports it as it would have."""
    if not items:
        return
    wanted = [load for name, load in loads.items() if name in selected_names(info, path)]
    if not wanted:
        return
    context = info.context
    futures = [load(context, item) for load in wanted for item in items]
    await settle(futures)


async def settle(futures: Iterable[Awaitable[Any]]) -> None:
    """Wait until every loader future is done. One batch resolves all of its futures
    together: waiting on each in turn suspends once per batch, where gather() would add a
    callback per future. Failures stay in the futures: the field that reads one reports
    it, located, as it would have."""
    for future in futures:
        if not future.done():
            try:
                await future
            except Exception:  # noqa: BLE001, S112
                continue
