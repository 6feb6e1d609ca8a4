"""One linear pass over a parsed document: fragment cycles, nesting, depth, aliases, cost,
expensive fields, and the shapes that make graphql-core's validation quadratic, for the
operation that would run.

Why not strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter``: both expand every
fragment spread anew along every path, so a document whose fragments each spread the
next one twice makes them walk 2^n paths (16 fragments: seconds of CPU on the event
loop). Here each fragment is summarised once, in dependency order, and a spread reads
the summary: the work is proportional to the document's size, whatever its shape.

Spreads of one fragment within one selection set count once, as execution merges them
(graphql-core collects a fragment once per selection set); spreads under different
fields count each time, as they run each time.

graphql-core's OverlappingFieldsCanBeMergedRule compares every pair of same-named fields
and every pair of fragments spread into one selection set: quadratic in both. The pass
records the largest of each (``crowd``, ``spreads``) so that they can be bounded before
that rule runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from graph.cost import COUNT_FIELDS, ITEM_FIELDS, OperationValues, price

# Sums saturate here: a document this costly is refused whatever the exact figure, and
# the arithmetic stays on small integers.
CEILING = 10**15


class TooNested(Exception):
    """Selection sets nested deeper than the caller allows (the walk recurses per level)."""


@dataclass
class Summary:
    """What a selection set holds, fragments included."""

    depth: int = 0  # levels of fields below the set (a leaf field is at level 0)
    aliases: int = 0
    cost: int = 0
    item_cost: int = 0  # the part under a connection's ``edges``/``nodes``: it runs once per item
    expensive: int = 0
    expensive_fields: list[str] = field(default_factory=list)  # the first few, for the message

    def add(self, other: Summary) -> None:
        self.depth = max(self.depth, other.depth)
        self.aliases = min(CEILING, self.aliases + other.aliases)
        self.cost = min(CEILING, self.cost + other.cost)
        self.item_cost = min(CEILING, self.item_cost + other.item_cost)
        if other.expensive:
            self.expensive = min(CEILING, self.expensive + other.expensive)
            self.expensive_fields.extend(other.expensive_fields[: 5 - len(self.expensive_fields)])


@dataclass
class Shape:
    """The findings for one document. ``cycle`` names a fragment that spreads itself;
    ``crowd`` is the most fields sharing one response name in a selection set, ``spreads``
    the most fragments spread into one, ``nesting`` the deepest selection set."""

    fragments: int = 0
    cycle: str | None = None
    nesting: int = 0
    too_nested: bool = False
    crowd: int = 0
    spreads: int = 0
    operation: str = "anonymous"
    summary: Summary = field(default_factory=Summary)

    @property
    def depth(self) -> int:
        return self.summary.depth

    @property
    def aliases(self) -> int:
        return self.summary.aliases

    @property
    def cost(self) -> int:
        return self.summary.cost + self.summary.item_cost

    @property
    def expensive(self) -> int:
        return self.summary.expensive


def _spreads(selection_set: SelectionSetNode | None) -> set[str]:
    """Names of the fragments spread anywhere inside ``selection_set`` (iteratively)."""
    names: set[str] = set()
    stack = [selection_set] if selection_set else []
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.add(selection.name.value)
            elif selection.selection_set is not None:
                stack.append(selection.selection_set)
    return names


def fragment_order(fragments: dict[str, FragmentDefinitionNode]) -> tuple[list[str], str | None]:
    """Fragments in dependency order (each after those it spreads), or the name of one
    on a cycle. An iterative depth-first search: a chain of a thousand fragments must not
    exhaust Python's stack."""
    edges = {name: sorted(_spreads(f.selection_set) & fragments.keys()) for name, f in fragments.items()}
    done: set[str] = set()
    on_path: set[str] = set()
    order: list[str] = []
    for root in fragments:
        if root in done:
            continue
        stack = [(root, iter(edges[root]))]
        on_path.add(root)
        while stack:
            name, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(name)
                done.add(name)
                order.append(name)
            elif child in on_path:
                return order, child
            elif child not in done:
                on_path.add(child)
                stack.append((child, iter(edges[child])))
    return order, None


class _Summariser:
    def __init__(self, values: OperationValues, shape: Shape, max_nesting: int) -> None:
        self.values = values
        self.shape = shape
        self.max_nesting = max_nesting
        self.memo: dict[str, Summary] = {}

    def selection_set(self, selection_set: SelectionSetNode | None, level: int) -> Summary:
        if level > self.shape.nesting:
            self.shape.nesting = level
            if level > self.max_nesting:
                raise TooNested
        total = Summary()
        names: dict[str, int] = {}
        seen: set[str] = set()
        self._walk(selection_set, level, total, names, seen)
        if names:
            self.shape.crowd = max(self.shape.crowd, max(names.values()))
        self.shape.spreads = max(self.shape.spreads, len(seen))
        return total

    def _walk(self, selection_set: SelectionSetNode, level: int, total: Summary, names: dict, seen: set) -> None:
        """Add the selections of ``selection_set`` (and of the inline fragments in it,
        which merge into the same set) to ``total``."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                names[key] = names.get(key, 0) + 1
                if selection.selection_set is None and selection.name.value not in COUNT_FIELDS:
                    total.cost += 1  # a plain leaf: the common case, kept cheap
                    total.aliases += selection.alias is not None
                else:
                    total.add(self.field(selection, level))
            elif isinstance(selection, InlineFragmentNode):
                if level + 1 > self.max_nesting:  # each one is a level of the parser's recursion
                    raise TooNested
                self._walk(selection.selection_set, level + 1, total, names, seen)
            elif selection.name.value not in seen:
                seen.add(selection.name.value)
                total.add(self.memo.get(selection.name.value) or Summary())  # unknown ones: validation refuses them

    def field(self, node: FieldNode, level: int) -> Summary:
        inner = self.selection_set(node.selection_set, level + 1) if node.selection_set else Summary()
        priced = price(node, self.values)
        if priced.per_item_only:  # a connection: its totalCount and pageInfo run once
            cost = priced.own + inner.cost + priced.multiplier * inner.item_cost
        else:
            cost = priced.own + priced.multiplier * (inner.cost + inner.item_cost)
        summary = Summary(
            depth=0 if node.selection_set is None or node.name.value.startswith("__") else 1 + inner.depth,
            aliases=(node.alias is not None) + inner.aliases,
            expensive=(1 if priced.expensive else 0) + inner.expensive,
            expensive_fields=[priced.expensive] if priced.expensive else [],
        )
        summary.expensive_fields.extend(inner.expensive_fields[: 5 - len(summary.expensive_fields)])
        if node.name.value in ITEM_FIELDS:
            summary.item_cost = min(CEILING, cost)
        else:
            summary.cost = min(CEILING, cost)
        return summary


def _operations(document: DocumentNode, name: str | None) -> list[OperationDefinitionNode]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        return [o for o in operations if o.name and o.name.value == name]
    return operations


def analyse(
    document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None, *, max_nesting: int = 64
) -> Shape:
    """Analyse the operation that would run. A document without one (no operation of
    that name, or several and no name) gets an empty summary: execution refuses it.

    The walk stops at the first selection set nested deeper than ``max_nesting``
    (``too_nested``), before its recursion could reach Python's limit."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    shape = Shape(fragments=len(fragments))
    order, shape.cycle = fragment_order(fragments)
    operations = _operations(document, operation_name)
    if shape.cycle or len(operations) != 1:
        return shape
    (operation,) = operations
    defaults = {v.variable.name.value: v.default_value for v in operation.variable_definitions or () if v.default_value}
    summariser = _Summariser(OperationValues(variables, defaults), shape, max_nesting)
    try:
        for name in order:  # dependencies first: a spread reads a finished summary
            summariser.memo[name] = summariser.selection_set(fragments[name].selection_set, 1)
        shape.operation = operation.name.value if operation.name else "anonymous"
        shape.summary = summariser.selection_set(operation.selection_set, 1)
    except TooNested:
        shape.too_nested = True
    return shape


def operation_cost(document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None) -> int:
    """The cost of the operation that would run, with its variables and their defaults."""
    return analyse(document, operation_name, variables).cost
