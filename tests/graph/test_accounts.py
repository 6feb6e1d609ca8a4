"""Registering, logging in with a session or a token, CSRF, and token revocation."""

import asyncio

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
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
        ("bob", "bob@example.com", "123", "password", "PASSWORD_TOO_WEAK"),
        ("bob", "bob@example.com", "password", "password", "PASSWORD_TOO_WEAK"),
        ("bob", "not-an-email", PASSWORD, "email", "INVALID"),
        ("", "bob@example.com", PASSWORD, "username", "REQUIRED"),
        ("taken", "bob@example.com", PASSWORD, "username", "UNIQUE"),
        ("bad name!", "bob@example.com", PASSWORD, "username", "INVALID"),
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
    assert result["token"] is None and result["errors"][0]["code"] == "INVALID_CREDENTIALS"
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

    assert result == {"token": None, "errors": [{"code": "NOT_FOUND"}]}
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


class TestLoginLimits:
    """Login is limited per username-and-address and per address, in the API and the admin alike,
    in counters that flooding cannot reset."""

    LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token errors { code } } }"

    @pytest.fixture(autouse=True)
    def one_window(self, settings):
        from marketplace import ratelimit

        ratelimit.pin_clock(1_000_000.0)  # no minute boundary in the middle of a test
        settings.LOGIN_RATE_LIMIT = 2
        settings.LOGIN_ADDRESS_RATE_LIMIT = 0

    def attempt(self, address: str, username: str, password: str = "wrong") -> dict:
        return GraphQLClient(Client(REMOTE_ADDR=address))(self.LOGIN, {"u": username, "p": password})

    def test_a_username_from_one_address_is_limited(self):
        make_user("kim")
        assert [error_codes(self.attempt("10.0.0.3", "kim")) for _ in range(2)] == [[], []]
        refused = self.attempt("10.0.0.3", "kim", PASSWORD)  # even the right password now
        assert error_codes(refused) == ["RATE_LIMITED"] and "at most 2 a minute" in refused["errors"][0]["message"]

    def test_an_address_is_limited_across_usernames(self, settings):
        settings.LOGIN_ADDRESS_RATE_LIMIT = 3
        results = [error_codes(self.attempt("10.0.0.5", f"name{i}")) for i in range(4)]
        assert results == [[], [], [], ["RATE_LIMITED"]]

    def test_a_stranger_on_another_address_cannot_lock_the_user_out(self):
        make_user("kim")
        stranger = [error_codes(self.attempt("203.0.113.9", "kim")) for _ in range(5)]
        assert stranger[-1] == ["RATE_LIMITED"]  # the stranger is stopped ...
        own = self.attempt("10.0.0.3", "kim", PASSWORD)["data"]["login"]  # ... the user is not
        assert own["errors"] == [] and own["token"]

    def test_flooding_junk_usernames_does_not_reset_a_real_counter(self, settings):
        settings.RATE_LIMIT_KEYS = 50  # the table holds 50 keys: the flood below is 4 times that
        make_user("kim")
        assert [error_codes(self.attempt("10.0.0.3", "kim")) for _ in range(2)] == [[], []]
        for i in range(200):
            self.attempt(f"10.1.{i // 250}.{i % 250}", f"junk-{i}")
        assert error_codes(self.attempt("10.0.0.3", "kim", PASSWORD)) == ["RATE_LIMITED"]

    def test_the_admin_login_has_the_same_limits(self):
        make_user("root", is_staff=True, is_superuser=True)
        admin = Client(REMOTE_ADDR="10.0.0.7")
        for _ in range(2):
            wrong = admin.post("/admin/login/", {"username": "root", "password": "wrong"})
            assert wrong.status_code == 200 and "correct username and password" in wrong.content.decode()
        refused = admin.post("/admin/login/", {"username": "root", "password": PASSWORD})
        assert refused.status_code == 200 and "Too many login attempts" in refused.content.decode()
        assert "_auth_user_id" not in admin.session
        # the API shares the counter: the admin's guesses count against the API login too
        assert error_codes(self.attempt("10.0.0.7", "root", PASSWORD)) == ["RATE_LIMITED"]


def test_the_rate_limit_table_never_under_counts():
    from marketplace.ratelimit import HeavyKeyCounter

    table = HeavyKeyCounter(capacity=3)
    for _ in range(5):
        table.incr("real")
    for i in range(100):
        table.incr(f"junk-{i}")
    assert len(table) == 3  # bounded memory ...
    assert table.incr("real") >= 6  # ... and a count never drops below the truth, however hard the flood
    exact = HeavyKeyCounter(capacity=10)
    assert [exact.incr("a") for _ in range(3)] == [1, 2, 3]  # exact while there is room


class TestRegisterLimits:
    def test_register_is_rate_limited_per_address(self, settings):
        from marketplace import ratelimit

        ratelimit.pin_clock(1_000_000.0)
        settings.REGISTER_RATE_LIMIT = 2
        gql = GraphQLClient(Client(REMOTE_ADDR="10.0.0.8"))
        codes = [error_codes(gql(REGISTER, {"u": f"u{i}", "e": f"u{i}@example.com", "p": PASSWORD})) for i in range(3)]
        assert codes == [[], [], ["RATE_LIMITED"]]
        elsewhere = GraphQLClient(Client(REMOTE_ADDR="10.0.0.9"))
        assert elsewhere.data(REGISTER, {"u": "u9", "e": "u9@example.com", "p": PASSWORD})["register"]["errors"] == []
        assert sorted(get_user_model().objects.values_list("username", flat=True)) == ["u0", "u1", "u9"]

    def test_thirty_aliased_registrations_in_one_document_are_refused_before_running(self, gql):
        fields = " ".join(
            f'r{i}: register(username: "bulk{i}", email: "bulk{i}@example.com", password: "{PASSWORD}") '
            "{ errors { code } }"
            for i in range(30)
        )
        result = gql(f"mutation {{ {fields} }}")
        assert error_codes(result) == ["TOO_MANY_PASSWORD_MUTATIONS"] and result["data"] is None
        assert not get_user_model().objects.filter(username__startswith="bulk").exists()

    @pytest.mark.parametrize(
        "document",
        [
            'mutation { register(username: "a", email: "a@x.io", password: "p") { errors { code } } '
            'login(username: "a", password: "p") { errors { code } } }',
            'mutation { ...R ... on Mutation { b: register(username: "b", email: "b@x.io", password: "p") '
            '{ errors { code } } } } fragment R on Mutation { register(username: "a", email: "a@x.io", password: "p") '
            "{ errors { code } } }",
        ],
        ids=["login-and-register", "through-fragments"],
    )
    def test_any_two_password_mutations_are_refused(self, gql, document):
        assert error_codes(gql(document)) == ["TOO_MANY_PASSWORD_MUTATIONS"]


class LoopCheckingHasher(MD5PasswordHasher):
    """Fails the request if a password is hashed or checked on a thread running an event loop."""

    algorithm = "md5"

    def encode(self, password, salt):
        _refuse_event_loop()
        return super().encode(password, salt)

    def verify(self, password, encoded):
        _refuse_event_loop()
        return super().verify(password, encoded)


def _refuse_event_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise AssertionError("a password was hashed on the event loop")


def test_passwords_are_never_hashed_on_the_event_loop(gql, settings):
    settings.PASSWORD_HASHERS = ["tests.graph.test_accounts.LoopCheckingHasher"]
    created = gql.data(REGISTER, {"u": "olga", "e": "olga@example.com", "p": PASSWORD})["register"]
    assert created["errors"] == []
    assert gql.data(LOGIN, {"u": "olga", "p": PASSWORD})["login"]["errors"] == []
    assert gql.data(LOGIN, {"u": "olga", "p": "wrong"})["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    assert gql.data(LOGIN, {"u": "nobody", "p": "wrong"})["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
