"""HandoffLedger: a batch the broker accepted is watched until a worker has applied it.

"Applied" is read from the database (the batch id in ``tracking_appliedbatch``, as
``apply_events`` writes it), so these tests write real ids and step a clock by hand.
"""

from __future__ import annotations

import pytest

from tests.factories import make_product
from tracking.apply import apply_events
from tracking.events import TrackingEvent
from tracking.handoff import MAX_RESEND_WAIT, MAX_SENDS, HandoffLedger
from tracking.models import EventKind

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def views(product, n: int) -> list[TrackingEvent]:
    return [TrackingEvent(EventKind.VIEW, product.pk) for _ in range(n)]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ledger(clock):
    return HandoffLedger(confirm_after=10, max_events=1000, clock=clock)


def test_a_batch_a_worker_applied_is_forgotten(ledger, clock):
    product = make_product()
    ledger.record("b-1", views(product, 3))
    assert ledger.unconfirmed == 3

    apply_events(views(product, 3), batch_id="b-1")  # what the worker does
    clock.now += 60

    assert ledger.check() == []
    assert ledger.unconfirmed == 0


def test_an_overtaken_batch_is_published_again_after_the_wait(ledger, clock):
    # Given two batches published one after the other, and only the second applied
    product = make_product()
    lost = views(product, 2)
    ledger.record("b-lost", lost)
    clock.now += 1
    ledger.record("b-next", views(product, 4))
    apply_events(views(product, 4), batch_id="b-next")

    # Then the first is not resent before the wait, and is after it
    clock.now += 8
    assert ledger.check() == []
    clock.now += 2
    assert ledger.check() == [("b-lost", lost)]
    assert ledger.unconfirmed == 2


def test_a_batch_behind_nothing_waits_without_overtaking_evidence(ledger, clock):
    # Given a worker fleet that is down: nothing is confirmed
    product = make_product()
    ledger.record("b-1", views(product, 1))
    clock.now += 1
    ledger.record("b-2", views(product, 1))
    clock.now += 30

    # Then only the newest batch is resent (nothing could overtake it); older ones wait in
    # the broker's queue instead of being copied
    assert [batch_id for batch_id, _ in ledger.check()] == ["b-2"]


def test_each_resend_waits_twice_as_long(ledger, clock):
    product = make_product()
    ledger.record("b-1", views(product, 1))
    clock.now += 10
    assert len(ledger.check()) == 1
    ledger.record("b-1", views(product, 1))  # the executor published it again

    clock.now += 19
    assert ledger.check() == []
    clock.now += 1
    assert len(ledger.check()) == 1
    assert ledger.unconfirmed == 1  # one batch, however often it was published


def test_the_wait_stops_growing_at_the_visibility_timeout(clock):
    ledger = HandoffLedger(confirm_after=100, max_events=10, clock=clock)
    ledger.record("b-1", views(make_product(), 1))
    for _ in range(4):
        ledger.record("b-1", [], resend=True)  # published again: 5 sends, 1,600 s uncapped
    clock.now += MAX_RESEND_WAIT
    assert len(ledger.check()) == 1


def test_past_the_limit_the_oldest_batches_are_released(clock):
    ledger = HandoffLedger(confirm_after=10, max_events=5, clock=clock)
    product = make_product()
    ledger.record("b-1", views(product, 3))
    ledger.record("b-2", views(product, 3))

    assert (ledger.unconfirmed, ledger.released) == (3, 3)
    clock.now += 10
    assert [batch_id for batch_id, _ in ledger.check()] == ["b-2"]


def test_many_batches_are_checked_in_chunks(clock, django_assert_num_queries):
    ledger = HandoffLedger(confirm_after=10, max_events=10_000, clock=clock)
    product = make_product()
    for n in range(1200):
        ledger.record(f"b-{n}", views(product, 1))
    apply_events(views(product, 1), batch_id="b-1199")

    with django_assert_num_queries(3):  # 500 ids per query
        ledger.check()
    assert ledger.unconfirmed == 1199


def test_a_batch_handed_out_for_a_resend_is_not_handed_out_again_until_it_reached_the_broker(ledger, clock):
    # Given a due batch whose resend is stuck (the broker is down)
    ledger.record("b-1", views(make_product(), 1))
    clock.now += 10
    assert len(ledger.check()) == 1

    # Then later checks do not queue more copies of it
    clock.now += 60
    assert ledger.check() == []

    # And once the copy reached the broker, or failed, the waiting starts again
    ledger.record("b-1", [], resend=True)
    clock.now += 19
    assert ledger.check() == []
    clock.now += 1
    assert len(ledger.check()) == 1
    ledger.resend_failed("b-1")
    clock.now += 39
    assert ledger.check() == []
    clock.now += 1
    assert len(ledger.check()) == 1


def test_a_resend_of_a_batch_confirmed_meanwhile_is_not_watched_again(ledger, clock):
    product = make_product()
    ledger.record("b-1", views(product, 2))
    clock.now += 10
    assert len(ledger.check()) == 1
    apply_events(views(product, 2), batch_id="b-1")  # the original copy arrives after all
    assert ledger.check() == [] and ledger.unconfirmed == 0

    ledger.record("b-1", views(product, 2), resend=True)  # the copy reaches Redis afterwards

    assert ledger.unconfirmed == 0


def test_overtaking_is_judged_by_the_first_send_not_by_a_later_copy(ledger, clock):
    # Given batch A (sent at t) overtaken by Z (t+1, applied) and published again at t+10,
    # while B and C were published at t+3 and t+4
    product = make_product()
    ledger.record("a", views(product, 1))
    clock.now += 1
    ledger.record("z", views(product, 1))
    apply_events(views(product, 1), batch_id="z")
    clock.now += 2
    ledger.record("b", views(product, 1))
    clock.now += 1
    ledger.record("c", views(product, 1))
    clock.now += 6
    assert [batch_id for batch_id, _ in ledger.check()] == ["a"]
    ledger.record("a", views(product, 1), resend=True)

    # When A's original copy is applied
    apply_events(views(product, 1), batch_id="a")

    # Then B, sent after A's first send, is not taken for overtaken: only C, the newest, is due
    clock.now += 10
    assert [batch_id for batch_id, _ in ledger.check()] == ["c"]


def test_a_resend_keeps_its_batch_in_the_order_of_first_sends(ledger, clock):
    # Given A, overtaken and copied, and C published after A's first send and then lost
    product = make_product()
    ledger.record("a", views(product, 1))
    clock.now += 1
    ledger.record("z", views(product, 1))
    apply_events(views(product, 1), batch_id="z")
    clock.now += 9
    assert [batch_id for batch_id, _ in ledger.check()] == ["a"]
    clock.now += 1
    ledger.record("c", views(product, 1))
    ledger.record("a", views(product, 1), resend=True)  # A's copy reaches Redis after C

    # Then C is still the newest batch, and is published again after its wait
    clock.now += 10
    assert [batch_id for batch_id, _ in ledger.check()] == ["c"]


def test_a_batch_no_worker_ever_applies_is_given_up_after_max_sends(clock):
    ledger = HandoffLedger(confirm_after=1, max_events=100, clock=clock)
    ledger.record("b-poison", views(make_product(), 2))
    for _ in range(MAX_SENDS - 1):
        clock.now += MAX_RESEND_WAIT
        assert [batch_id for batch_id, _ in ledger.check()] == ["b-poison"]
        ledger.record("b-poison", [], resend=True)

    clock.now += MAX_RESEND_WAIT
    assert ledger.check() == []
    assert (ledger.unconfirmed, ledger.released) == (0, 2)
