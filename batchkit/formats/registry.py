"""Every format by name, in the order detection tries them."""

from __future__ import annotations

import copyreg

from ..errors import UsageError
from .anthropic import Anthropic
from .base import Dialect
from .bedrock import Bedrock
from .custom_body import CustomBody
from .gemini import Gemini
from .openai import OpenAI
from .vertex import Vertex

# In detection order: the first whose `looks_like` accepts a line names its format.
DIALECTS: dict[str, Dialect] = {
    d.name: d for d in (Bedrock(), Anthropic(), Gemini(), Vertex(), OpenAI(), CustomBody())
}
OPENAI = DIALECTS["openai"]


def get_dialect(name: str | Dialect) -> Dialect:
    """The dialect named (a Dialect is itself)."""
    if isinstance(name, Dialect):
        return name
    try:
        return DIALECTS[name]
    except KeyError:
        raise UsageError(f"unknown dialect {name!r}; choose one of: {', '.join(sorted(DIALECTS))}") from None


def _by_name(dialect: Dialect):
    return get_dialect, (dialect.name,)


# A dialect crosses to `--jobs` workers by name, so it arrives as the same object there: `is OPENAI` and
# the caches keyed by a dialect (the fast path's decoders) hold in the worker too.
for _dialect in DIALECTS.values():
    copyreg.pickle(type(_dialect), _by_name)


def detect(obj) -> Dialect | None:
    """The dialect a parsed line is written in, or None when it looks like none of them."""
    if type(obj) is not dict:
        return None
    for dialect in DIALECTS.values():
        if dialect.looks_like(obj):
            return dialect
    return None


RESULT_MEMBERS = frozenset().union(*(d.result_members for d in DIALECTS.values()))


def is_result_line(obj: dict) -> bool:
    """Whether a parsed line is an answer (a result line of any format), not a request: a line of no
    request format with a result's member, or a request line that its format's results echo with the
    answer added (Vertex, Bedrock)."""
    if RESULT_MEMBERS.isdisjoint(obj):  # most lines: no format needs detecting
        return False
    found = detect(obj)
    return found is None or found.echoes_request


# OpenAI's result line is the catch-all (any line with a custom_id), so it is tried last.
RESULT_READERS = (*(d for d in DIALECTS.values() if d is not OPENAI), OPENAI)


def result_line(obj: dict) -> dict:
    """A result line of any format as the OpenAI output line (an OpenAI line, or one of no known format, as
    it is)."""
    for dialect in RESULT_READERS:
        if dialect.holds_result(obj):
            return dialect.result(obj)
    return obj
