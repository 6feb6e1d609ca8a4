"""Query cost, in the spirit of Saleor's: what an operation may make the server do.

Every field costs 1; a connection multiplies the cost of what is selected inside
it by the page size it asks for (``first``, or its default), and the category
lists by an estimated ten items, through the nesting.
``categories { children { products(first: 100) { edges { node { reviews(first: 100)
{ ... } } } } } }`` is therefore refused before anything runs, while a storefront
listing of 100 products with everything on it costs about 2,000. The computed cost
is returned in the response's ``extensions.cost`` so clients can tune queries.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

# Connection fields and the page size they use when ``first`` is not given.
CONNECTION_DEFAULTS = {"products": 20, "reviews": 10, "favorites": 20, "orders": 20}
# Plain lists have no ``first``: they count as this many items (categories are a
# short tree; a category rarely has more than ten children).
LIST_ESTIMATES = {"categories": 10, "children": 10}


def _first(field: FieldNode, variables: dict[str, Any]) -> int | None:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, VariableNode):
                value = variables.get(argument.value.name.value)
            else:
                value = value_from_ast_untyped(argument.value, variables)
            return value if isinstance(value, int) and value >= 0 else None
    return None


def selection_cost(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    variables: dict[str, Any],
) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = selection_cost(selection.selection_set, fragments, variables)
            name = selection.name.value
            if name in CONNECTION_DEFAULTS and selection.selection_set is not None:
                first = _first(selection, variables)
                inner *= max(1, CONNECTION_DEFAULTS[name] if first is None else first)
            elif name in LIST_ESTIMATES:
                inner *= LIST_ESTIMATES[name]
            total += 1 + inner
        elif isinstance(selection, InlineFragmentNode):
            total += selection_cost(selection.selection_set, fragments, variables)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:  # validation already refused cycles and unknown fragments
                total += selection_cost(fragment.selection_set, fragments, variables)
    return total


def operation_cost(document, operation_name: str | None, variables: dict[str, Any] | None) -> int:
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if not operations:
        return 0
    return selection_cost(operations[0].selection_set, fragments, variables or {})


class QueryCostLimiter(SchemaExtension):
    """Refuse operations that cost more than ``GRAPHQL_MAX_COST``, before they run."""

    def __init__(self) -> None:
        self.cost: int | None = None

    def on_execute(self):
        ctx = self.execution_context
        maximum = settings.GRAPHQL_MAX_COST
        if ctx.graphql_document is not None:
            self.cost = operation_cost(ctx.graphql_document, ctx.operation_name, ctx.variables)
            if self.cost > maximum:
                ctx.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"Query cost {self.cost:,} exceeds the maximum of {maximum:,}: ask for smaller pages "
                            "(first) or fewer nested connections.",
                            extensions={"code": "QUERY_TOO_COSTLY", "cost": self.cost, "maximumCost": maximum},
                        )
                    ],
                )
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "maximum": settings.GRAPHQL_MAX_COST}}
