"""Registering, logging in with a session or a token, CSRF, and token revocation."""

import pytest
from django.test import Client

from marketplace.models import ApiToken
from tests.factories import make_product, make_user
from tests.helpers import GraphQLClient, error_codes

pytestmark = pytest.mark.django_db

REGISTER = """mutation($u: String!, $e: String!, $p: String!) {
  register(username: $u, email: $e, password: $p) { user { username email } errors { field message code } } }"""
LOGIN = """mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) { token user { username } errors { field code message } } }"""
ME = "{ me { username favorites { totalCount } } }"
PASSWORD = "correct-horse-battery-9"


def login(gql, username: str) -> str:
    result = gql.data(LOGIN, {"u": username, "p": PASSWORD})["login"]
    assert result["errors"] == []
    return result["token"]


def test_register_then_login_gives_a_session_and_a_token(gql):
    created = gql.data(REGISTER, {"u": "alice", "e": "alice@example.com", "p": PASSWORD})["register"]
    assert created == {"user": {"username": "alice", "email": "alice@example.com"}, "errors": []}

    token = login(gql, "alice")

    assert gql.data(ME)["me"]["username"] == "alice"  # the session cookie
    assert GraphQLClient(Client()).data(ME, Authorization=f"Bearer {token}")["me"]["username"] == "alice"
    assert GraphQLClient(Client()).data(ME)["me"] is None  # nobody


@pytest.mark.parametrize(
    "username,email,password,field,code",
    [
        ("bob", "bob@example.com", "123", "password", "password_too_weak"),
        ("bob", "bob@example.com", "password", "password", "password_too_weak"),
        ("bob", "not-an-email", PASSWORD, "email", "invalid"),
        ("", "bob@example.com", PASSWORD, "username", "required"),
        ("taken", "bob@example.com", PASSWORD, "username", "unique"),
        ("bad name!", "bob@example.com", PASSWORD, "username", "invalid"),
    ],
)
def test_registration_refuses_bad_input_with_a_user_error(gql, username, email, password, field, code):
    make_user("taken")
    result = gql.data(REGISTER, {"u": username, "e": email, "p": password})["register"]
    assert result["user"] is None
    assert [(e["field"], e["code"]) for e in result["errors"]] == [(field, code)]


def test_a_wrong_password_is_a_user_error_not_a_session(gql):
    make_user("carol")
    result = gql.data(LOGIN, {"u": "carol", "p": "wrong"})["login"]
    assert result["token"] is None and result["errors"][0]["code"] == "invalid_credentials"
    assert gql.data(ME)["me"] is None


def test_tokens_are_stored_hashed_and_can_be_revoked(gql):
    make_user("dave")
    token = login(gql, "dave")
    stored = ApiToken.objects.get(user__username="dave")
    assert token not in (stored.key_hash, stored.prefix) and stored.key_hash != token
    api = GraphQLClient(Client())
    token_id = api.data("{ me { tokens { id } } }", Authorization=f"Bearer {token}")["me"]["tokens"][0]["id"]

    revoked = api.data(
        "mutation($id: ID!) { revokeToken(tokenId: $id) { token { revokedAt } errors { code } } }",
        {"id": token_id},
        Authorization=f"Bearer {token}",
    )["revokeToken"]

    assert revoked["errors"] == [] and revoked["token"]["revokedAt"]
    refused = api.raw(ME, Authorization=f"Bearer {token}")
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_made_up_token_is_refused_not_ignored():
    response = GraphQLClient(Client()).raw(ME, Authorization="Bearer mkt_made-up")
    assert response.status_code == 401


def test_nobody_can_revoke_someone_elses_token(gql):
    make_user("erin")
    make_user("frank")
    erin_token = login(gql, "erin")
    frank = GraphQLClient(Client())
    frank_token = login(frank, "frank")
    erin_token_id = GraphQLClient(Client()).data("{ me { tokens { id } } }", Authorization=f"Bearer {erin_token}")[
        "me"
    ]["tokens"][0]["id"]

    result = frank.data(
        "mutation($id: ID!) { revokeToken(tokenId: $id) { token { id } errors { code } } }",
        {"id": erin_token_id},
        Authorization=f"Bearer {frank_token}",
    )["revokeToken"]

    assert result == {"token": None, "errors": [{"code": "not_found"}]}
    assert ApiToken.objects.get(user__username="erin").revoked_at is None


def test_logout_with_a_token_revokes_it(gql):
    make_user("gina")
    token = login(gql, "gina")
    api = GraphQLClient(Client())
    assert api.data("mutation { logout { ok } }", Authorization=f"Bearer {token}") == {"logout": {"ok": True}}
    assert api.raw(ME, Authorization=f"Bearer {token}").status_code == 401


def test_logout_ends_the_session(gql):
    make_user("hank")
    login(gql, "hank")
    gql.data("mutation { logout { ok } }")
    assert gql.data(ME)["me"] is None


class TestCsrf:
    """A session cookie must come with the CSRF token to run a mutation; tokens and anonymous need none."""

    FAVORITE = "mutation($id: ID!) { addFavorite(productId: $id) { isFavorite errors { code } } }"

    @pytest.fixture
    def browser(self):
        make_user("ivy")
        client = Client(enforce_csrf_checks=True)
        gql = GraphQLClient(client)
        login(gql, "ivy")  # anonymous: no CSRF needed to log in
        return gql

    def product_id(self):
        from graph.ids import global_id

        return global_id("Product", make_product().pk)

    def test_a_session_mutation_without_the_token_is_forbidden(self, browser):
        result = browser(self.FAVORITE, {"id": self.product_id()})
        assert error_codes(result) == ["FORBIDDEN"] and "CSRF" in result["errors"][0]["message"]

    def test_a_session_mutation_with_the_token_runs(self, browser):
        token = browser.client.cookies["csrftoken"].value
        result = browser(self.FAVORITE, {"id": self.product_id()}, **{"X-CSRFToken": token})
        assert result["data"]["addFavorite"] == {"isFavorite": True, "errors": []}

    def test_a_session_query_needs_no_token(self, browser):
        assert browser.data(ME)["me"]["username"] == "ivy"

    def test_a_bearer_token_needs_no_csrf_token(self, gql):
        make_user("jack")
        token = login(gql, "jack")
        api = GraphQLClient(Client(enforce_csrf_checks=True))
        result = api(self.FAVORITE, {"id": self.product_id()}, Authorization=f"Bearer {token}")
        assert result["data"]["addFavorite"]["isFavorite"] is True

    def test_anonymous_mutations_need_no_csrf_token(self):
        api = GraphQLClient(Client(enforce_csrf_checks=True))
        result = api("mutation($id: ID!) { trackProductView(productId: $id) { accepted } }", {"id": self.product_id()})
        assert result["data"]["trackProductView"]["accepted"] is True


def test_graphiql_sets_the_csrf_cookie_it_sends_back(client):
    response = client.get("/graphql/", headers={"Accept": "text/html"})
    assert response.status_code == 200 and "csrftoken" in response.cookies


def test_tokens_never_reach_the_logs(gql, caplog):
    import logging

    make_user("lena")
    with caplog.at_level(logging.DEBUG):
        token = login(gql, "lena")
        GraphQLClient(Client()).data(ME, Authorization=f"Bearer {token}")
        GraphQLClient(Client()).raw(ME, Authorization=f"Bearer {token}x")  # a refused one too
    assert caplog.records, "nothing was logged at all: the check would prove nothing"
    assert token not in caplog.text and token[12:] not in caplog.text
