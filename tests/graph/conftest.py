import pytest

from tests.helpers import GraphQLClient


@pytest.fixture
def gql(client) -> GraphQLClient:
    return GraphQLClient(client)
