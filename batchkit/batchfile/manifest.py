"""The manifest of a write: which files batchkit wrote for an output, so a later write removes only its own
shards (see batchkit.batchfile)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ..atomic import atomic_write

SHARD_FORMAT = "{stem}-{index:05d}{suffix}"
MANIFEST_FORMAT = ".{name}.manifest.json"
MANIFEST_KIND = "batchkit-shards"  # marks a manifest batchkit wrote


def shard_path(path: str | os.PathLike, index: int) -> Path:
    """The path of shard `index` (1-based) of `path`: out.jsonl → out-00001.jsonl."""
    path = Path(path)
    return path.with_name(SHARD_FORMAT.format(stem=path.stem, index=index, suffix=path.suffix))


def manifest_path(path: str | os.PathLike) -> Path:
    """Where the manifest of `path` lives: out/batch.jsonl → out/.batch.jsonl.manifest.json."""
    path = Path(path)
    return path.with_name(MANIFEST_FORMAT.format(name=path.name))


@dataclass
class Manifest:
    """What one write put on disk for `output`: each file's name, requests and bytes, in order."""

    output: str
    files: list[dict] = field(default_factory=list)  # {"name", "requests", "bytes"}

    @property
    def names(self) -> set[str]:
        return {f["name"] for f in self.files}

    def to_dict(self) -> dict:
        return {
            "kind": MANIFEST_KIND,
            "version": 1,
            "output": self.output,
            "requests": sum(f.get("requests", 0) for f in self.files),
            "bytes": sum(f.get("bytes", 0) for f in self.files),
            "files": self.files,
        }


def read_manifest(path: str | os.PathLike) -> Manifest | None:
    """The manifest batchkit wrote for `path`, or None when there is none (or it is not one of ours,
    or names another output: a copied or hand-made file is never trusted to delete anything)."""
    try:
        data = orjson.loads(manifest_path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if type(data) is not dict or data.get("kind") != MANIFEST_KIND or data.get("output") != Path(path).name:
        return None
    files = data.get("files")
    if type(files) is not list or not all(type(f) is dict and type(f.get("name")) is str for f in files):
        return None
    # Only names of this output's shards count: a manifest can never point outside its folder.
    shard = shard_pattern(Path(path))
    return Manifest(data["output"], [f for f in files if shard.fullmatch(f["name"])])


def shard_pattern(path: Path) -> re.Pattern:
    """Names of `path`'s shards: STEM-00001.SUFFIX, and a partition's STEM-p00001[-00001].SUFFIX (Dask)."""
    return re.compile(re.escape(path.stem) + r"-(\d{5}|p\d{5}(-\d{5})?)" + re.escape(path.suffix))


def write_manifest(manifest: Manifest, path: Path) -> None:
    with atomic_write(manifest_path(path)) as f:
        f.write(orjson.dumps(manifest.to_dict(), option=orjson.OPT_INDENT_2) + b"\n")
