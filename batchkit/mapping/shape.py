"""The answers of a map, shaped like its input: a list (None where a row has no answer, the reasons beside
it), the input table with answer columns, one row per input with each target's columns side by side
(wide), or one row per input and target (long)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..build import row_number_from_id
from ..results import OK, result_column_names
from .trip import TargetResult

if TYPE_CHECKING:
    import pandas as pd

ANSWER = "answer"
TARGET_FAILED = "target_failed"  # the status of every row of a target that gave no answers
SKIPPED = "skipped"  # the status of a row on_empty="skip" left out: no request was sent for it
PROMPT = "prompt"  # the column a list of strings becomes


def rows_of(data) -> tuple[object, pd.DataFrame]:
    """(what build_requests reads, the input as a table): a DataFrame as it is (its index too: the answers
    keep the labels of their rows), a list of dicts as rows, a list of strings as rows of one `prompt` column
    (None an empty cell)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data, data
    items = list(data)
    if any(isinstance(item, str) for item in items) and all(
        item is None or isinstance(item, str) for item in items
    ):
        rows = [{PROMPT: item} for item in items]
        return rows, pd.DataFrame({PROMPT: items})
    return items, pd.DataFrame(items)


def _columns(result: TargetResult, rows: int) -> dict[str, list]:
    """One target's columns for every input row: answer (and answer.FIELD, parse_error for structured
    answers), status, error, usage and cost."""
    if result.merged is None:
        reason = str(result.error)
        return {ANSWER: [None] * rows, "status": [TARGET_FAILED] * rows, "error": [reason] * rows,
                "prompt_tokens": [None] * rows, "completion_tokens": [None] * rows, "cost": [None] * rows}  # fmt: skip
    merged = _by_row(result.merged.frame.assign(cost=result.cost), rows)
    columns = {ANSWER: list(merged["content"])}
    for name in merged.columns:
        if name.startswith(f"{ANSWER}.") or name == "parse_error":
            columns[name] = merged[name]
    columns["status"] = list(merged["status"])
    columns["error"] = [_reason(row) for row in merged.itertuples(index=False)]
    columns["prompt_tokens"] = merged["prompt_tokens"]
    columns["completion_tokens"] = merged["completion_tokens"]
    columns["cost"] = merged["cost"]
    return {name: getattr(values, "array", values) for name, values in columns.items()}  # typed stay typed


def _by_row(merged: pd.DataFrame, rows: int) -> pd.DataFrame:
    """The merge (one row per request) with one row per input row: a row that on_empty="skip" left out
    has status SKIPPED, the reason, and nothing else."""
    if len(merged) == rows:
        return merged
    frame = merged.set_axis([row_number_from_id(i) - 1 for i in merged["custom_id"]]).reindex(range(rows))
    left_out = frame["status"].isna()
    for name, value in (("status", SKIPPED), ("error_message", "an empty cell its request uses left it out")):
        frame[name] = frame[name].astype(object).where(~left_out, value)
    return frame


def _reason(row) -> str | None:
    """Why a merged row has no answer (None when it has one)."""
    if row.status == OK:
        return getattr(row, "parse_error", None)
    return ": ".join(str(part) for part in (row.status, row.error_code, row.error_message) if _present(part))


def _present(value) -> bool:
    import pandas as pd

    return value is not None and value is not pd.NA and value == value


def with_answers(table: pd.DataFrame, result: TargetResult, prefix: str = "") -> pd.DataFrame:
    """`table` with one target's columns after its own (named PREFIX.answer, …, or answer, … alone; one
    the table has already is renamed as merge renames it, `answer_result`)."""
    import pandas as pd

    columns = {f"{prefix}{name}": values for name, values in _columns(result, len(table)).items()}
    renamed = result_column_names(list(columns), set(map(str, table.columns)))
    columns = {renamed.get(name, name): values for name, values in columns.items()}
    return pd.concat([table, pd.DataFrame(columns, index=table.index)], axis=1)


def wide(table: pd.DataFrame, results: list[TargetResult]) -> pd.DataFrame:
    """One row per input row; each target's columns named LABEL.answer, LABEL.status, …"""
    for result in results:
        table = with_answers(table, result, f"{result.target.label}.")
    return table


def long(table: pd.DataFrame, results: list[TargetResult]) -> pd.DataFrame:
    """One row per input row and target, with a `target` column (the label) and the target's columns; each
    row keeps its input row's label."""
    import pandas as pd

    parts = [with_answers(table.assign(target=result.target.label), result) for result in results]
    return pd.concat(parts)


class Answers(list):
    """The answers in input order: the text (or, for a response schema, the parsed object), None where a
    row has none; `errors` maps each such row's index to why; `result` is the round trip's TargetResult
    (its merge, report, batches and costs)."""

    def __init__(self, values: list, errors: dict[int, str], result: TargetResult):
        super().__init__(values)
        self.errors = errors
        self.result = result


def answers(result: TargetResult, rows: int, structured: bool) -> Answers:
    columns = _columns(result, rows)
    fields = [name for name in columns if name.startswith(f"{ANSWER}.")]
    values, errors = [], {}
    for index in range(rows):
        if columns["error"][index] is not None or columns["status"][index] != OK:
            values.append(None)
            errors[index] = columns["error"][index] or columns["status"][index]
        elif structured:
            values.append({name.removeprefix(f"{ANSWER}."): _plain(columns[name][index]) for name in fields})
        else:
            values.append(columns[ANSWER][index])
    return Answers(values, errors, result)


def _plain(value):
    return value if _present(value) else None


@dataclass
class MapResult:
    """Every target's round trip over the same rows: `wide()` / `long()` tables, and `failed`, the targets
    that gave no answers with why."""

    table: pd.DataFrame
    results: list[TargetResult]

    @property
    def failed(self) -> dict[str, str]:
        return {r.target.label: str(r.error) for r in self.results if r.failed}

    def wide(self) -> pd.DataFrame:
        return wide(self.table, self.results)

    def long(self) -> pd.DataFrame:
        return long(self.table, self.results)
