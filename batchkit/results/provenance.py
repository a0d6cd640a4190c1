"""Where a merge's answers came from, and whether they answer the requests they are joined to.

This machine's ledger records, for every submission, the hashes of the request lines it sent and, for
every download, where the result files went and their sha256. So a result file batchkit downloaded names
its batch (the `batch_id` column) and the exact requests it answers: a request line that is not among
them (the batch file was rebuilt after it was submitted; the results are another batch's with the same
ids) gets no answer from it silently (`Judge`).

For results batchkit never saw submitted, the answering model is the evidence: a result whose model is
not the one its request asked for is stale too — unless the answer names a dated snapshot of the model
asked for (`gpt-4o-mini` answered by `gpt-4o-mini-2024-07-18`, `claude-3-5-haiku-latest` by
`claude-3-5-haiku-20241022`), the model asked for is none batchkit knows (an Azure deployment name, a
local model), the results were downloaded from Azure (whose answers name the model behind a deployment),
or the result line is another provider's or answers lines of another format (a converted file, whose
model `convert` may have set).
"""

from __future__ import annotations

import bisect
import os
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BatchkitError
from ..ledger import TERMINAL, Ledger, file_digest
from ..lines import open_binary, source_name
from ..tokens import known_models, model_family
from .read import ANSWERED, ResultRecord
from .requests import RequestIndex

NO_MODEL_CHECK = frozenset({"azure"})  # providers whose answers name another model than the one asked for


@dataclass
class Origin:
    """The batch a downloaded result file belongs to, as the ledger recorded it."""

    batch_id: str | None
    provider: str
    submitted: str  # the name its content was first submitted under
    lines: array | None  # sorted hashes of the submitted request lines (None: not recorded)
    dialect: str | None  # the line format of the submitted lines
    sha256: str  # of the submitted content
    names: list[str] = field(default_factory=list)  # every name of that content

    def holds(self, line_hash: int) -> bool:
        at = bisect.bisect_left(self.lines, line_hash)
        return at < len(self.lines) and self.lines[at] == line_hash


def find_origins(paths: list, notes: list[str]) -> dict[str, Origin]:
    """The origin of each result file batchkit downloaded (by the name the merge knows it by); a file
    whose content changed since its download is left out with a note. Nothing when there is no ledger."""
    real = [p for p in paths if isinstance(p, (str, os.PathLike)) and str(p) != "-" and Path(p).is_file()]
    if not real:
        return {}
    try:
        ledger = Ledger.existing()
    except BatchkitError as e:
        notes.append(f"note: the ledger could not be read ({e}); results are not checked against it")
        return {}
    if ledger is None:
        return {}
    origins = {}
    for path in real:
        origin = _origin(ledger, Path(path), notes)
        if origin is not None:
            origins[source_name(path)] = origin
    return origins


def _origin(ledger: Ledger, path: Path, notes: list[str]) -> Origin | None:
    resolved = str(path.resolve())
    downloads = ledger.downloads_to(resolved)
    sha = None
    for entry, name in downloads:
        recorded = name.sha256_of(resolved)
        if recorded is not None:
            sha = sha or file_digest(path)[0]
            if sha != recorded:
                continue
        submitted = ledger.submitted_lines(entry.id)
        lines = array("Q", submitted[0]) if submitted else None
        names = [n.path for n in ledger.names(entry.id)]
        return Origin(entry.batch_id, entry.provider, entry.path, lines, submitted and submitted[1],
                      entry.sha256, names)  # fmt: skip
    if downloads:
        notes.append(
            f"note: {path} was downloaded for batch {downloads[0][0].batch_id} but has changed since; its "
            "answers are not checked against what that batch was submitted with"
        )
    return None


def answers_named(paths: list) -> bool:
    """Whether a result file's lines name the request line each answers (ANSWERED: `batchkit run` writes
    it on every line, so its first line says), for the merge to hash its request lines and compare."""
    for path in paths:
        if not isinstance(path, (str, os.PathLike)) or str(path) == "-":
            continue
        try:
            with open_binary(path) as stream:
                first = stream.readline(1 << 20)
        except OSError:
            continue  # the merge says why it cannot read it
        if f'"{ANSWERED}"'.encode() in first:
            return True
    return False


class Judge:
    """Why a result must not answer a request row (None: nothing against it); see the module."""

    def __init__(self, requests: RequestIndex, origins: dict[str, Origin]):
        self.requests, self.origins = requests, origins
        self.known = {model_family(m) for m in known_models()}

    def __call__(self, row: int, record: ResultRecord) -> str | None:
        hashes = self.requests.content_hashes
        if record.answered is not None and hashes is not None:
            if record.answered == hashes[row]:
                return None  # the line says which request line it answers: this one
            return (
                f"{record.file} holds an answer `batchkit run` got for another request line with this id "
                "(the batch file changed after that run): run it again to answer this one"
            )
        origin = self.origins.get(record.file)
        if origin is not None:
            verdict = self._by_ledger(row, record, origin)
            if verdict is not None:
                return verdict or None  # "": the ledger vouches for it
            if origin.provider in NO_MODEL_CHECK or self._converted(row, origin):
                return None
        return self._by_model(row, record)

    def _by_ledger(self, row: int, record: ResultRecord, origin: Origin) -> str | None:
        """'' when the request line is among those submitted, a reason when it is not, None when the
        ledger cannot tell (lines not recorded, or submitted in another line format: a converted file)."""
        hashes = self.requests.content_hashes
        if origin.lines is None or hashes is None or origin.dialect != self.requests.dialect_of(row):
            return None
        if origin.holds(hashes[row]):
            return ""
        batch = origin.batch_id or "a batch"
        return (
            f"{record.file} holds the answers of {batch}, submitted from {origin.submitted} with other "
            "request lines than this one (the file changed after it was submitted, or these are another "
            "batch's results)"
        )

    def _converted(self, row: int, origin: Origin) -> bool:
        """Whether the results answer lines submitted in another format than the row's: a converted file,
        whose model `convert` may have set (Mistral's result lines are of OpenAI's shape)."""
        return origin.dialect is not None and origin.dialect != self.requests.dialect_of(row)

    def _by_model(self, row: int, record: ResultRecord) -> str | None:
        asked, answered = self.requests.models[row], record.model
        if record.converted or asked is None or answered is None or asked == answered:
            return None
        family = model_family(asked)
        if family not in self.known or family == model_family(answered):
            return None
        return f"asked for {asked}, answered by {answered}"


def missing_results(path) -> str | None:
    """Why a result file the ledger knows of does not exist (its batch is still running, or was never
    downloaded), and what to do; None when the ledger knows nothing of it."""
    try:
        ledger = Ledger.existing()
    except BatchkitError:
        return None
    if ledger is None:
        return None
    path = Path(path)
    name = path.name
    for kind in (".output.jsonl", ".errors.jsonl"):
        name = name.removesuffix(kind)
    submitted = path.resolve().parent / f"{name}.jsonl"
    entry = next(iter(ledger.find(name=str(submitted), limit=1)), None)
    if entry is None:
        return None
    shown = submitted if path.is_absolute() else Path(os.path.relpath(submitted))
    if not entry.batch_id:
        return f"{path}: no such file: {shown} has no batch yet; `batchkit submit {shown}` tries again"
    done = f"{(entry.completed or 0) + (entry.failed or 0)}/{entry.total}" if entry.total else "no counts yet"
    if (entry.status or "") not in TERMINAL:
        return (
            f"{path}: no such file yet: {shown} was submitted as {entry.batch_id}, which was "
            f"{entry.status or 'not checked'} ({done} done) when last checked; `batchkit watch {shown}` follows "
            f"it to the end, then `batchkit download {shown}` writes its results (`batchkit submit {shown} "
            "--wait` again does both)"
        )
    if entry.status in ("cancelled", "expired") and not (entry.completed or entry.failed):
        return (
            f"{path}: no such file: {shown} was submitted as {entry.batch_id}, which was {entry.status} "
            "before any of its requests ran, so it has no results: `batchkit submit "
            f"{shown} --force` sends them again"
        )
    return (
        f"{path}: no such file: {shown} was submitted as {entry.batch_id}, which is {entry.status} "
        f"({done} done); "
        f"`batchkit download {shown}` writes its results"
    )
