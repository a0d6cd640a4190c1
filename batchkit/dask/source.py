"""`merge --source` on Dask: the rows of a partitioned source table with the merged result columns after
them, as `merge_results(source=...)` gives them: a request finds its row by the id column's cell text
(exactly as build read it) or by the row number in its generated id, the first row with a key wins,
and result columns that clash with the source's are renamed (`result_column_names`).

A hash join of the source's keys and the merged rows by custom_id (`buckets`), then each source
partition written with its rows' results."""

from __future__ import annotations

from pathlib import Path

from ..build import make_id
from ..errors import UsageError
from ..results import MergeReport, result_column_names
from ..tables import column_values, id_texts, read_table
from .buckets import put, spread, take
from .partitions import first_rows, frames, row_count, sources, table_name


def attach_source(on, source, id_column, id_prefix: str, parts: list[str], scratch: Path, buckets: int,
                  report: MergeReport) -> Path:  # fmt: skip
    """A folder of the source's partitions, each with the merged result columns (of the Parquet files
    `parts`) after its rows; what the report says of the source is filled in."""
    import pandas as pd

    partitions = sources(source, on)
    sizes = on.gather(on.map(row_count, partitions, input_format=None, pure=False))
    on.gather(on.map(_source_keys, partitions, range(len(partitions)), first_rows(sizes), id_column=id_column,
                     id_prefix=id_prefix, scratch=scratch, buckets=buckets, pure=False))  # fmt: skip
    on.gather(on.map(_merged_rows, parts, range(len(parts)), scratch=scratch, buckets=buckets, pure=False))
    pieces = on.gather(on.map(_join_source_bucket, range(buckets), scratch=scratch, pure=False))
    columns = list(pd.read_parquet(parts[0]).columns) if parts else []
    staging = scratch / "sourced-out"
    staging.mkdir()
    out = [str(staging / f"part-{i:05d}.parquet") for i in range(len(partitions))]
    on.gather(on.map(_write_source_part, partitions, range(len(partitions)), out, scratch=scratch,
                     columns=columns, pure=False))  # fmt: skip
    report.source = table_name(source)
    report.source_rows = sum(sizes)
    report.requests_without_source_row = [c for _o, c in sorted(x for p in pieces for x in p["without_row"])]
    report.source_rows_without_request = report.source_rows - sum(p["rows_with_request"] for p in pieces)
    return staging


def _source_keys(
    source, index: int, first_row: int, id_column, id_prefix: str, scratch: Path, buckets: int
) -> int:
    """A source partition's keys — the id column's cell text, exactly as build read it, or the generated
    id of each row — bucketed with where their row is."""
    import pandas as pd

    keys: list = []
    for frame in [frames(source, None)] if hasattr(source, "iloc") else frames(source, None):
        if id_column is not None and id_column not in frame.columns:
            raise UsageError(f"--id-column {id_column!r} is not a column of the source; its columns are: "
                             + ", ".join(map(str, frame.columns)))  # fmt: skip
        keys += id_texts(column_values(frame[id_column]))[0] if id_column is not None else [None] * len(frame)
    if id_column is None:
        keys = [make_id(first_row + i, id_prefix) for i in range(len(keys))]
    table = pd.DataFrame({"key": keys, "_part": index, "_pos": range(len(keys))}).dropna(subset=["key"])
    put(_frame_pieces(table, "key", buckets), scratch / "source", f"p{index:05d}")
    return len(keys)


def _merged_rows(target: str, index: int, scratch: Path, buckets: int) -> None:
    import pandas as pd

    rows = pd.read_parquet(target)
    rows["_order"] = [(index, i) for i in range(len(rows))]
    put(_frame_pieces(rows, "custom_id", buckets), scratch / "merged", f"f{index:05d}")


def _frame_pieces(frame, key: str, buckets: int) -> list:
    return [frame.iloc[at] for at in spread(frame[key], buckets)]


def _join_source_bucket(bucket: int, scratch: Path) -> dict:
    """The source row (the first with its key) of each merged row of one bucket."""
    import pandas as pd

    keys = pd.concat(take(scratch / "source", bucket).values(), ignore_index=True)
    rows = pd.concat(take(scratch / "merged", bucket).values(), ignore_index=True)
    first = keys.sort_values(["_part", "_pos"]).drop_duplicates("key")
    found = rows.merge(first, left_on="custom_id", right_on="key", how="left")
    matched = found[found["_part"].notna()].drop(columns="key").astype({"_part": "int64", "_pos": "int64"})
    by_partition = [None] * (int(matched["_part"].max()) + 1 if len(matched) else 0)
    for partition, rows_of_partition in matched.groupby("_part"):
        by_partition[partition] = rows_of_partition
    put(by_partition, scratch / "sourced", f"b{bucket:05d}")
    return {
        "without_row": sorted(
            found.loc[found["_part"].isna(), ["_order", "custom_id"]].itertuples(index=False, name=None)
        ),
        "rows_with_request": len(matched[["_part", "_pos"]].drop_duplicates()),
    }


def _write_source_part(source, index: int, target: str, scratch: Path, columns: list[str]) -> int:
    """One source partition's rows, in order, with the result columns after them."""
    import pandas as pd

    table = (source if hasattr(source, "iloc") else read_table(source)).reset_index(drop=True)
    found = list(take(scratch / "sourced", index).values())
    results = (
        pd.concat(found, ignore_index=True).sort_values("_order", kind="stable") if found else pd.DataFrame()
    )
    results = results.reindex(columns=[*columns, "_pos"]).set_index("_pos")
    results.index.name = None
    results = results.rename(columns=result_column_names(columns, set(map(str, table.columns))))
    table.join(results, how="left").to_parquet(target, index=False)
    return len(table)
