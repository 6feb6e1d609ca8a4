"""The benchmark settings without any middleware: the floor the request-overhead goals
compare the product's middleware stack against (only ``/bench/bare/`` is measured on it)."""

from tests.benchmarks.settings import *  # noqa: F403

MIDDLEWARE: list[str] = []
