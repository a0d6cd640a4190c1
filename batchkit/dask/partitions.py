"""The parts a job is cut into: the partitions of a partitioned table — a Dask DataFrame's, or the files of
a folder or pattern, read by the workers themselves — and the batch files that paths, folders and
patterns name (one task each)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ..errors import InputError
from ..tables import is_url, iter_table, open_url, parquet_file, table_files, table_format


def sources(source, connected) -> list:
    """A partitioned table's parts: futures of a Dask DataFrame's partitions, or the files of a folder or
    pattern."""
    if hasattr(source, "to_delayed") and hasattr(source, "npartitions"):
        return connected.compute(source.to_delayed())
    return table_files(source)


def frames(source, input_format: str | None):
    """A partition's rows: a pandas DataFrame as it is, or a table file read in chunks as `build` reads it."""
    if hasattr(source, "iloc"):
        return source
    return iter_table(source, input_format)


def row_count(source, input_format: str | None) -> int:
    """A partition's rows, counted from a Parquet file's metadata where there is one."""
    if hasattr(source, "iloc"):
        return len(source)
    if table_format(source, input_format) == "parquet":
        if is_url(source):
            with open_url(source) as f:
                return parquet_file(f, source).metadata.num_rows
        return parquet_file(source, source).metadata.num_rows
    return sum(len(frame) for frame in frames(source, input_format))


def first_rows(sizes: list[int]) -> list[int]:
    """The table's row number of each partition's first row (rows numbered from 1)."""
    return [1 + sum(sizes[:i]) for i in range(len(sizes))]


def table_name(source) -> str:
    return "<DataFrame>" if hasattr(source, "npartitions") else os.fspath(source)


def files_of(paths) -> list[str]:
    """Batch files named by paths, folders (their *.jsonl) and patterns, sorted within each."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for item in paths:
        text = os.fspath(item)
        if any(c in text for c in "*?["):
            matched = sorted(glob.glob(text, recursive=True))
        elif Path(text).is_dir():
            matched = sorted(str(p) for p in Path(text).rglob("*.jsonl"))
        else:
            matched = [text]
        if not matched:
            raise InputError(f"{text}: no batch file matches")
        out.extend(matched)
    return out
