"""The price table: what one field of a document makes the server do, in cost units.

A plain field costs 1. A connection multiplies what is selected under its ``edges`` (or
``nodes``) by the page size it will run with (``first``/``last`` from a literal, a variable, the variable's
default, else the field's default page size), and the category lists by an estimated
ten items, through the nesting. Fields whose database work grows with the catalogue
are expensive: a listing with an ordering no index serves or a substring search costs
``EXPENSIVE_PRICE`` more, an exact count ``COUNT_FIELDS`` more, and a document may hold
at most ``GRAPHQL_MAX_EXPENSIVE_FIELDS`` of them (counted through fragments and aliases).

This module is the one place to tune: when an ordering becomes index-driven, take it
out of ``SELLER_UNINDEXED_ORDERS``. The walk over the document lives in
``graph.validation.shape``; the computed cost is returned in the response's
``extensions.cost`` (``requestedQueryCost``, ``maximumAvailable``: Saleor's names, which
Shopify's clients read too) so clients can tune their queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
    value_from_ast_untyped,
)

# Connection fields and the page size they use when neither ``first`` nor ``last`` is given.
CONNECTION_DEFAULTS = {"products": 20, "reviews": 10, "favorites": 20, "orders": 20}
# The fields of a connection that hold its items (``totalCount`` and ``pageInfo`` run once).
ITEM_FIELDS = frozenset({"edges", "nodes"})
# Plain lists have no ``first``: they count as this many items (categories are a
# short tree; a category rarely has more than ten children).
LIST_ESTIMATES = {"categories": 10, "children": 10}
# Relay's ``nodes(ids:)``: what is selected runs once per ID (at most 100, the count an
# unknown list is priced at).
ID_LIST_FIELDS = {"nodes": "ids"}
MAX_IDS = 100
# Lists whose length is an argument (name, default): what is selected runs once per item.
# A product's ``history`` is ``last`` buckets (all products' from one batched query); a
# seller's ``topProducts`` is ``first`` products.
SIZED_LISTS = {"history": ("last", 30), "topProducts": ("first", 10)}
# A seller's ``series`` has one bucket per period of the window, which its parent's
# arguments set: priced at the most a window may hold (31 days of hours).
LIST_ESTIMATES["series"] = 24 * 31
# ``sellerAnalytics`` aggregates the buckets of every product of the seller over the
# window (rows: products x periods): priced as a scan, and counted as an expensive field.
AGGREGATES = frozenset({"sellerAnalytics"})

# What one expensive field adds to the cost (a plain field costs 1): about what a
# page of 100 products with everything on it costs, since that is what one scan of
# the catalogue costs the database next to an indexed page.
EXPENSIVE_PRICE = 1_000
# Every ordering is served by an index in its sort direction (issue 14: stored sort
# keys), so an ordering alone is cheap. What no index serves: a popularity ordering
# narrowed to one seller walks the popularity index and filters (10-17 ms of SQL at
# 1M products against 0.1 ms for the others), so that combination is priced as a scan.
SELLER_UNINDEXED_ORDERS = frozenset({"MOST_VIEWED", "BEST_SELLING", "TRENDING"})
# Fields that count matches and what each adds: a listing's ``totalCount`` is a
# maintained category count or a count capped at 1,000 rows (marketplace.selectors), so
# it costs about a page. ``productCount`` reads the maintained count on the category row
# (no query at all), so it is a plain field.
COUNT_FIELDS = {"totalCount": 100}
# The product listings that take ``orderBy`` and ``filter``.
PRODUCT_LISTINGS = frozenset({"products"})


@dataclass(frozen=True)
class FieldPrice:
    """The price of one field: its own cost, the multiplier for what is inside it, and
    why it is expensive (``None`` when it is not)."""

    own: int
    multiplier: int
    expensive: str | None = None
    per_item_only: bool = False  # the multiplier applies to the items (edges), not to the whole selection


class OperationValues:
    """Argument values as the operation will run with them: the request's variables,
    else the variable's default in the operation, else null (the argument's default)."""

    def __init__(self, variables: dict[str, Any] | None, variable_defaults: dict[str, ValueNode]) -> None:
        self.variables = variables if isinstance(variables, dict) else {}
        self.defaults = variable_defaults

    def variable(self, name: str) -> Any:
        if name in self.variables:
            return self.variables[name]
        default = self.defaults.get(name)
        return None if default is None else value_from_ast_untyped(default)

    def value(self, node: ValueNode, *, nested: bool = False) -> Any:
        """The value of a scalar, an enum, a variable, or an input object of those. Lists
        and deeper objects read as null: no price depends on them, and reading them would
        recurse as deep as the client nested them (validation refuses what is wrong)."""
        if isinstance(node, VariableNode):
            return self.variable(node.name.value)
        if isinstance(node, ObjectValueNode):
            return None if nested else {f.name.value: self.value(f.value, nested=True) for f in node.fields}
        if isinstance(node, NullValueNode | ListValueNode):
            return None
        try:
            return value_from_ast_untyped(node)
        except (TypeError, ValueError):  # an invalid literal: validation refuses it later
            return None

    def argument(self, field: FieldNode, name: str) -> Any:
        for argument in field.arguments or ():
            if argument.name.value == name:
                return self.value(argument.value)
        return None


def _page_size(field: FieldNode, values: OperationValues, default: int) -> int:
    sizes = [values.argument(field, name) for name in ("first", "last")]
    given = [size for size in sizes if isinstance(size, int) and not isinstance(size, bool) and size >= 0]
    return max(given) if given else default


def _expensive_listing(field: FieldNode, values: OperationValues) -> str | None:
    order = values.argument(field, "orderBy")
    filters = values.argument(field, "filter")
    filters = filters if isinstance(filters, dict) else {}
    if isinstance(order, str) and order in SELLER_UNINDEXED_ORDERS and filters.get("seller") is not None:
        return f"{field.name.value}(orderBy: {order}, filter: {{seller}})"
    if isinstance(filters.get("search"), str) and filters["search"].strip():
        return f"{field.name.value}(filter: {{search}})"
    return None


def price(field: FieldNode, values: OperationValues) -> FieldPrice:
    """What ``field`` costs by itself and how many times what is inside it runs."""
    name = field.name.value
    if name in CONNECTION_DEFAULTS and field.selection_set is not None:
        multiplier = max(1, _page_size(field, values, CONNECTION_DEFAULTS[name]))
        expensive = _expensive_listing(field, values) if name in PRODUCT_LISTINGS else None
        own = 1 + (EXPENSIVE_PRICE if expensive else 0)
        return FieldPrice(own=own, multiplier=multiplier, expensive=expensive, per_item_only=True)
    if name in COUNT_FIELDS:
        return FieldPrice(own=1 + COUNT_FIELDS[name], multiplier=1, expensive=name)
    if name in AGGREGATES:
        return FieldPrice(own=1 + EXPENSIVE_PRICE, multiplier=1, expensive=name)
    if name in SIZED_LISTS:
        argument, default = SIZED_LISTS[name]
        size = values.argument(field, argument)
        size = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else default
        return FieldPrice(own=1, multiplier=max(1, size))
    if name in ID_LIST_FIELDS and any(a.name.value == ID_LIST_FIELDS[name] for a in field.arguments or ()):
        ids = values.argument(field, ID_LIST_FIELDS[name])
        return FieldPrice(own=1, multiplier=max(1, min(len(ids), MAX_IDS)) if isinstance(ids, list) else MAX_IDS)
    return FieldPrice(own=1, multiplier=LIST_ESTIMATES.get(name, 1))
