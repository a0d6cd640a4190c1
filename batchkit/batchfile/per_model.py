"""`build` for a provider that takes one model per file, from a table with a model column: the requests are
written once to a staging folder (validated under the provider's rules but the one-model rule), then split
by model as `split --by model` does (`out.jsonl` → `out.gpt-4o-mini.jsonl`, …, each sharded under the
limits). With a single model the file is `out.jsonl` itself, as without a model column. The staging folder
is hidden beside the output and removed whatever happens; the files appear whole or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from ..atomic import cannot_write
from ..formats import OPENAI
from ..options import Options
from ..providers import Provider
from .by_key import split_by
from .split import split_file
from .write import WriteResult, write_numbered


def write_per_model(
    numbered, output: str | os.PathLike, row: Provider, *, limits: tuple, force: bool, **options
) -> WriteResult:
    """Write (number, request) pairs (OpenAI lines) as one file per model. `limits`: (max_requests,
    max_bytes, max_file_tokens); `options`: `max_findings`, and write_numbered's file and progress."""
    output = Path(output)
    max_requests, max_bytes, max_file_tokens = limits
    try:
        staging = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.", suffix=".models"))
    except OSError as e:
        raise cannot_write(output, e) from None
    try:
        mixed = replace(row, one_model=False, max_requests=None, max_bytes=None)
        checked = Options.of(mixed, dialect=OPENAI, max_findings=options.pop("max_findings", None))
        whole = write_numbered(numbered, staging / output.name, checked, force=force, **options)
        (staged,) = whole.paths
        shard_limits = {
            "max_requests": max_requests,
            "max_bytes": max_bytes,
            "max_file_tokens": max_file_tokens,
        }
        if len(whole.report.summary.models) <= 1:
            groups = [split_file(staged, output, row, force=True, **shard_limits)]
        else:
            groups = list(split_by(staged, "model", output, row, force=True, **shard_limits).groups.values())
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return WriteResult(
        [p for g in groups for p in g.paths],
        whole.report,
        whole.requests,
        whole.bytes,
        [n for g in groups for n in g.shard_requests],
        [n for g in groups for n in g.shard_bytes],
        [p for g in groups for p in g.left],
    )
