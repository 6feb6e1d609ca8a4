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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from operator import attrgetter
from typing import Any, ClassVar

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
    InlineFragmentNode,
    SelectionSetNode,
    Undefined,
    is_leaf_type,
    is_non_null_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

Load = Callable[[Any, Any], Awaitable[Any]]
"""``(context, item) -> future``: what an item's field asks its loader for."""


def selected_names(info: Info | GraphQLResolveInfo, path: Sequence[str]) -> set[str]:
    """The field names selected ``path`` below the current field (``("edges", "node")`` for
    a connection's items), through fragments. A selection carrying a directive (``@skip``,
    ``@include``) is left out: prefetching a skipped field would cost a query the request
    did not ask for, and leaving one out only costs it the slower path."""
    raw = getattr(info, "_raw_info", info)
    fragments = raw.fragments
    selection_sets = [node.selection_set for node in raw.field_nodes if node.selection_set]
    for name in path:
        selection_sets = [
            field.selection_set
            for field in _fields(selection_sets, fragments)
            if field.name.value == name and field.selection_set
        ]
    return {field.name.value for field in _fields(selection_sets, fragments)}


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
    # One batch resolves all of its futures together: waiting on each in turn suspends once
    # per batch, where gather() would add a callback per future.
    for future in futures:
        if not future.done():
            try:
                await future
            except Exception:  # noqa: BLE001, S112  (the resolver that reads it raises it, located)
                continue


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
    """graphql-core's execution, with a shortcut for the commonest field of all: a scalar
    or enum read from the object in hand (a plain attribute, or a resolver that needs no
    ``info``). graphql-core builds a resolve-info object, checks twice for an awaitable
    and completes through two levels of ``complete_value`` for each of them; here the
    value is read and serialised directly. Anything unusual on the way (null, a value the
    scalar refuses, an exception, an awaitable) falls back to the full path, which then
    reports it exactly as before: reading an attribute twice changes nothing."""

    _plans: ClassVar[dict[int, tuple[Any, Any, Callable[[Any], Any], Callable[[Any], Any]] | None]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._shortcuts = manager is None or not manager._middleware_resolvers  # noqa: SLF001

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
            plan = self._plans.get(id(field_def), _UNPLANNED) if field_def is not None else None
            if plan is _UNPLANNED:
                plan = self._plans[id(field_def)] = _leaf_plan(field_def)
            if plan is not None:
                try:
                    value = plan[2](source)
                    if value is not None and not isinstance(value, Exception):
                        serialized = plan[3](value)
                        if serialized is not None and serialized is not Undefined:
                            return serialized
                except Exception:  # noqa: BLE001, S110  (the full path below reports it)
                    pass
        return super().execute_field(parent_type, source, field_details_list, path, position_context)


_UNPLANNED = object()


def _leaf_plan(field_def: GraphQLField) -> tuple[Any, Any, Callable[[Any], Any], Callable[[Any], Any]] | None:
    """(field, type, read, serialise) for a field the shortcut may take, else None. The
    field itself is kept in the plan so that its ``id`` is never reused by another."""
    leaf = field_def.type.of_type if is_non_null_type(field_def.type) else field_def.type
    if not is_leaf_type(leaf) or field_def.args:
        return None
    resolve = field_def.resolve
    field = (field_def.extensions or {}).get("strawberry-definition")
    if resolve is None or field is None:
        return None
    if getattr(resolve, "_is_default", False) and field.is_basic_field:
        read = attrgetter(field.python_name)  # StrawberryConfig.default_resolver is getattr
    elif getattr(resolve, "_without_info", False):
        read = resolve
    else:
        return None
    return (field_def, leaf, read, leaf.coerce_output_value)
