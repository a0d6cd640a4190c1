"""The Parquet files of a folder a Dask job wrote, under one schema, so the folder reads as one dataset
(`pandas.read_parquet(folder)`): each part was written by pandas on its own, which types a column with
no value in that part as `null`, and every column of a part with no rows as its guess."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def one_schema(folder: Path) -> bool:
    """Rewrite the parts of `folder` whose schema differs from the parts' unified one (a null column takes
    the type the others give it, an integer one the float another has); False, and the parts left as
    they are, when they hold other columns or types no one type holds."""
    parts = sorted(folder.glob("*.parquet"))
    metas = [pq.read_metadata(part) for part in parts]
    schemas = [meta.schema.to_arrow_schema() for meta in metas]
    filled = [schema for schema, meta in zip(schemas, metas, strict=True) if meta.num_rows]
    if not filled:
        return True
    if any(schema.names != filled[0].names for schema in schemas):
        return False
    try:
        unified = pa.unify_schemas(filled, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    for part, schema, meta in zip(parts, schemas, metas, strict=True):
        if schema.remove_metadata().equals(unified.remove_metadata()):
            continue
        table = pq.read_table(part).cast(unified) if meta.num_rows else unified.empty_table()
        written = part.with_name(f".{part.name}.part")
        pq.write_table(table, written)
        os.replace(written, part)
    return True
