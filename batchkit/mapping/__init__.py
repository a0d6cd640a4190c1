"""`batchkit.map`: prompts in, answers out, to one model or fanned out to several. `targets` (where the rows
go), `trip` (one target's round trip through the public steps: build, convert, validate, estimate,
submit or queue, wait, download, merge), `shape` (answers shaped like the input: a list, the table with
answer columns, wide or long), `api` (`map` and `fan_out`)."""

from .api import fan_out, map, steps_of  # noqa: A004
from .shape import Answers, MapResult
from .targets import MapTarget, parse_target, targets_of
from .trip import Steps, TargetResult, round_trip

__all__ = [
    "Answers",
    "MapResult",
    "MapTarget",
    "Steps",
    "TargetResult",
    "fan_out",
    "map",
    "parse_target",
    "round_trip",
    "steps_of",
    "targets_of",
]
