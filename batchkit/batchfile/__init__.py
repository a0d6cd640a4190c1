"""Batch files as batchkit writes them (build, convert, split, retry and fix all write through here): validate every line, shard under per-file limits, appear whole or not at all.

Naming: when every line fits in one file under the limits, the file is written at `path` itself, with no
suffix. Otherwise the lines go, in order, into `STEM-00001.SUFFIX`, `STEM-00002.SUFFIX`, … beside `path`
(`out.jsonl` → `out-00001.jsonl`), each filled as far as both limits allow before the next is started, so
the same lines and limits always give the same, byte-identical files. No line is ever split or dropped; a
single line larger than the byte limit is an error.

Manifest: every write records what it wrote for `path` in `.NAME.manifest.json` beside it
(`.out.jsonl.manifest.json`): the files, and the requests and bytes of each. It is hidden so that a glob
such as `out*` or `*.jsonl` (what people pass to `submit` or `validate`) never picks it up, and it is
named after the whole file name so `out.jsonl` and `out.json` never share one. A later write of the same
`path` removes only the shards that manifest lists and this write did not produce again (`out-00004.jsonl`
when it wrote three), so the set on disk is exactly this write's. A file merely named like a shard
(`answers-20240.jsonl` beside `answers.jsonl`) is never removed: it is left alone and reported in
`WriteResult.left`, and a shard name that such a file already holds is refused before anything is
written. `path` itself is never removed.

Atomicity: shards are staged in temporary files beside their targets and only renamed into place after
the last line is written and, unless forced, found valid. An error or an invalid batch leaves nothing
behind. A folder that cannot be written to is an InputError naming it.
"""

from __future__ import annotations

from .by_key import SplitByResult, split_by
from .idmap import id_map_path, read_id_map, write_id_map
from .manifest import Manifest, manifest_path, read_manifest, shard_path, write_manifest
from .per_model import write_per_model
from .shards import ShardWriter, cannot_write, line_tokens
from .split import split_file
from .write import LinesWritten, WriteResult, write_batch, write_numbered

__all__ = [
    "LinesWritten",
    "Manifest",
    "ShardWriter",
    "SplitByResult",
    "WriteResult",
    "cannot_write",
    "id_map_path",
    "line_tokens",
    "manifest_path",
    "read_id_map",
    "read_manifest",
    "shard_path",
    "split_by",
    "split_file",
    "write_batch",
    "write_id_map",
    "write_manifest",
    "write_numbered",
    "write_per_model",
]
