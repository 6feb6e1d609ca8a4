"""The document limits, as one schema extension, in the order that keeps refusals cheap.

1. Size: strawberry's ``MaxTokensLimiter`` (listed before this extension) sets the
   parser's ``max_tokens``, and this one its ``max_source_length`` (at most
   ``MAX_CHARACTERS_PER_TOKEN`` characters per allowed token), so an over-long document
   stops while it is being lexed. graphql-core's parser refuses nesting deeper than
   Python's stack by itself (a syntax error, not a RecursionError).
2. Shape (``graph.validation.shape``, one linear pass): nesting, fragment cycles, depth,
   aliases, expensive fields and cost. A document over any limit is refused here, before
   graphql-core's validation rules walk it (strawberry skips them when an extension has
   set ``pre_execution_errors``).

Each refusal names the limit and its value, and carries ``extensions.code``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from graphql import (
    GraphQLError,
    NoUndefinedVariablesRule,
    NoUnusedVariablesRule,
    VariablesInAllowedPositionRule,
    validate,
)
from graphql.validation.rules import overlapping_fields_can_be_merged
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from graph.validation import cache
from graph.validation.shape import Shape, analyse

# Deeper than any real document goes (fields stop at GRAPHQL_MAX_DEPTH; inline fragments
# add a level each), and far from where Python's stack would end.
MAX_NESTING = 32
# A query text may hold this many characters per allowed token: room for names,
# indentation and comments, but not for megabytes of them (lexing a comment costs as
# much as lexing tokens, and comments are no tokens).
MAX_CHARACTERS_PER_TOKEN = 20
# graphql-core compares every pair of same-named fields, and every pair of fragments
# spread, in one selection set: these keep that quadratic work small. Real documents
# repeat a field two or three times (through fragments) and spread a handful of
# fragments into one place.
MAX_SAME_NAME = 10
MAX_SPREADS_PER_SELECTION = 20
# What is left of that rule's quadratic work (fragments spreading fragments compared pair
# by pair) is metered by graphql-core itself, which aborts the validation once a budget
# is spent; its default (500,000 units, about 1.5 s here) is meant for any server, ours
# is what 20 fragments spread into one selection spend. Assigning the module attribute is
# the documented way to set it.
OVERLAP_BUDGET = 2_000
overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = OVERLAP_BUDGET
# graphql-core stops validating after this many errors (its default is 100): a client
# fixes the first few, and each error costs a suggestion search and a source excerpt.
MAX_VALIDATION_ERRORS = 10


def _too_complex(message: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "QUERY_TOO_COMPLEX", **extensions})


def _structure(shape: Shape) -> list[GraphQLError]:
    """The refusals that stop the analysis (its figures are incomplete after them)."""
    if shape.cycle:
        return [GraphQLError(f"Cannot spread fragment '{shape.cycle}' within itself.")]
    if shape.too_nested:
        return [
            _too_complex(
                f"Selections are nested more than {MAX_NESTING} levels deep (fields: at most a depth of "
                f"{settings.GRAPHQL_MAX_DEPTH})."
            )
        ]
    errors = []
    if shape.crowd > MAX_SAME_NAME:
        errors.append(_too_complex(f"{shape.crowd} fields share one name in a selection; at most {MAX_SAME_NAME} may."))
    if shape.spreads > MAX_SPREADS_PER_SELECTION:
        errors.append(
            _too_complex(
                f"{shape.spreads} fragments are spread into one selection; at most {MAX_SPREADS_PER_SELECTION} may."
            )
        )
    return errors


def refusals(shape: Shape) -> list[GraphQLError]:
    """Every limit ``shape`` exceeds, as errors a client can act on."""
    errors = _structure(shape)
    if shape.cycle or shape.too_nested:
        return errors
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


# The rules that follow variables: each walks the whole operation again before the main
# walk starts (graphql-core's variable usages), which costs most of the validation of a
# document of unknown fields. They run only when a document has variables, and only
# once the other rules found nothing.
VARIABLE_RULES = (NoUndefinedVariablesRule, NoUnusedVariablesRule, VariablesInAllowedPositionRule)


def _validate(ctx) -> list[GraphQLError]:
    """strawberry's validation (the schema's rules plus its own two), with fewer errors
    kept, the variable rules last, and an aborted validation explained."""
    rules = (*ctx.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule)
    first = tuple(rule for rule in rules if rule not in VARIABLE_RULES)
    errors = validate(ctx.schema._schema, ctx.graphql_document, first, max_errors=MAX_VALIDATION_ERRORS)
    if not errors and "$" in (ctx.query or "$"):  # no "$" anywhere: no variable to check
        then = tuple(rule for rule in rules if rule in VARIABLE_RULES)
        errors = validate(ctx.schema._schema, ctx.graphql_document, then, max_errors=MAX_VALIDATION_ERRORS)
    if any(isinstance(error, ValidationAbortedError) for error in errors):
        errors = [e for e in errors if not isinstance(e, ValidationAbortedError)] or [
            _too_complex(
                "The document's fragments overlap in too many ways to validate: spread fewer fragments into "
                "one selection, or spread each fragment once."
            )
        ]
    return errors


def _limits(ctx, variables: dict) -> tuple[list[GraphQLError], int | None]:
    """The refusals for the operation that would run, and its cost (None when the
    analysis stopped early)."""
    shape = analyse(ctx.graphql_document, ctx.operation_name, variables, max_nesting=MAX_NESTING)
    return refusals(shape), None if shape.cycle or shape.too_nested else shape.cost


def _document_key(ctx) -> tuple:
    """What a document's findings depend on besides its variables: its text, the
    operation chosen, the schema and its rules, and the limits (settings a test may change)."""
    return (
        ctx.query,
        ctx.operation_name,
        id(ctx.schema),
        tuple(ctx.validation_rules),
        settings.GRAPHQL_MAX_DEPTH,
        settings.GRAPHQL_MAX_ALIASES,
        settings.GRAPHQL_MAX_EXPENSIVE_FIELDS,
        settings.GRAPHQL_MAX_COST,
    )


class DocumentLimits(SchemaExtension):
    """Bound the query text's length for the parser, then refuse over-limit documents
    before validation, and report the cost of the ones that run in ``extensions.cost``.

    The findings are cached (``graph.validation.cache``): a document seen before is
    neither analysed nor validated again, unless the variables its cost reads differ."""

    def __init__(self) -> None:
        self.cost: int | None = None

    def on_operation(self):
        # graphql-core refuses a longer source before lexing it (a syntax error that says so)
        self.execution_context.parse_options["max_source_length"] = (
            settings.GRAPHQL_MAX_TOKENS * MAX_CHARACTERS_PER_TOKEN
        )
        yield

    def on_validate(self):
        ctx = self.execution_context
        if ctx.graphql_document is not None and ctx.pre_execution_errors is None:
            variables = ctx.variables if isinstance(ctx.variables, dict) else {}
            entry = cache.entry_for(_document_key(ctx)) if ctx.query is not None else cache.DocumentEntry()
            errors, self.cost = entry.analysis(variables, lambda values: _limits(ctx, values))
            if not errors:
                if entry.validation is None:
                    entry.validation = _validate(ctx)
                errors = entry.validation
            # strawberry skips its own validation once an extension has set the errors
            ctx.pre_execution_errors = list(errors)
        yield

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        # Saleor's names (Shopify's client reads the same requestedQueryCost): clients know them
        return {"cost": {"requestedQueryCost": self.cost, "maximumAvailable": settings.GRAPHQL_MAX_COST}}
