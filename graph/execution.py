"""Per-field execution cost, the completing half: graphql-core completes values through
several calls per field and per list item, and strawberry wraps every resolver; on a
listing that was most of the execution time. ``lean_resolvers`` calls plain resolvers
directly and ``LeanExecutionContext`` completes leaf fields, and lists of objects made only
of them, in one step (how a leaf is read and serialised: ``graph.leaf_readers``). The
loading half (values in hand before a list completes) is ``graph.prefetch``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import GeneratorType
from typing import Any

from graphql import (
    GraphQLObjectType,
    GraphQLResolveInfo,
    Undefined,
    is_non_null_type,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graph.leaf_readers import MISS, Plan, Reader, Shape, field_plan, read_leaf, reader, typename_plan


def lean_resolvers(schema: Any) -> int:
    """Call plain resolvers directly: strawberry's generic wrapper converts arguments, runs
    field extensions and builds its ``Info`` for every field on every item, which is most
    of a field's cost when the resolver itself is one line. A resolver qualifies when it
    is synchronous and takes no GraphQL arguments, and its field has no extensions
    (permission classes are extensions) and the schema no exception handlers: then that
    wrapper does nothing but pass ``self``/``root`` and ``info``, which is what this does.
    Returns the number of fields changed (a test pins the listing's)."""
    from graphql import GraphQLObjectType
    from strawberry.types.field import StrawberryField

    if schema.exception_handlers:
        return 0
    info_class = schema.config.info_class
    changed = 0
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for graphql_field in graphql_type.fields.values():
            field = (graphql_field.extensions or {}).get("strawberry-definition")
            done = hasattr(graphql_field.resolve, "__wrapped__")  # called twice: once is enough
            if done or not isinstance(field, StrawberryField) or not _plain(field):
                continue
            direct = _direct(field, info_class)
            direct.__wrapped__ = graphql_field.resolve  # strawberry's, for comparison (the benchmark's)
            graphql_field.resolve = direct
            changed += 1
    return changed


def _plain(field: Any) -> bool:
    resolver = field.base_resolver
    return (
        resolver is not None
        and not resolver.is_async
        and not field.arguments
        and not field.extensions
        and not field.is_subscription
    )


def _direct(field: Any, info_class: type) -> Callable[..., Any]:
    resolver = field.base_resolver
    function = resolver.wrapped_func
    takes_self = resolver.self_parameter is not None
    source_parameter = resolver.root_parameter or resolver.parent_parameter
    source_name = source_parameter.name if source_parameter else None
    info_name = resolver.info_parameter.name if resolver.info_parameter else None

    if takes_self and source_name and info_name:

        def resolve(source: Any, info: GraphQLResolveInfo) -> Any:
            return function(source, **{source_name: source, info_name: info_class(_raw_info=info, _field=field)})

    elif takes_self and source_name:

        def resolve(source: Any, info: GraphQLResolveInfo | None = None) -> Any:
            return function(source, **{source_name: source})

        resolve._without_info = True  # LeanExecutionContext may call it with the source alone

    elif source_name and not info_name and not takes_self:

        def resolve(source: Any, info: GraphQLResolveInfo | None = None) -> Any:
            return function(**{source_name: source})

        resolve._without_info = True

    else:

        def resolve(source: Any, info: GraphQLResolveInfo) -> Any:
            kwargs = {}
            if source_name:
                kwargs[source_name] = source
            if info_name:
                kwargs[info_name] = info_class(_raw_info=info, _field=field)
            return function(source, **kwargs) if takes_self else function(**kwargs)

    return resolve


class LeanExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's execution, with shortcuts for the commonest fields of all: a scalar
    or enum read from the object in hand (a plain attribute, or a resolver that needs no
    ``info``). graphql-core builds a path and a resolve-info object, checks twice for an
    awaitable and completes through two levels of ``complete_value`` for each of them;
    here the value is read and serialised directly.

    - ``execute_fields``: an object's leaf fields are read in one loop, with no ``Path``
      and no ``execute_field`` call; its other fields take the full path.
    - ``complete_iterable_value``: a list of objects whose selected fields are all such
      leaves (a metrics series: 50 products x 14 buckets is 700 objects) is completed
      item by item in one loop, without the five calls per item that complete an object.

    Anything unusual on the way (a null where the type forbids it, a value the scalar
    refuses, an exception, an awaitable, ``@defer``/``@stream``, a type with
    ``is_type_of``) falls back to the full path for that field or item, which then
    reports it exactly as before: reading an attribute twice changes nothing. Middleware
    turns the shortcuts off (it must see every field)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._shortcuts = manager is None or not manager._middleware_resolvers  # noqa: SLF001
        # Per execution, like graphql-core's own memo of collected fields: the keys are
        # ids of objects that this execution keeps alive (they are in the values).
        self._field_sets: dict[tuple[int, int], tuple[Any, list[tuple[str, Any, Plan | None]]]] = {}
        self._list_shapes: dict[tuple[int, int], tuple[Any, Reader | None]] = {}
        # Serialised values of immutable objects met more than once (the 14 starts, and the
        # revenues, shared by every series of a page), by the ids of the plan and the value.
        self._serialised_values: dict[tuple[int, int], tuple[Any, Any]] = {}
        self._plain_types: set[type] = set()  # types of list items that are not awaitable

    # --- one leaf field ---------------------------------------------------------------

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        if self._shortcuts:
            field_def = parent_type.fields.get(field_details_list[0].node.name.value)
            plan = field_plan(field_def) if field_def is not None else None
            if plan is not None:
                value = read_leaf(plan, source)
                if value is not MISS:
                    return value
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    # --- an object's fields -----------------------------------------------------------

    def _field_set(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[tuple[str, Any, Plan | None]]:
        """(response name, field details, plan or None) for each field of a grouped field
        set, worked out once per execution."""
        key = (id(parent_type), id(grouped_field_set))
        cached = self._field_sets.get(key)
        if cached is None:
            rows = []
            for response_name, field_details_list in grouped_field_set.items():
                name = field_details_list[0].node.name.value
                if name == "__typename":
                    plan = typename_plan(parent_type.name)
                else:
                    field_def = parent_type.fields.get(name)
                    plan = field_plan(field_def) if field_def is not None else None
                rows.append((response_name, field_details_list, plan))
            cached = self._field_sets[key] = ((parent_type, grouped_field_set), rows)
        return cached[1]

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        if not self._shortcuts:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, plan in self._field_set(parent_type, grouped_field_set):
                if plan is not None:
                    value = read_leaf(plan, source_value)
                    if value is not MISS:
                        results[response_name] = value
                        continue
                result = super().execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:  # as graphql-core does: settle what other fields started
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                name = awaitable_fields[0]
                results[name] = await results[name]
            else:
                awaited = await gather_with_cancel(*(results[name] for name in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    # --- a list of leaf-only objects --------------------------------------------------

    def _list_reader(self, item_type: Any, field_details_list: Any) -> Reader | None:
        """The reader (``_reader``) of the item type's leaf fields as selected, when every
        selected field is a leaf the shortcut may take; else None."""
        key = (id(item_type), id(field_details_list))
        cached = self._list_shapes.get(key)
        if cached is None:
            shape = self._shape(item_type, field_details_list)
            cached = self._list_shapes[key] = ((item_type, field_details_list), shape and reader(shape))
        return cached[1]

    def _shape(self, item_type: Any, field_details_list: Any) -> Shape | None:
        object_type = item_type.of_type if is_non_null_type(item_type) else item_type
        if not isinstance(object_type, GraphQLObjectType) or object_type.is_type_of is not None:
            return None
        if any(details.node.directives for details in field_details_list):  # @stream
            return None
        grouped_field_set, new_defer_usages, _forbidden = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return None
        rows = self._field_set(object_type, grouped_field_set)
        if any(plan is None for _, _, plan in rows):
            return None
        return [(response_name, plan) for response_name, _, plan in rows]

    def _any_awaitable(self, items: list | tuple) -> bool:
        """graphql-core's ``is_awaitable`` per item, asked once per type of item: whether an
        object is awaitable depends on its type, except for a generator (a generator-based
        coroutine is awaitable), which is asked every time."""
        plain = self._plain_types
        for item in items:
            kind = type(item)
            if kind in plain:
                continue
            if self.is_awaitable(item):
                return True
            if kind is not GeneratorType:
                plain.add(kind)
        return False

    def complete_iterable_value(
        self,
        item_type: Any,
        field_details_list: Any,
        info: GraphQLResolveInfo,
        path: Any,
        items: Any,
        position_context: Any,
    ) -> Any:
        read = self._list_reader(item_type, field_details_list) if self._shortcuts else None
        if read is None or not isinstance(items, list | tuple) or self._any_awaitable(items):
            return super().complete_iterable_value(item_type, field_details_list, info, path, items, position_context)
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        memo = self._serialised_values
        for index, item in enumerate(items):
            row = read(item, memo) if item is not None else None
            if row is not None:
                completed.append(row)
            elif self.complete_list_item_value(
                item, completed, item_type, field_details_list, info, path.add_key(index, None), position_context
            ):
                awaitable_indices.append(index)
        if not awaitable_indices:
            return completed

        async def get_completed() -> list[Any]:
            awaited = await gather_with_cancel(*(completed[index] for index in awaitable_indices))
            for index, value in zip(awaitable_indices, awaited, strict=True):
                completed[index] = value
            return completed

        return get_completed()
