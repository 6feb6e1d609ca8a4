"""Per-field execution (graph.execution): the same answers as graphql-core's own path, with
no awaitable per list item once a page's loader fields are prefetched."""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from graph import schema as graph_schema
from graph.execution import LeanExecutionContext, lean_resolvers
from graph.prefetch import selected_names
from tests.graph.test_query_budget import LISTING, build_catalogue


@pytest.fixture
def awaited_fields(monkeypatch) -> list[str]:
    """The fields whose resolver handed graphql-core an awaitable, by name."""
    seen: list[str] = []
    real = LeanExecutionContext.complete_awaitable_value

    def spy(self, return_type, field_details_list, info, *args, **kwargs):
        seen.append(info.field_name)
        return real(self, return_type, field_details_list, info, *args, **kwargs)

    monkeypatch.setattr(LeanExecutionContext, "complete_awaitable_value", spy)
    return seen


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("size", [5, 40])
def test_a_listing_awaits_nothing_per_item(gql, awaited_fields, size):
    # Given products with categories, parents, sellers, images, reviews and metrics
    build_catalogue(size)

    # When the storefront listing runs
    data = gql.data(LISTING % (size, "NEWEST"))

    # Then every item came back, and only the list itself was awaited: no item field was
    # an awaitable, however many items (loaders prefetched once per list)
    assert len(data["products"]["edges"]) == size
    assert sorted(awaited_fields) == ["products", "totalCount"]


@pytest.mark.django_db(transaction=True)
def test_the_listing_answers_exactly_as_graphql_cores_own_execution(gql, monkeypatch):
    # Given a catalogue with the nulls a listing meets (root categories, no reviews, no revenue for anonymous)
    build_catalogue(12)
    document = """{ products(first: 12) { totalCount totalCountIsExact pageInfo { hasNextPage endCursor }
      edges { cursor node { id name slug description price stock createdAt isActive inStock isFavorite
        category { id name productCount parent { id name parent { name } } children { name } }
        seller { id displayName } images { url altText position } rating { average count }
        metrics { totalViews totalImpressions updatedAt totalRevenue clickThroughRate favoriteRate }
        reviews(first: 2) { edges { node { id rating author { displayName } } } } } } } }"""

    # When it runs with the lean execution context and with strawberry's own
    lean = gql(document)
    monkeypatch.setattr(graph_schema.schema, "execution_context_class", StrawberryGraphQLCoreExecutionContext)
    stock = gql(document)

    # Then the answers are the same, byte for byte
    assert "errors" not in lean
    assert lean == stock


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


class Thing:
    def __init__(self, name, nickname=None, colour=Colour.RED):
        self.name, self.nickname, self.colour = name, nickname, colour


@strawberry.type
class ThingType:
    name: str
    nickname: str | None
    colour: Colour

    @strawberry.field
    def shout(self, root: strawberry.Parent[Thing]) -> str:
        if root.name == "boom":
            raise ValueError("no shouting")
        return root.name.upper()

    @strawberry.field
    def size(self, root: strawberry.Parent[Thing]) -> int:
        return len(root.name) if root.name != "huge" else 2**40  # not an Int: the scalar refuses it

    @strawberry.field
    def greeting(self, root: strawberry.Parent[Thing], info: Info) -> str:
        return f"{info.context['hello']} {root.name}"


seen_names: list[set[str]] = []


@strawberry.type
class ToyQuery:
    @strawberry.field
    def things(self, info: Info) -> list[ThingType | None]:  # an item's error nulls that item only
        seen_names.append(selected_names(info, ()))
        return [Thing("ann", "a"), Thing("boom"), Thing(None), Thing("huge")]


def _execute(context_class, document: str) -> dict:
    toy = strawberry.Schema(query=ToyQuery, execution_context_class=context_class)
    if context_class is LeanExecutionContext:
        assert lean_resolvers(toy) == 4  # things, shout, size, greeting: sync, argument-free
    result = toy.execute_sync(document, context_value={"hello": "hi"})
    return {
        "data": result.data,
        "errors": [(e.message, e.path) for e in result.errors or []],
    }


def test_nulls_refusals_and_errors_are_reported_as_graphql_core_reports_them():
    # Given objects whose fields meet every unusual case: a nullable null, a non-null null,
    # a resolver that raises, a value the Int scalar refuses, an enum, a resolver taking info
    document = "{ things { name nickname colour shout size greeting } }"

    # When both execution contexts run it
    lean = _execute(LeanExecutionContext, document)
    stock = _execute(StrawberryGraphQLCoreExecutionContext, document)

    # Then data and errors (messages and paths) are identical
    assert lean == stock
    assert {path[1] for _, path in lean["errors"]} == {1, 2, 3}  # the raise, the non-null name, the refused Int
    assert lean["data"]["things"][0] == {
        "name": "ann",
        "nickname": "a",
        "colour": "RED",
        "shout": "ANN",
        "size": 3,
        "greeting": "hi ann",
    }


def test_selected_names_follow_fragments_and_leave_out_directed_fields():
    seen_names.clear()
    _execute(
        LeanExecutionContext,
        """query { things { name ...F ... on ThingType { colour } shout @include(if: true) } }
        fragment F on ThingType { nickname }""",
    )
    assert seen_names == [{"name", "nickname", "colour"}]


def test_a_list_of_leaf_only_objects_answers_as_graphql_cores_own_path(monkeypatch):
    # Given a list of objects whose selected fields are all plain leaves, with aliases, a
    # fragment, __typename, directives, and the same failures as above (a raise, a
    # non-null null, an Int the scalar refuses), which the shortcut must hand back
    document = """{ things { __typename name alias: nickname ...F shout size name
        colour @skip(if: true) nickname @include(if: true) } }
        fragment F on ThingType { colour }"""
    full_path: list[object] = []
    real = LeanExecutionContext.complete_list_item_value

    def spy(self, item, *args, **kwargs):
        full_path.append(item)
        return real(self, item, *args, **kwargs)

    monkeypatch.setattr(LeanExecutionContext, "complete_list_item_value", spy)

    # When both execution contexts run it
    lean = _execute(LeanExecutionContext, document)
    completed_the_long_way = [thing.name for thing in full_path]
    stock = _execute(StrawberryGraphQLCoreExecutionContext, document)

    # Then data and errors are identical, and only the failing items took the full path
    assert lean == stock
    assert completed_the_long_way == ["boom", None, "huge"]
    assert lean["data"]["things"][0] == {
        "__typename": "ThingType",
        "name": "ann",
        "alias": "a",
        "colour": "RED",
        "shout": "ANN",
        "size": 3,
        "nickname": "a",
    }


@strawberry.type
class Reading:
    at: datetime
    amount: Decimal


_NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
_SHARED_AMOUNT = Decimal("1.50")


@strawberry.type
class ReadingsQuery:
    @strawberry.field
    def readings(self) -> list[Reading]:
        # The same objects again and again (as a page's series share their starts), and
        # values equal to them that print differently: each must keep its own text
        return [
            Reading(at=_NOON, amount=_SHARED_AMOUNT),
            Reading(at=_NOON, amount=_SHARED_AMOUNT),
            Reading(at=_NOON.astimezone(timezone(timedelta(hours=2))), amount=Decimal("1.5")),
            Reading(at=_NOON, amount=Decimal("1.500")),
            Reading(at=_NOON, amount=_SHARED_AMOUNT),
        ]


def test_repeated_values_are_serialised_once_and_equal_ones_keep_their_own_text():
    document = "{ readings { at amount } }"
    results = {}
    for context_class in (LeanExecutionContext, StrawberryGraphQLCoreExecutionContext):
        readings = strawberry.Schema(query=ReadingsQuery, execution_context_class=context_class)
        result = readings.execute_sync(document)
        assert result.errors is None
        results[context_class] = result.data

    lean = results[LeanExecutionContext]
    assert lean == results[StrawberryGraphQLCoreExecutionContext]
    assert [r["at"] for r in lean["readings"]][1:4] == [
        "2026-11-30T12:00:00+00:00",
        "2026-11-30T14:00:00+02:00",
        "2026-11-30T12:00:00+00:00",
    ]
    assert [r["amount"] for r in lean["readings"]] == ["1.50", "1.50", "1.5", "1.500", "1.50"]
