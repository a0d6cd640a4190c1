"""Numbers and times as providers really send them: kluster.ai, for one, sends timestamps as strings."""

from __future__ import annotations

import math
from datetime import datetime


def as_int(value) -> int | None:
    """An integer from an int, a whole float, or a string of one ("42", " 42 ", "42.0"); else None."""
    if type(value) is int:
        return value
    if type(value) is str:
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def timestamp(value) -> int | None:
    """Epoch seconds from a number, a numeric string ("1733832777") or an ISO 8601 string."""
    if type(value) is str:
        text = value.strip()
        try:
            value = float(text)
        except ValueError:
            try:
                return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
            except ValueError:
                return None
    if type(value) in (int, float) and math.isfinite(value):
        return int(value)
    return None


def as_dict(value) -> dict:
    """`value` when it is an object, else an empty one: an API's field of another shape reads as absent."""
    return value if isinstance(value, dict) else {}


def as_list(value) -> list:
    """`value` when it is a list, else an empty one (see as_dict)."""
    return value if isinstance(value, list) else []
