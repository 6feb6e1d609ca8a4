"""``manage.py test_async_tracking``: the smoke test, the load test, the status, and bad arguments."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.live_server import database_url_for_tests
from tests.tracking.helpers import make_products
from tracking.apply import apply_events
from tracking.executor import TrackingStats
from tracking.management.commands.test_async_tracking import Command
from tracking.models import ActivityEvent, ProductMetrics
from tracking.process_stats import publish

COMMAND = "test_async_tracking"


def run(*args: str) -> str:
    out = StringIO()
    call_command(COMMAND, *args, stdout=out)
    return out.getvalue()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """The command in its own process on the test database: the real exit code and output."""
    env = {**os.environ, "DATABASE_URL": database_url_for_tests()}
    return subprocess.run(
        [sys.executable, "manage.py", COMMAND, *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- the smoke test ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_smoke_test_counts_one_view_and_says_ok(install_executor):
    # Given a product with 41 views
    first, _other = make_products(2)
    ProductMetrics.objects.filter(product=first).update(total_views=41)
    install_executor()

    # When the smoke test runs
    output = run()

    # Then it reports the view it counted, which is really there
    assert output.strip() == f"ok: product {first.pk} total_views 41 -> 42"
    assert ProductMetrics.objects.get(product=first).total_views == 42


@pytest.mark.django_db
def test_the_smoke_test_fails_without_a_product(install_executor):
    install_executor()
    with pytest.raises(CommandError, match="No active product") as failure:
        run()
    assert failure.value.returncode == 1


@pytest.mark.django_db
def test_the_smoke_test_fails_when_the_executor_refuses_the_event(install_executor):
    # Given an executor that has been stopped
    make_products(1)
    install_executor().shutdown(timeout=1)

    with pytest.raises(CommandError, match="refused") as failure:
        run()
    assert failure.value.returncode == 1


@pytest.mark.django_db(transaction=True)
def test_the_smoke_test_exits_0_from_the_command_line():
    [product] = make_products(1)

    result = run_cli()

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"ok: product {product.pk} total_views 0 -> 1")
    assert ProductMetrics.objects.get(product=product).total_views == 1


# --- the load test ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_load_test_measures_and_finds_the_counters_exact(install_executor):
    # Given 25 products
    make_products(25)
    install_executor()

    # When 2,000 events are offered from the default 4 threads
    output = run("--load-test", "--count", "2000")

    # Then it prints latency, throughput and an exact verdict
    assert "from 4 threads" in output
    assert re.search(r"latency per offer p50 [\d.]+ us, p99 [\d.]+ us", output), output
    assert re.search(r"throughput: [\d,]+ events/s", output), output
    assert "accepted 2,000, refused 0" in output
    assert "counters: exact" in output
    assert ActivityEvent.objects.count() == 2000


@pytest.mark.django_db(transaction=True)
def test_the_load_test_checks_only_the_accepted_events_when_the_queue_overflows(install_executor):
    # Given a queue of 50 events
    make_products(10)
    install_executor(max_queue=50, workers=1)

    # When 2,000 events are offered from 8 threads
    output = run("--load-test", "--count", "2000", "--threads", "8")

    # Then what was refused is reported, and what was accepted is counted exactly
    counts = re.search(r"accepted ([\d,]+), refused ([\d,]+)", output).groups()
    accepted, refused = (int(n.replace(",", "")) for n in counts)
    assert accepted + refused == 2000
    assert "counters: exact" in output
    assert ActivityEvent.objects.count() == accepted


@pytest.mark.django_db(transaction=True)
def test_the_load_test_fails_and_says_the_difference_when_events_are_lost(install_executor):
    # Given an executor that silently loses the last event of every batch
    make_products(5)

    def lossy_apply(events, batch_id):
        result = apply_events(events[:-1], batch_id=batch_id)
        result.applied += 1
        return result

    install_executor(write=lossy_apply, batch_size=100)

    # When the load test runs, it fails and says by how much the counters are off
    with pytest.raises(CommandError, match=r"NOT exact: .*difference -") as failure:
        run("--load-test", "--count", "500", "--threads", "2")
    assert failure.value.returncode == 1


@pytest.mark.django_db(transaction=True)
def test_the_load_test_exits_0_from_the_command_line():
    make_products(20)

    result = run_cli("--load-test", "--count", "2000")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "throughput:" in result.stdout
    assert "counters: exact" in result.stdout


# --- status and arguments ---------------------------------------------------------


@pytest.mark.django_db
def test_status_prints_every_statistic_of_the_servers_on_an_aligned_line():
    # Given a server process that published its figures (tracking.process_stats)
    publish(TrackingStats(enqueued=1234, processed=1200))

    lines = run("--status").splitlines()

    figures = [line for line in lines[1:] if len(line.split()) == 2]
    names = [line.split()[0] for line in figures]
    assert names == list(TrackingStats.__dataclass_fields__)
    assert "1234" in figures[names.index("enqueued")]
    assert len({len(line) for line in figures}) == 1  # values right-aligned in one column


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "10"], "--count and --threads belong to --load-test"),
        (["--load-test"], "--load-test needs --count"),
        (["--load-test", "--count", "0"], "0 must be 1 or more"),
        (["--load-test", "--count", "many"], "'many' is not a whole number"),
        (["--load-test", "--count", "10", "--threads", "0"], "0 must be 1 or more"),
        (["--load-test", "--status", "--count", "10"], "not allowed with argument"),
        (["--status", "--threads", "2"], "--count and --threads belong to --load-test"),
        (["--timeout", "-1"], "-1 must be more than 0"),
        (["--frobnicate"], "unrecognized arguments"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        Command().run_from_argv(["manage.py", COMMAND, *args])

    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_bad_arguments_exit_2_from_the_command_line():
    result = subprocess.run(
        [sys.executable, "manage.py", COMMAND, "--load-test", "--count", "-5"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "-5 must be 1 or more" in result.stderr
