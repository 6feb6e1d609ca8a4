"""Helpers that tests import (conftest modules only define fixtures): a client that posts
GraphQL documents through the real view, the error codes of a response, the database in use, a free port."""

import json
import socket

from django.db import connection
from django.test import Client


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


class GraphQLClient:
    """Posts documents to /graphql/ through the real view and middleware."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def raw(self, query: str, variables: dict | None = None, **headers):
        body = {"query": query, "variables": variables or {}}
        return self.client.post("/graphql/", json.dumps(body), content_type="application/json", headers=headers)

    def __call__(self, query: str, variables: dict | None = None, **headers) -> dict:
        response = self.raw(query, variables, **headers)
        assert response.status_code in (200, 400), response.content
        return response.json()

    def data(self, query: str, variables: dict | None = None, **headers) -> dict:
        result = self(query, variables, **headers)
        assert "errors" not in result, result["errors"]
        return result["data"]


def error_codes(result: dict) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
