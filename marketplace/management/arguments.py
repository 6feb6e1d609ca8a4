"""argparse types shared by the management commands: a bad value becomes argparse's
usage error (exit code 2) with a message naming it."""

from __future__ import annotations

import argparse
import math


def _number(value: str, kind: type, label: str):
    try:
        number = kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not {label}") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not {label}")
    return number


def at_least(minimum: float, kind: type = int):
    """An argparse type: a whole number (or, with ``kind=float``, a number) of ``minimum`` or more."""
    label = "a whole number" if kind is int else "a number"

    def parse(value: str):
        number = _number(value, kind, label)
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be {minimum:g} or more")
        return number

    parse.__name__ = f"{kind.__name__}>={minimum:g}"
    return parse


def more_than(minimum: float, kind: type = float):
    """An argparse type: a number strictly greater than ``minimum``."""
    label = "a whole number" if kind is int else "a number"

    def parse(value: str):
        number = _number(value, kind, label)
        if not number > minimum:
            raise argparse.ArgumentTypeError(f"{value} must be more than {minimum:g}")
        return number

    parse.__name__ = f"{kind.__name__}>{minimum:g}"
    return parse


positive_int = at_least(1)
non_negative_int = at_least(0)
non_negative_float = at_least(0, float)
positive_float = more_than(0, float)
