"""The GraphQL schema. Export it with ``make schema``."""

from __future__ import annotations

import strawberry

from graph.mutations.tracking import TrackingMutation
from graph.queries import Query


@strawberry.type
class Mutation(TrackingMutation):
    pass


schema = strawberry.Schema(query=Query, mutation=Mutation)
