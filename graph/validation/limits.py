"""The document limits, as one schema extension, in the order that keeps refusals cheap.

1. Tokens: strawberry's ``MaxTokensLimiter`` (listed before this extension) sets the
   parser's ``max_tokens``, so an over-long document stops while it is being lexed; the
   query text may hold at most ``MAX_CHARACTERS_PER_TOKEN`` characters per allowed token
   (comments and whitespace are no tokens, and lexing them costs as much as any).
2. Parsing: graphql-core's parser recurses once per nesting level; a document nested
   deeper than Python's stack allows is the client's mistake, not a server fault.
3. Shape (``graph.validation.shape``, one linear pass): nesting, fragment cycles, depth,
   aliases, expensive fields and cost. A document over any limit is refused here, before
   graphql-core's validation rules walk it (strawberry skips them when an extension has
   set ``pre_execution_errors``).

Each refusal names the limit and its value, and carries ``extensions.code``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from graphql import GraphQLError, parse
from strawberry.extensions import SchemaExtension

from graph.validation.shape import Shape, analyse

# Deeper than any real document goes (selections stop at GRAPHQL_MAX_DEPTH, inputs are a
# filter object or a list of IDs), and far from where Python's stack would end.
MAX_NESTING = 32
# A query text may hold this many characters per allowed token: room for names,
# indentation and comments, but not for megabytes of them.
MAX_CHARACTERS_PER_TOKEN = 20


def _too_complex(message: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX", **extensions})


def refusals(shape: Shape) -> list[GraphQLError]:
    """Every limit ``shape`` exceeds, as errors a client can act on."""
    if shape.nesting > MAX_NESTING:
        return [_too_complex(f"The document is nested {shape.nesting} levels deep; at most {MAX_NESTING} are allowed.")]
    if shape.cycle:
        return [GraphQLError(f"Cannot spread fragment '{shape.cycle}' within itself.")]
    errors = []
    if shape.depth > settings.GRAPHQL_MAX_DEPTH:
        errors.append(
            _too_complex(f"'{shape.operation}' exceeds maximum operation depth of {settings.GRAPHQL_MAX_DEPTH}")
        )
    if shape.aliases > settings.GRAPHQL_MAX_ALIASES:
        errors.append(_too_complex(f"{shape.aliases} aliases found. Allowed: {settings.GRAPHQL_MAX_ALIASES}"))
    maximum = settings.GRAPHQL_MAX_EXPENSIVE_FIELDS
    if shape.expensive > maximum:
        named = ", ".join(shape.summary.expensive_fields)
        errors.append(
            GraphQLError(
                f"{shape.expensive} expensive fields ({named}, ...) exceed the maximum of {maximum} per document: "
                "ask for counts, searches and computed orderings in separate requests.",
                extensions={"code": "QUERY_TOO_COSTLY", "expensiveFields": shape.expensive, "maximum": maximum},
            )
        )
    if shape.cost > settings.GRAPHQL_MAX_COST:
        errors.append(
            GraphQLError(
                f"Query cost {shape.cost:,} exceeds the maximum of {settings.GRAPHQL_MAX_COST:,}: ask for smaller "
                "pages (first) or fewer nested connections.",
                extensions={"code": "QUERY_TOO_COSTLY", "cost": shape.cost, "maximumCost": settings.GRAPHQL_MAX_COST},
            )
        )
    return errors


class DocumentLimits(SchemaExtension):
    """Parse without recursion faults, then refuse over-limit documents before validation,
    and report the cost of the ones that run in ``extensions.cost``."""

    def __init__(self) -> None:
        self.cost: int | None = None

    def on_parse(self):
        ctx = self.execution_context
        if ctx.graphql_document is None and ctx.query:
            limit = settings.GRAPHQL_MAX_TOKENS * MAX_CHARACTERS_PER_TOKEN
            if len(ctx.query) > limit:
                raise _too_complex(f"The document is {len(ctx.query):,} characters long; at most {limit:,} are allowed.")
            try:
                ctx.graphql_document = parse(ctx.query, **ctx.parse_options)
            except RecursionError:
                raise _too_complex(
                    f"The document is nested too deeply to parse; at most {MAX_NESTING} levels are allowed."
                ) from None
        yield

    def on_validate(self):
        ctx = self.execution_context
        if ctx.graphql_document is not None and ctx.pre_execution_errors is None:
            shape = analyse(ctx.graphql_document, ctx.operation_name, ctx.variables, max_nesting=MAX_NESTING)
            errors = refusals(shape)
            if shape.nesting <= MAX_NESTING and not shape.cycle:
                self.cost = shape.cost
            if errors:
                ctx.pre_execution_errors = errors  # strawberry then skips graphql-core's rules
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requested": self.cost, "maximum": settings.GRAPHQL_MAX_COST}}
