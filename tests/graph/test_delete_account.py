"""deleteAccount: a shopper erases their personal data; the sellers keep their books and their counters."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client

from graph.ids import global_id
from marketplace import ratelimit, sort_keys
from marketplace.models import ApiToken, Cart, Favorite, Order, Product, ProductReview
from marketplace.services import privacy, reviews
from tests.factories import make_product, make_review, make_user
from tests.helpers import GraphQLClient, error_codes
from tracking.models import ActivityEvent, DailyMetrics, EventKind, HourlyMetrics, ProductMetrics
from tracking.reconcile import find_drift
from tracking.tracker import ProductTracker

PASSWORD = "correct-horse-battery-9"
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token errors { code } } }"
DELETE = "mutation($p: String!) { deleteAccount(password: $p) { deleted errors { field code message } } }"
ADD = "mutation($id: ID!, $q: Int!) { addToCart(productId: $id, quantity: $q) { errors { code } } }"
FAVORITE = "mutation($id: ID!) { addFavorite(productId: $id) { errors { code } } }"
VIEW = "mutation($id: ID!) { trackProductView(productId: $id) { accepted } }"
CHECKOUT = 'mutation { checkout(idempotencyKey: "alice-key-1") { order { id } errors { code } } }'
ME = "{ me { username } }"


def logged_in(user) -> tuple[GraphQLClient, str]:
    gql = GraphQLClient(Client())
    result = gql.data(LOGIN, {"u": user.username, "p": PASSWORD})["login"]
    assert result["errors"] == []
    return gql, result["token"]


def pid(product) -> str:
    return global_id("Product", product.pk)


def counters_and_buckets() -> dict:
    """Every product counter and every metric bucket, as a seller could read them."""
    skip = {"updated_at", "id"}
    return {
        model.__name__: sorted(tuple(v for k, v in row.items() if k not in skip) for row in model.objects.values())
        for model in (ProductMetrics, HourlyMetrics, DailyMetrics)
    }


@pytest.fixture
def alice():
    return make_user("alice-erasure-story", first_name="Alice", last_name="Liddell")


@pytest.mark.django_db(transaction=True)
def test_an_erased_shopper_leaves_no_personal_data_and_the_counters_do_not_move(alice, tracking_executor):
    # Given a shopper who viewed, favorited, reviewed, bought, and left a line in the cart
    mug, kettle = make_product(stock=10), make_product(stock=10)
    gql, token = logged_in(alice)
    session_key = gql.client.session.session_key
    for product in (mug, kettle):
        assert gql.data(VIEW, {"id": pid(product)})["trackProductView"]["accepted"]
        assert gql.data(FAVORITE, {"id": pid(product)})["addFavorite"]["errors"] == []
    gql.data(ADD, {"id": pid(mug), "q": 2})
    assert gql.data(CHECKOUT)["checkout"]["errors"] == []
    gql.data(ADD, {"id": pid(kettle), "q": 1})
    reviews.add_review(user=alice, product=mug, rating=5, body="Alice from Oxford loves it")
    make_review(kettle, rating=2)  # someone else's review stays
    assert tracking_executor.flush(10)
    # and the hourly and daily buckets her events went into (written by the tracking batches)
    assert HourlyMetrics.objects.filter(product=mug, views=1, unique_viewers=1, sales=2).exists()
    assert DailyMetrics.objects.filter(product=mug, views=1, unique_viewers=1, sales=2).exists()
    before = counters_and_buckets()
    activity = ActivityEvent.objects.count()
    order = Order.objects.get(user=alice)

    # When she deletes her account
    result = gql.data(DELETE, {"p": PASSWORD})["deleteAccount"]
    assert tracking_executor.flush(10)

    # Then it is erased
    assert result == {"deleted": True, "errors": []}
    erased = get_user_model().objects.get(pk=alice.pk)
    assert erased.username.startswith("deleted-") and (erased.email, erased.first_name, erased.last_name) == (
        "",
        "",
        "",
    )
    assert not erased.is_active and not erased.has_usable_password()
    assert not ApiToken.objects.filter(user=erased).exists()
    assert not Favorite.objects.filter(user=erased).exists() and not Cart.objects.filter(user=erased).exists()
    assert not ProductReview.objects.filter(user=erased).exists()
    # and her activity is kept without her
    assert ActivityEvent.objects.count() == activity
    assert not ActivityEvent.objects.filter(user=erased).exists()
    assert not ActivityEvent.objects.filter(visitor_key=session_key).exists()
    # and the seller's books keep the order and its lines, without her key
    order.refresh_from_db()
    assert (order.user_id, order.idempotency_key, order.items.get().quantity) == (alice.pk, None, 2)
    # and no counter nor bucket moved; ratings follow the reviews; reconcile finds nothing to repair
    assert counters_and_buckets() == before
    assert Product.objects.get(pk=mug.pk).rating_count == 0 and sort_keys.rating_drift() == []
    assert find_drift() == []
    # and nothing in the database still names her
    dump = _dump()
    for trace in ("alice-erasure-story", "Liddell", "Oxford", session_key):
        assert trace not in dump
    # and her session, token and password no longer work
    assert gql.data(ME) == {"me": None}
    assert GraphQLClient(Client()).raw(ME, Authorization=f"Bearer {token}").status_code == 401
    assert GraphQLClient(Client()).data(LOGIN, {"u": "alice-erasure-story", "p": PASSWORD})["login"]["errors"] == [
        {"code": "INVALID_CREDENTIALS"}
    ]


def _dump() -> str:
    from io import StringIO

    out = StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_a_wrong_password_is_a_user_error_and_erases_nothing(alice):
    gql, _ = logged_in(alice)
    result = gql.data(DELETE, {"p": "not-my-password"})["deleteAccount"]
    assert result["deleted"] is False
    assert [(e["field"], e["code"]) for e in result["errors"]] == [("password", "WRONG_PASSWORD")]
    assert gql.data(ME) == {"me": {"username": "alice-erasure-story"}}


@pytest.mark.django_db
def test_nobody_deletes_an_account_without_logging_in():
    assert error_codes(GraphQLClient(Client())(DELETE, {"p": PASSWORD})) == ["UNAUTHENTICATED"]


@pytest.mark.django_db
def test_password_guesses_are_rate_limited_like_logins(alice, settings):
    ratelimit.pin_clock(1_000_000.0)
    settings.LOGIN_RATE_LIMIT = 2
    gql, _ = logged_in(alice)
    codes = [gql(DELETE, {"p": "guess"})["data"]["deleteAccount"]["errors"][0]["code"] for _ in range(2)]
    refused = gql(DELETE, {"p": PASSWORD})  # even the right password now
    assert codes == ["WRONG_PASSWORD", "WRONG_PASSWORD"] and error_codes(refused) == ["RATE_LIMITED"]
    assert get_user_model().objects.get(pk=alice.pk).is_active


@pytest.mark.django_db
def test_one_document_cannot_hold_two_password_mutations(alice):
    gql, _ = logged_in(alice)
    document = (
        f'mutation {{ a: deleteAccount(password: "x") {{ deleted }} '
        f'b: deleteAccount(password: "{PASSWORD}") {{ deleted }} }}'
    )
    assert error_codes(gql(document)) == ["TOO_MANY_PASSWORD_MUTATIONS"]
    assert get_user_model().objects.get(pk=alice.pk).is_active


@pytest.mark.django_db
def test_a_seller_deactivates_their_products_first(alice):
    # Given a seller with a product on sale, which a buyer has ordered
    lamp = make_product(seller=alice, stock=5)
    gql, _ = logged_in(alice)

    # When she deletes her account, she is asked to deactivate her products first
    refused = gql.data(DELETE, {"p": PASSWORD})["deleteAccount"]
    assert refused["deleted"] is False and [e["code"] for e in refused["errors"]] == ["HAS_ACTIVE_PRODUCTS"]
    assert get_user_model().objects.get(pk=alice.pk).is_active

    # And once they are deactivated, the account goes; the product stays, inactive, for the books
    gql.data("mutation($id: ID!) { deactivateProduct(productId: $id) { errors { code } } }", {"id": pid(lamp)})
    assert gql.data(DELETE, {"p": PASSWORD})["deleteAccount"] == {"deleted": True, "errors": []}
    lamp.refresh_from_db()
    assert (lamp.seller_id, lamp.is_active) == (alice.pk, False)


@pytest.mark.django_db
def test_staff_accounts_are_closed_by_an_administrator():
    staff = make_user(is_staff=True)
    gql, _ = logged_in(staff)
    assert [e["code"] for e in gql.data(DELETE, {"p": PASSWORD})["deleteAccount"]["errors"]] == ["STAFF_ACCOUNT"]


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_success_changes_nothing(alice, tracking_executor):
    # Given an account deleted a moment ago, whose client did not see the answer
    mug = make_product()
    gql, token = logged_in(alice)
    gql.data(FAVORITE, {"id": pid(mug)})
    assert gql.data(DELETE, {"p": PASSWORD})["deleteAccount"]["deleted"]
    assert tracking_executor.flush(10)
    before = (counters_and_buckets(), get_user_model().objects.filter(pk=alice.pk).values().get())

    # When it sends the mutation again, with the session or with the token
    again = gql(DELETE, {"p": PASSWORD})
    with_token = GraphQLClient(Client()).raw(DELETE, {"p": PASSWORD}, Authorization=f"Bearer {token}")

    # Then neither finds an account to act as, and nothing changes
    assert error_codes(again) == ["UNAUTHENTICATED"] and with_token.status_code == 401
    assert tracking_executor.flush(10)
    assert (counters_and_buckets(), get_user_model().objects.filter(pk=alice.pk).values().get()) == before
    assert find_drift() == []


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deletes_erase_once(alice, tracking_executor):
    # Given a shopper with a favorite, signed in on two devices that both delete the account
    mug = make_product()
    gql, _ = logged_in(alice)
    gql.data(FAVORITE, {"id": pid(mug)})
    assert tracking_executor.flush(10)
    results, failures = [], []

    def delete() -> None:
        try:
            user = get_user_model().objects.get(pk=alice.pk)  # each request loads its user
            results.append(privacy.delete_account(user=user, password=PASSWORD, address="10.0.0.1"))
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=delete) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then one erased, the other found it done; the favorite it removed is kept in the counter once
    assert failures == [] and sorted(results) == [False, True]
    assert ProductMetrics.objects.get(product=mug).total_favorites == 1
    assert find_drift() == []


@pytest.mark.django_db
def test_events_queued_before_the_erasure_are_counted_without_the_user(alice):
    # Given a view queued while she was signed in, applied after she deleted her account
    mug = make_product()
    privacy.delete_account(user=alice, password=PASSWORD, address="10.0.0.1")

    ProductTracker.track_product_view(mug.pk, user_id=alice.pk, visitor_key="her-session-key")

    # Then it counts, but names nobody
    row = ActivityEvent.objects.get(product=mug, kind=EventKind.VIEW)
    assert (row.user_id, row.visitor_key) == (None, None)
    assert ProductMetrics.objects.get(product=mug).total_views == 1


@pytest.mark.django_db
def test_deleting_a_user_row_with_orders_is_still_refused(alice):
    """Why deleteAccount anonymises: orders protect their buyer's row, so the books keep their orders."""
    from django.db.models import ProtectedError

    Order.objects.create(user=alice)
    with pytest.raises(ProtectedError):
        alice.delete()
