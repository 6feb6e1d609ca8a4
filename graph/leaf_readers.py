"""Reading a leaf field's output straight from the object in hand, without graphql-core's
completion: the part of ``graph.execution`` that knows which fields qualify and how their
values become output.

A field's *plan* says how to read it (a plain attribute, or a resolver that needs no
``info``) and how its scalar serialises it; ``read_leaf`` applies one plan, ``reader`` gives
a function compiled once per selection that reads every field of a list item. Anything
unusual (an exception, a null where the type forbids it, a value the scalar refuses) comes
back as ``MISS``, for graphql-core's own path to handle and report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from operator import attrgetter
from typing import Any

from graphql import GraphQLField, Undefined, is_leaf_type, is_non_null_type

_UNPLANNED = object()
MISS = object()
Plan = tuple[Any, Any, Callable[[Any], Any], Callable[[Any], Any] | None, bool, type | None]
"""(field, leaf type, read, serialise, nullable, as-is type); the field is kept in the plan so that
its ``id`` is never reused by another."""
Shape = list[tuple[str, Plan]]


def _typename(name: str) -> Callable[[Any], str]:
    return lambda _source: name


def read_leaf(plan: Plan, source: Any) -> Any:
    """The serialised value of a planned leaf field on ``source``, or ``MISS`` for the
    full path to handle (and report) it."""
    try:
        value = plan[2](source)
    except Exception:  # noqa: BLE001  (the full path reports it, located)
        return MISS
    kind = type(value)
    if kind is plan[5] and (kind is not int or _INT_MIN <= value <= _INT_MAX):
        return value  # what the scalar would return: the value itself
    return _serialised(plan, value)


def _serialised(plan: Plan, value: Any) -> Any:
    _field, _leaf, _read, serialize, nullable, _as_is = plan
    if value is None:
        return None if nullable else MISS
    if serialize is None:  # __typename
        return value
    if isinstance(value, Exception):
        return MISS
    try:
        serialized = serialize(value)
    except Exception:  # noqa: BLE001
        return MISS
    return MISS if serialized is None or serialized is Undefined else serialized


def _slow_value(plan: Plan, value: Any, memo: dict[tuple[int, int], tuple[Any, Any]]) -> Any:
    """A read value that is not its own output: serialised by its scalar, or ``MISS``. An
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
    if serialised is not MISS:
        memo[key] = (value, serialised)
    return serialised


Reader = Callable[[Any, dict], dict[str, Any] | None]
_readers: dict[tuple, Reader] = {}
_MOST_READERS = 1024


def reader(shape: Shape) -> Reader:
    """A function that reads all of a shape's fields from an object (``read_leaf`` unrolled for
    these fields: it runs for every item of a list, 700 of them for a page of series) and
    returns the response's dict, or None for the full path. Compiled once per shape: the
    plans are kept for the process (``field_plan``, ``typename_plan``), so their ids are too."""
    key = tuple((response_name, id(plan)) for response_name, plan in shape)
    found = _readers.get(key)
    if found is None:
        if len(_readers) >= _MOST_READERS:  # one per distinct selection: bounded, whatever clients send
            _readers.clear()
        found = _readers[key] = _compile_reader(shape)
    return found


def _compile_reader(shape: Shape) -> Reader:
    namespace: dict[str, Any] = {"MISS": MISS, "slow": _slow_value, "INT_MIN": _INT_MIN, "INT_MAX": _INT_MAX}
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
    exec(compile(source, f"<graph.leaf_readers reader {len(_readers)}>", "exec"), namespace)  # noqa: S102
    return namespace["read"]


# Immutable: the same object always serialises to the same output.
_MEMOISED = frozenset({datetime, date, time, Decimal})


# Scalars whose output is the value itself for an exact instance of a Python type (an
# Int within 32 bits); other values go through the scalar.
_AS_IS = {"String": str, "ID": str, "Boolean": bool, "Int": int}
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


def _leaf_plan(field_def: GraphQLField) -> Plan | None:
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


_plans: dict[int, Plan | None] = {}
_typename_plans: dict[str, Plan] = {}


def field_plan(field_def: GraphQLField) -> Plan | None:
    """The field's plan, worked out once for the process (the plan keeps ``field_def``
    alive, so its id is not reused), or None when the shortcut may not take it."""
    plan = _plans.get(id(field_def), _UNPLANNED)
    if plan is _UNPLANNED:
        plan = _plans[id(field_def)] = _leaf_plan(field_def)
    return plan


def typename_plan(type_name: str) -> Plan:
    """``__typename``'s plan on a type: one per type for the process, as for fields, since a
    compiled reader is found by its plans' ids."""
    plan = _typename_plans.get(type_name)
    if plan is None:
        plan = _typename_plans[type_name] = (None, None, _typename(type_name), None, False, str)
    return plan
