"""One linear pass over a parsed document: its nesting, fragment cycles, depth, aliases,
cost and expensive fields, for the operation that would run.

Why not strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter``: both expand every
fragment spread anew along every path, so a document whose fragments each spread the
next one twice makes them walk 2^n paths (16 fragments: seconds of CPU on the event
loop). Here each fragment is summarised once, in dependency order, and a spread reads
the summary: the work is proportional to the document's size, whatever its shape.

Spreads of one fragment within one selection set count once, as execution merges them
(graphql-core collects a fragment once per selection set); spreads under different
fields count each time, as they run each time.
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
    ListValueNode,
    Node,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from graph.cost import ITEM_FIELDS, OperationValues, price

# Sums saturate here: a document this costly is refused whatever the exact figure, and
# the arithmetic stays on small integers.
CEILING = 10**15


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
        self.expensive = min(CEILING, self.expensive + other.expensive)
        self.expensive_fields.extend(other.expensive_fields[: 5 - len(self.expensive_fields)])


@dataclass
class Shape:
    """The findings for one document; ``cycle`` names a fragment that spreads itself."""

    nesting: int
    cycle: str | None = None
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
        return self.summary.cost

    @property
    def expensive(self) -> int:
        return self.summary.expensive


def nesting(document: Node) -> int:
    """The deepest nesting of selection sets, lists and input objects, without recursion."""
    deepest = 0
    stack: list[tuple[Node, int]] = [(document, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, SelectionSetNode | ListValueNode | ObjectValueNode):
            level += 1
            deepest = max(deepest, level)
        for key in node.keys:
            child = getattr(node, key, None)
            if isinstance(child, Node):
                stack.append((child, level))
            elif isinstance(child, tuple | list):
                stack.extend((item, level) for item in child if isinstance(item, Node))
    return deepest


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
    def __init__(self, values: OperationValues, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.values = values
        self.fragments = fragments
        self.memo: dict[str, Summary] = {}

    def selection_set(self, selection_set: SelectionSetNode | None, seen: set[str] | None = None) -> Summary:
        total = Summary()
        if selection_set is None:
            return total
        seen = set() if seen is None else seen
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total.add(self.field(selection))
            elif isinstance(selection, InlineFragmentNode):  # merges into this set
                total.add(self.selection_set(selection.selection_set, seen))
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                total.add(self.memo.get(selection.name.value, Summary()))  # unknown ones: validation refuses them
        return total

    def field(self, node: FieldNode) -> Summary:
        inner = self.selection_set(node.selection_set)
        priced = price(node, self.values)
        introspection = node.name.value.startswith("__")
        if priced.per_item_only:  # a connection: its totalCount and pageInfo run once
            cost = priced.own + inner.cost + priced.multiplier * inner.item_cost
        else:
            cost = priced.own + priced.multiplier * (inner.cost + inner.item_cost)
        summary = Summary(
            depth=0 if node.selection_set is None or introspection else 1 + inner.depth,
            aliases=(1 if node.alias else 0) + inner.aliases,
            expensive=(1 if priced.expensive else 0) + inner.expensive,
            expensive_fields=[priced.expensive] if priced.expensive else [],
        )
        if node.name.value in ITEM_FIELDS:
            summary.item_cost = min(CEILING, cost)
        else:
            summary.cost = min(CEILING, cost)
        summary.expensive_fields.extend(inner.expensive_fields[: 5 - len(summary.expensive_fields)])
        return summary


def _operations(document: DocumentNode, name: str | None) -> list[OperationDefinitionNode]:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        return [o for o in operations if o.name and o.name.value == name]
    return operations


def analyse(
    document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None, *, max_nesting: int = 0
) -> Shape:
    """Analyse the operation that would run. A document without one (no operation of
    that name, or several and no name) gets an empty summary: execution refuses it.

    With ``max_nesting``, a document nested deeper is only measured, not summarised (the
    summary recurses once per level)."""
    shape = Shape(nesting=nesting(document))
    if max_nesting and shape.nesting > max_nesting:
        return shape
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    order, shape.cycle = fragment_order(fragments)
    operations = _operations(document, operation_name)
    if shape.cycle or len(operations) != 1:
        return shape
    (operation,) = operations
    defaults = {v.variable.name.value: v.default_value for v in operation.variable_definitions or () if v.default_value}
    summariser = _Summariser(OperationValues(variables, defaults), fragments)
    for name in order:  # dependencies first: a spread reads a finished summary
        summariser.memo[name] = summariser.selection_set(fragments[name].selection_set)
    shape.operation = operation.name.value if operation.name else "anonymous"
    shape.summary = summariser.selection_set(operation.selection_set)
    return shape
