"""Global IDs: base64 of ``Type:pk``, the Relay convention (strawberry's helpers)."""

from __future__ import annotations

from strawberry.relay import from_base64, to_base64

from graph.errors import BadUserInput


def global_id(type_name: str, pk: int) -> str:
    return to_base64(type_name, pk)


def decode_id(value: str, expected_type: str, *, field: str = "id") -> int:
    """The primary key inside a global ID of ``expected_type``; BAD_USER_INPUT otherwise.

    A plain integer is accepted too: scripts and dashboards often hold database ids.
    """
    if isinstance(value, int):
        return _positive(value, field)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        if len(value) > 19:  # beyond a 64-bit id, and int() refuses over 4,300 digits
            raise BadUserInput(f"{field}: the ID is out of range.", field=field)
        return _positive(int(value), field)
    try:
        type_name, pk = from_base64(value)
    except Exception:
        raise BadUserInput(f"{field}: {value!r} is not a valid {expected_type} ID.", field=field) from None
    if type_name != expected_type:
        raise BadUserInput(f"{field}: the ID is a {type_name} ID, expected a {expected_type} ID.", field=field)
    try:
        if len(pk) > 19:
            raise ValueError("too long")
        return _positive(int(pk), field)
    except ValueError:
        raise BadUserInput(f"{field}: {value!r} is not a valid {expected_type} ID.", field=field) from None


def _positive(pk: int, field: str) -> int:
    if pk <= 0 or pk > 2**63 - 1:
        raise BadUserInput(f"{field}: {pk} is out of range.", field=field)
    return pk
