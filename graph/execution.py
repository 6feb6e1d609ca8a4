"""Per-field execution cost, the completing half: graphql-core completes values through
several calls per field and per list item, and strawberry wraps every resolver; on a
listing that was most of the execution time. ``lean_resolvers`` calls plain resolvers
directly and ``LeanExecutionContext`` completes leaf fields, and lists of objects made only
of them, in one step. The loading half (values in hand before a list completes) is
``graph.prefetch``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from operator import attrgetter
from types import GeneratorType
from typing import Any, ClassVar

from graphql import (
    GraphQLField,
    GraphQLObjectType,
    GraphQLResolveInfo,
    Undefined,
    is_leaf_type,
    is_non_null_type,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


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

    _plans: ClassVar[dict[int, _Plan | None]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        self._shortcuts = manager is None or not manager._middleware_resolvers  # noqa: SLF001
        # Per execution, like graphql-core's own memo of collected fields: the keys are
        # ids of objects that this execution keeps alive (they are in the values).
        self._field_sets: dict[tuple[int, int], tuple[Any, list[tuple[str, Any, _Plan | None]]]] = {}
        self._list_shapes: dict[tuple[int, int], tuple[Any, _Reader | None]] = {}
        # Serialised values of immutable objects met more than once (the 14 starts, and the
        # revenues, shared by every series of a page), by the ids of the plan and the value.
        self._serialised_values: dict[tuple[int, int], tuple[Any, Any]] = {}
        self._plain_types: set[type] = set()  # types of list items that are not awaitable

    # --- one leaf field ---------------------------------------------------------------

    _typename_plans: ClassVar[dict[str, _Plan]] = {}

    @classmethod
    def _typename_plan(cls, type_name: str) -> _Plan:
        """One plan per type for the process, as for fields: a compiled reader (``_reader``)
        is found by its plans' ids."""
        plan = cls._typename_plans.get(type_name)
        if plan is None:
            plan = cls._typename_plans[type_name] = (None, None, _typename(type_name), None, False, str)
        return plan

    @classmethod
    def _plan(cls, field_def: GraphQLField) -> _Plan | None:
        plan = cls._plans.get(id(field_def), _UNPLANNED)
        if plan is _UNPLANNED:
            plan = cls._plans[id(field_def)] = _leaf_plan(field_def)
        return plan

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
            plan = self._plan(field_def) if field_def is not None else None
            if plan is not None:
                value = _read(plan, source)
                if value is not _MISS:
                    return value
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    # --- an object's fields -----------------------------------------------------------

    def _field_set(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> list[tuple[str, Any, _Plan | None]]:
        """(response name, field details, plan or None) for each field of a grouped field
        set, worked out once per execution."""
        key = (id(parent_type), id(grouped_field_set))
        cached = self._field_sets.get(key)
        if cached is None:
            rows = []
            for response_name, field_details_list in grouped_field_set.items():
                name = field_details_list[0].node.name.value
                if name == "__typename":
                    plan = self._typename_plan(parent_type.name)
                else:
                    field_def = parent_type.fields.get(name)
                    plan = self._plan(field_def) if field_def is not None else None
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
                    value = _read(plan, source_value)
                    if value is not _MISS:
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

    def _list_reader(self, item_type: Any, field_details_list: Any) -> _Reader | None:
        """The reader (``_reader``) of the item type's leaf fields as selected, when every
        selected field is a leaf the shortcut may take; else None."""
        key = (id(item_type), id(field_details_list))
        cached = self._list_shapes.get(key)
        if cached is None:
            shape = self._shape(item_type, field_details_list)
            cached = self._list_shapes[key] = ((item_type, field_details_list), shape and _reader(shape))
        return cached[1]

    def _shape(self, item_type: Any, field_details_list: Any) -> _Shape | None:
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


_UNPLANNED = object()
_MISS = object()
_Plan = tuple[Any, Any, Callable[[Any], Any], Callable[[Any], Any] | None, bool, type | None]
"""(field, leaf type, read, serialise, nullable, as-is type); the field is kept in the plan so that
its ``id`` is never reused by another."""
_Shape = list[tuple[str, _Plan]]


def _typename(name: str) -> Callable[[Any], str]:
    return lambda _source: name


def _read(plan: _Plan, source: Any) -> Any:
    """The serialised value of a planned leaf field on ``source``, or ``_MISS`` for the
    full path to handle (and report) it."""
    try:
        value = plan[2](source)
    except Exception:  # noqa: BLE001  (the full path reports it, located)
        return _MISS
    kind = type(value)
    if kind is plan[5] and (kind is not int or _INT_MIN <= value <= _INT_MAX):
        return value  # what the scalar would return: the value itself
    return _serialised(plan, value)


def _serialised(plan: _Plan, value: Any) -> Any:
    _field, _leaf, _read, serialize, nullable, _as_is = plan
    if value is None:
        return None if nullable else _MISS
    if serialize is None:  # __typename
        return value
    if isinstance(value, Exception):
        return _MISS
    try:
        serialized = serialize(value)
    except Exception:  # noqa: BLE001
        return _MISS
    return _MISS if serialized is None or serialized is Undefined else serialized


def _slow_value(plan: _Plan, value: Any, memo: dict[tuple[int, int], tuple[Any, Any]]) -> Any:
    """A read value that is not its own output: serialised by its scalar, or ``_MISS``. An
    immutable value (``_MEMOISED``) that this execution has serialised before, the same
    object for the same field, is not serialised again: ``memo`` keeps each such value
    alive, so its id is not reused."""
    if type(value) not in _MEMOISED:
        return _serialised(plan, value)
    key = (id(plan), id(value))
    known = memo.get(key)
    if known is not None and known[0] is value:
        return known[1]
    serialised = _serialised(plan, value)
    if serialised is not _MISS:
        memo[key] = (value, serialised)
    return serialised


_Reader = Callable[[Any, dict], dict[str, Any] | None]
_readers: dict[tuple, _Reader] = {}
_MOST_READERS = 1024


def _reader(shape: _Shape) -> _Reader:
    """A function that reads all of a shape's fields from an object (``_read`` unrolled for
    these fields: it runs for every item of a list, 700 of them for a page of series) and
    returns the response's dict, or None for the full path. Compiled once per shape: the
    plans are kept for the process (``LeanExecutionContext._plans``), so their ids are too."""
    key = tuple((response_name, id(plan)) for response_name, plan in shape)
    reader = _readers.get(key)
    if reader is None:
        if len(_readers) >= _MOST_READERS:  # one per distinct selection: bounded, whatever clients send
            _readers.clear()
        reader = _readers[key] = _compile_reader(shape)
    return reader


def _compile_reader(shape: _Shape) -> _Reader:
    namespace: dict[str, Any] = {"MISS": _MISS, "slow": _slow_value, "INT_MIN": _INT_MIN, "INT_MAX": _INT_MAX}
    reads, checks, items = [], [], []
    for i, (response_name, plan) in enumerate(shape):
        namespace[f"read{i}"], namespace[f"plan{i}"], namespace[f"type{i}"] = plan[2], plan, plan[5]
        reads.append(f"        v{i} = read{i}(source)")
        namespace[f"key{i}"] = id(plan)
        if plan[5] is int:  # an Int is itself within 32 bits; a bool is not an int here
            condition = f"type(v{i}) is not int or not INT_MIN <= v{i} <= INT_MAX"
        elif plan[5] is None:  # always through its scalar
            condition = "True"
        else:
            condition = f"type(v{i}) is not type{i}"
        if plan[4]:  # nullable: a None is its own output
            condition = f"v{i} is not None and ({condition})"
        checks += [
            f"    if {condition}:",
            f"        known = memo.get((key{i}, id(v{i})))",  # _slow_value's memo, inlined
            f"        if known is not None and known[0] is v{i}:",
            f"            v{i} = known[1]",
            "        else:",
            f"            v{i} = slow(plan{i}, v{i}, memo)",
            f"            if v{i} is MISS:",
            "                return None",
        ]
        items.append(f"{response_name!r}: v{i}")
    source = "\n".join(
        [
            "def read(source, memo):",
            "    try:",
            *reads,
            "    except Exception:",  # the full path reports it, located
            "        return None",
            *checks,
            "    return {" + ", ".join(items) + "}",
        ]
    )
    exec(compile(source, f"<graph.execution reader {len(_readers)}>", "exec"), namespace)  # noqa: S102
    return namespace["read"]


# Immutable: the same object always serialises to the same output.
_MEMOISED = frozenset({datetime, date, time, Decimal})


# Scalars whose output is the value itself for an exact instance of a Python type (an
# Int within 32 bits); other values go through the scalar.
_AS_IS = {"String": str, "ID": str, "Boolean": bool, "Int": int}
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _leaf_plan(field_def: GraphQLField) -> _Plan | None:
    """The plan of a field the shortcut may take, else None."""
    nullable = not is_non_null_type(field_def.type)
    leaf = field_def.type if nullable else field_def.type.of_type
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
    return (field_def, leaf, read, leaf.coerce_output_value, nullable, _AS_IS.get(leaf.name))
