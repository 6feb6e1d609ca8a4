"""The GraphQL schema. Export it with ``make schema``."""

from __future__ import annotations

import strawberry
from django.conf import settings
from strawberry.extensions import AddValidationRules, DisableIntrospection, MaxTokensLimiter, ParserCache
from strawberry.schema.config import StrawberryConfig

from graph.execution import LeanExecutionContext, lean_resolvers
from graph.extensions import CsrfForMutations, RefuseNulCharacters
from graph.masking import MaskServerErrors, is_server_fault
from graph.mutations.accounts import AccountMutation, OnePasswordMutationPerDocument
from graph.mutations.catalogue import CatalogueMutation
from graph.mutations.commerce import CommerceMutation
from graph.mutations.tracking import TrackingMutation
from graph.prometheus import OperationMetrics
from graph.queries import Query
from graph.subscriptions.resolvers import Subscription
from graph.validation.cache import DOCUMENTS_MAX
from graph.validation.limits import DocumentLimits


@strawberry.type
class Mutation(AccountMutation, CommerceMutation, CatalogueMutation, TrackingMutation):
    pass


def extensions() -> list:
    """Limits refuse a document before it runs; each names the limit and the value."""
    chosen = [
        OperationMetrics,  # first: it times the others, and counts what they refuse
        lambda: MaxTokensLimiter(max_token_count=settings.GRAPHQL_MAX_TOKENS),  # the cheapest refusal: while lexing
        DocumentLimits,  # depth, aliases, cost, expensive fields: one linear pass, before validation
        # after the two above: it parses with the limits they set (its key includes them);
        # DocumentLimits caches the analysis and validation by document (graph.validation.cache)
        lambda: ParserCache(maxsize=DOCUMENTS_MAX),
        lambda: AddValidationRules([OnePasswordMutationPerDocument]),
        RefuseNulCharacters,
        CsrfForMutations,
    ]
    if not settings.GRAPHQL_INTROSPECTION:
        chosen.append(DisableIntrospection)
    if not settings.DEBUG:
        chosen.append(MaskServerErrors)
    return chosen


class Schema(strawberry.Schema):
    """Logs only server faults: a client's mistake (validation, BAD_USER_INPUT, a limit)
    is the client's to see in its response, not an ERROR with a traceback in ours."""

    def process_errors(self, errors, execution_context=None) -> None:
        faults = [error for error in errors if is_server_fault(error)]
        if faults:
            super().process_errors(faults, execution_context)


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=extensions(),
    config=StrawberryConfig(disable_field_suggestions=not settings.DEBUG),
    execution_context_class=LeanExecutionContext,
)
lean_resolvers(schema)  # plain resolvers called directly (graph.execution)
