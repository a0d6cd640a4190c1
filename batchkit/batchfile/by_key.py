"""Split a batch file into one file per model (or per endpoint), for providers that take one per file.

`batch.jsonl` → `batch.gpt-4o-mini.jsonl`, `batch.gpt-4.1.jsonl`, … (a model's characters that cannot be
in a file name become `_`); a group over the provider's per-file limits is sharded as `split` does
(`batch.gpt-4o-mini-00001.jsonl`, …). Lines are copied byte for byte and in order within each group.

The whole source is validated first, under the provider's rules except one-model / one-endpoint (which
the split is for) and the per-file limits (which sharding meets): an invalid file writes nothing unless
forced. Each group's files then appear whole or not at all, as every batch file does.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson

from ..atomic import atomic_write, refuse_inputs, same_file
from ..errors import UsageError, ValidationFailed
from ..findings import Report
from ..formats import Dialect
from ..lines import Overlong, content_lines, open_binary, source_name
from ..options import Options
from ..providers import Provider
from ..validate import validate_file
from ..words import Option, Text
from .manifest import manifest_path, read_manifest
from .write import WriteResult, write_numbered

SPLIT_KEYS = ("model", "endpoint")
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_SLUG = 100  # characters of a group's value in its file name


GROUPS_FORMAT = ".{name}.groups.json"  # the group files the last split of an output wrote
GROUPS_KIND = "batchkit-groups"


@dataclass
class SplitByResult:
    report: Report  # the validation of the whole source
    groups: dict[str, WriteResult] = field(default_factory=dict)  # key value → what was written for it
    removed: list[Path] = field(default_factory=list)  # an earlier split's group files not written again

    @property
    def paths(self) -> list[Path]:
        return [p for result in self.groups.values() for p in result.paths]


def key_of(raw: bytes | Overlong, by: str, dialect: Dialect) -> str:
    """The line's model (or endpoint) in `dialect`; `no-model` / `no-endpoint` for a line without one."""
    try:
        obj = orjson.loads(raw) if not isinstance(raw, Overlong) else None
    except orjson.JSONDecodeError:
        obj = None
    value = None
    if isinstance(obj, dict):
        request = dialect.read(obj)
        value = request.endpoint if by == "endpoint" else request.model
    return value if value else f"no-{by}"


def group_path(output: Path, value: str, taken: set[Path]) -> Path:
    """`out.jsonl` + `meta-llama/Llama-3.1-8B` → `out.meta-llama_Llama-3.1-8B.jsonl`, never a path
    another group already has. A long value is cut, with a hash of it, so that the name, its shards' and
    its part files' fit the 255 bytes a file name may have (a fine-tuned model's id can be longer)."""
    slug = UNSAFE.sub("_", value).strip("._") or "_"
    if len(slug) > MAX_SLUG:
        slug = f"{slug[: MAX_SLUG - 9]}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"
    path, n = output.with_name(f"{output.stem}.{slug}{output.suffix}"), 1
    while path in taken:
        n += 1
        path = output.with_name(f"{output.stem}.{slug}~{n}{output.suffix}")
    taken.add(path)
    return path


def _values(source, by: str, options: Options) -> list[str]:
    with open_binary(source) as stream:
        lines = content_lines(stream, options.max_line)
        return list(dict.fromkeys(key_of(raw, by, options.dialect) for _n, raw in lines))


def _lines_of(source, by: str, value: str, options: Options):
    with open_binary(source) as stream:
        for number, raw in content_lines(stream, options.max_line):
            if key_of(raw, by, options.dialect) == value:
                yield number, raw


def split_by(
    source: str | os.PathLike,
    by: str,
    output: str | os.PathLike | None = None,
    provider: str | Provider | None = None,
    *,
    max_requests: int | None = None,
    max_bytes: int | str | None = None,
    max_file_tokens: int | None = None,
    force: bool = False,
    max_findings: int | None = None,
) -> SplitByResult:
    """One file per model (by="model") or endpoint (by="endpoint") of `source`, named after `output`
    (default: `source`), each sharded under the provider's limits or the given ones."""
    if by not in SPLIT_KEYS:
        raise UsageError(f"split by {by!r}? choose one of: {', '.join(SPLIT_KEYS)}")
    if str(source) == "-":
        raise UsageError("splitting by a key reads the file once per group; give a file, not standard input")
    with open_binary(source) as stream:
        options = Options.for_copies(stream, provider, max_findings=max_findings)
    row = options.provider
    mixed = replace(row, one_model=False, one_endpoint=False).with_limits(sys.maxsize, sys.maxsize)
    report = validate_file(source, replace(options, provider=mixed))
    if not report.valid and not force:
        s = report.summary
        raise ValidationFailed(
            Text(
                f"{s.errors:,} error(s) in {s.requests:,} request(s); nothing written (fix them, or pass ",
                Option("force", True),
                ")",
            ),
            report,
        )
    limits = options.with_limits(max_requests, max_bytes)
    result, taken = SplitByResult(report), set()
    target = Path(output if output is not None else source)
    paths = {value: group_path(target, value, taken) for value in _values(source, by, options)}
    for path in paths.values():  # before any group is written: each later one reads the source again
        refuse_inputs(path, [source])
    for value, path in paths.items():
        result.groups[value] = write_numbered(
            _lines_of(source, by, value, options),
            path,
            limits,
            max_file_tokens=max_file_tokens,
            validate=False,
            file=source_name(source),
            sources=[source],
        )
    result.removed = _replace_groups(target, {p.name for p in paths.values()}, source)
    return result


def _replace_groups(output: Path, names: set[str], source) -> list[Path]:
    """Records `names` as the group files of `output`'s split, and removes the files of the groups the
    last split of it recorded and this one did not write again: else `submit out.*.jsonl` would send a
    group no longer in the source. Only names of this output's groups are trusted from the record."""
    record = output.with_name(GROUPS_FORMAT.format(name=output.name))
    try:
        data = orjson.loads(record.read_bytes())
        earlier = (
            data["groups"] if data.get("kind") == GROUPS_KIND and data.get("output") == output.name else []
        )
    except (OSError, orjson.JSONDecodeError, TypeError, KeyError, AttributeError):
        earlier = []
    removed = []
    for name in earlier if type(earlier) is list else []:
        path = output.with_name(name) if type(name) is str and _is_group_name(output, name) else None
        if path is None or name in names or same_file(path, source):
            continue
        manifest = read_manifest(path)
        for part in [path, *(path.with_name(n) for n in (manifest.names if manifest else ()))]:
            if part.is_file():
                part.unlink()
                removed.append(part)
        manifest_path(path).unlink(missing_ok=True)
    with atomic_write(record) as f:
        f.write(orjson.dumps({"kind": GROUPS_KIND, "output": output.name, "groups": sorted(names)}) + b"\n")
    return removed


def _is_group_name(output: Path, name: str) -> bool:
    return (
        "/" not in name
        and name.startswith(f"{output.stem}.")
        and name.endswith(output.suffix)
        and name != output.name
    )
