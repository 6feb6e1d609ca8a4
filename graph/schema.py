"""The GraphQL schema. Export it with ``make schema``."""

from __future__ import annotations

import strawberry

from graph.extensions import CsrfForMutations
from graph.mutations.accounts import AccountMutation
from graph.mutations.catalogue import CatalogueMutation
from graph.mutations.commerce import CommerceMutation
from graph.mutations.tracking import TrackingMutation
from graph.queries import Query


@strawberry.type
class Mutation(AccountMutation, CommerceMutation, CatalogueMutation, TrackingMutation):
    pass


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[CsrfForMutations])
