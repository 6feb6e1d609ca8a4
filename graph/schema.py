"""The GraphQL schema. Export it with ``make schema``."""

from __future__ import annotations

import strawberry

from graph.queries import Query

schema = strawberry.Schema(query=Query)
