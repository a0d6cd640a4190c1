"""`batchkit run`: execute a batch file directly against any OpenAI-compatible server and write the output
and error files a Batch API would (OpenAI format, one line per custom_id, in the order answers arrive).

Resumable, and every file still appears whole: lines are appended (one flushed write per line) to
`OUTPUT.part` and `ERRORS.part` while the run goes on; when every request has an answer the parts are
synced and renamed to OUTPUT and ERRORS. Only successes are final: a run that finds an OUTPUT part (or
finished file) from an earlier run drops a trailing half line, keeps every complete one and sends every
other custom_id, the ones that failed before included. ERRORS is replaced by what failed this time. Every
result line names the request line it answers (ANSWERED: its line hash), so an answer to a line since
changed under the same id is dropped and asked again, and `merge` never puts it on the new line.

With an answer cache, a request it has a good answer for is not sent: its result line (marked as cached)
goes into OUTPUT, and the good answers that come back are kept in the cache. A run given `resend` (a
round of `--until-done`, runner.rounds) sends exactly those custom_ids, adds their answers to OUTPUT
(whose newest answer per request `merge` takes) and keeps the failures of the others in ERRORS.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import orjson

from ..atomic import atomic_write, cannot_write, refuse_inputs, refuse_special
from ..cache import AnswerCache, Keeper, address, cached_line
from ..errors import BatchkitError, InputError, UsageError, ValidationFailed
from ..formats import OPENAI, detect_stream, requests_of
from ..keys import check_address
from ..ledger import line_hash
from ..lines import dumps_line, open_binary
from ..providers import Provider, get_provider
from ..results.read import ANSWERED, NO_ANSWER, NO_ANSWER_CODE, answered_hash, answered_mark, answers_nothing
from ..validate import validate_file
from ..wire import LOCAL, Sender, api_path, missing_v1_hint, result_line
from ..words import Option, Text, Words

RequestsDone = Callable[[int, int, int], None]  # (answered so far, failed so far, total requests)


CHUNK = 500  # requests read (and looked up in the answer cache) at a time
MOST_CAUSES = 5  # failure causes named in a summary; the rest are counted together
CAUSE_CHARS = 160  # of a failure message, in a summary


@dataclass
class RunResult:
    total: int  # requests in the file
    skipped: int  # answered successfully by an earlier run (or, for a round, not sent again)
    succeeded: int  # by this run
    failed: int  # by this run
    retries: int  # extra attempts (429, 5xx, connection failures)
    output: Path
    errors: Path | None  # None when no request failed
    causes: Counter = field(default_factory=Counter)  # (error code, message) → failed requests
    cached: int = 0  # answered from the answer cache by this run
    kept: int = 0  # good answers this run put into the answer cache
    hint: str | None = None  # what the failures suggest (requests answered 404 by an address without /v1)

    def failures(self, hint: bool = True) -> str:
        """Why requests failed, most frequent cause first: '8 failed: 8 × upstream_unreachable (…)', and
        the `hint` when there is one (unless hint=False)."""
        if not self.failed:
            return "0 failed"
        parts = [f"{n:,} × {code} ({message})" for (code, message), n in self.causes.most_common(MOST_CAUSES)]
        rest = self.failed - sum(n for _, n in self.causes.most_common(MOST_CAUSES))
        if rest:
            parts.append(f"{rest:,} of {len(self.causes) - MOST_CAUSES:,} other causes")
        advice = f"; {self.hint}" if self.hint and hint else ""
        return f"{self.failed:,} failed: " + "; ".join(parts) + advice


def cause(line: dict) -> tuple[str, str]:
    """(code, message) of a failed result line, the message cut for a summary."""
    error = line.get("error") or {}
    message = " ".join(str(error.get("message", "")).split())
    if len(message) > CAUSE_CHARS:
        message = message[: CAUSE_CHARS - 1] + "…"
    return str(error.get("code", "unknown")), message


def default_errors_path(output: Path) -> Path:
    """results.jsonl → results.errors.jsonl"""
    return output.with_name(f"{output.stem}.errors{output.suffix or '.jsonl'}")


def part_path(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def _open_part(final: Path) -> tuple[BinaryIO, dict[str, int | None]]:
    """The part file for `final`, opened for appending, and the custom_ids it already holds, each with the
    line hash of the request line it answers (None when the line does not say)."""
    part = part_path(final)
    if not part.exists() and final.exists():
        shutil.copyfile(final, part)  # continue from a finished file; it is replaced only when done again
    handle = open(part, "a+b")
    handle.seek(0)
    done: dict[str, int | None] = {}
    keep = 0
    for raw in handle:
        obj = _result(raw)
        if obj is None or not raw.endswith(b"\n"):  # the last line, cut short by a kill: drop it
            break
        custom_id = OPENAI.id_of(obj)
        if type(custom_id) is str:
            done[custom_id] = answered_hash(obj.get(ANSWERED))
        keep += len(raw)
    handle.truncate(keep)
    handle.seek(keep)
    return handle, done


def _answered_before(source: Path, done: dict[str, int | None]) -> set[str]:
    """The ids in `done` whose answer was got for another request line than the one `source` now holds
    under that id (the file was rebuilt, or another file's run wrote OUTPUT): they are asked again."""
    if all(answered is None for answered in done.values()):
        return set()
    return {
        r.id for r in requests_of(source, OPENAI)
        if done.get(r.id) is not None and done[r.id] != line_hash(r.raw)
    }  # fmt: skip


def _without(handle: BinaryIO, final: Path, ids: set[str]) -> BinaryIO:
    """The part file for `final` without the lines of `ids`, opened for appending again."""
    handle.seek(0)
    part = part_path(final)
    with atomic_write(part) as out:
        for raw in handle:
            obj = _result(raw)
            if obj is None or OPENAI.id_of(obj) not in ids:
                out.write(raw)
    handle.close()
    handle = open(part, "a+b")
    handle.seek(0, os.SEEK_END)
    return handle


def _open_fresh(final: Path, keep: Callable[[str], bool] | None = None) -> BinaryIO:
    """The part file for `final`, emptied: what failed before is sent again and its outcome replaces it.
    With `keep`, the lines of `final` whose custom_id it keeps are copied in first."""
    handle = open(part_path(final), "wb")
    if keep is not None and final.exists():
        with open(final, "rb") as before:
            for raw in before:
                obj = _result(raw)
                custom_id = OPENAI.id_of(obj) if obj is not None else None
                if raw.endswith(b"\n") and type(custom_id) is str and keep(custom_id):
                    handle.write(raw)
    return handle


def _result(raw: bytes) -> dict | None:
    """The JSON object of a result line run wrote (None when it holds none)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return obj if type(obj) is dict else None


def _close(handle: BinaryIO, final: Path, keep_empty: bool) -> bool:
    """Sync a part file and rename it to `final` (or remove both when empty and not wanted). True if kept."""
    handle.flush()
    os.fsync(handle.fileno())
    size = handle.tell()
    handle.close()
    part = part_path(final)
    if size == 0 and not keep_empty:
        part.unlink()
        final.unlink(missing_ok=True)  # an earlier run's failures were all answered now
        return False
    os.replace(part, final)
    return True


def _check_paths(source: Path, output: Path, errors: Path) -> None:
    if output.resolve() == errors.resolve():
        raise UsageError("OUTPUT and ERRORS must be different files")
    for path in (output, errors):
        refuse_inputs(path, [source])
        refuse_special(path)
        if not path.parent.is_dir():
            raise InputError(f"{path.parent}: no such folder")


def _open_parts(
    source: Path, output: Path, errors: Path, resend: Collection[str] | None
) -> tuple[BinaryIO, dict[str, int | None], BinaryIO]:
    """The output part (and the custom_ids it holds answers to `source`'s lines for, its answers to other
    lines left out) and a fresh errors part (holding, for a run that sends `resend` again, the failures
    of the others); an InputError when the folder cannot be written."""
    try:
        out_handle, done = _open_part(output)
        if stale := _answered_before(source, done):
            out_handle = _without(out_handle, output, stale)
            done = {custom_id: answered for custom_id, answered in done.items() if custom_id not in stale}
    except OSError as e:
        raise InputError(f"cannot write {output}: {e.strerror or e}") from None
    keep = None if resend is None else (lambda custom_id: custom_id not in resend)
    try:
        return out_handle, done, _open_fresh(errors, keep)
    except OSError as e:
        out_handle.close()
        raise InputError(f"cannot write {errors}: {e.strerror or e}") from None


def _valid_requests(source: Path, provider: str | Provider) -> int:
    """The number of requests in `source`, read as the OpenAI lines `run` sends; ValidationFailed (with the
    report) when it is invalid, a UsageError when its lines or the provider's are of another format."""
    rules = provider if isinstance(provider, Provider) else get_provider(provider)
    if not rules.takes(OPENAI.name):
        raise UsageError(
            Text(
                f"run sends OpenAI-style requests, and {rules.name} takes {rules.dialect} lines: ",
                Words(
                    f"submit(path, provider={rules.name!r})",
                    f"`batchkit submit FILE --provider {rules.name}`",
                ),
                " sends them to it; or run the file under another provider's rules",
            )
        )
    with open_binary(source) as stream:
        found = detect_stream(stream)
    if found is not None and found is not OPENAI:
        raise UsageError(
            Text(
                f"{source}: its lines are {found.name} requests, and run sends OpenAI-style ones: convert it "
                "first (",
                Words(
                    "convert_file(path, OUT, to='openai')", f"`batchkit convert {source} --to openai -o OUT`"
                ),
                ")",
            )
        )
    report = validate_file(source, rules, dialect=OPENAI)
    if not report.valid:
        raise ValidationFailed(
            f"{source}: {report.summary.errors} error(s); nothing was sent (fix the file and run again)",
            report,
        )
    return report.summary.requests


def run_batch(
    source: str | os.PathLike,
    *,
    base_url: str,
    output: str | os.PathLike,
    errors: str | os.PathLike | None = None,
    api_key: str | None = None,
    concurrency: int = 8,
    max_rps: float | None = None,
    provider: str | Provider = LOCAL,
    max_attempts: int = 6,
    progress: RequestsDone | None = None,
    cache: AnswerCache | None = None,
    resend: Collection[str] | None = None,
) -> RunResult:
    """Validate `source`, then send every request without a success in OUTPUT to `base_url`
    (e.g. http://localhost:8000/v1; a line's url '/v1/chat/completions' is sent to base_url +
    '/chat/completions'). Raises ValidationFailed (with the report) when the file is invalid.
    `cache`: answer from there what it can, and keep the good answers there. `resend`: send exactly these
    custom_ids (see the module)."""
    if str(source) == "-":
        raise UsageError("batchkit run needs a file, not standard input (it reads the file twice)")
    if concurrency < 1:
        raise UsageError(Text(Option("concurrency"), " must be at least 1"))
    check_address(base_url)
    source = Path(source)
    requests = _valid_requests(source, provider)
    output = Path(output)
    errors = Path(errors) if errors else default_errors_path(output)
    _check_paths(source, output, errors)
    out_handle, done, err_handle = _open_parts(source, output, errors, resend)
    skipped = len(done) if resend is None else requests - len(resend)
    result = RunResult(requests, skipped, succeeded=0, failed=0, retries=0, output=output, errors=None)
    keeper = Keeper(cache, address("openai", base_url)) if cache is not None else None
    sending = _Sending(source, done, base_url, api_key, concurrency, max_rps, max_attempts, keeper, resend)
    finished = False
    try:
        asyncio.run(sending.send_all(out_handle, err_handle, result, progress))
        finished = True
    finally:
        if finished:
            _close(out_handle, output, keep_empty=True)
            if _close(err_handle, errors, keep_empty=False):
                result.errors = errors
        else:  # interrupted: the parts stay for the next run (a line cut short is dropped then)
            for handle in (out_handle, err_handle):
                with contextlib.suppress(OSError):  # a full disk refuses the unwritten rest again
                    handle.close()
    return result


@dataclass
class _Sending:
    """What to send where, and how."""

    source: Path
    done: Collection[str]
    base_url: str
    api_key: str | None
    concurrency: int
    max_rps: float | None
    max_attempts: int
    keeper: Keeper | None = None
    only: Collection[str] | None = None  # send exactly these custom_ids (else those not `done`)

    async def send_all(
        self, out_handle: BinaryIO, err_handle: BinaryIO, result: RunResult, progress: RequestsDone | None
    ) -> None:

        def record(line: dict | bytes, ok: bool) -> None:
            handle = out_handle if ok else err_handle
            try:
                handle.write(line if isinstance(line, bytes) else dumps_line(line))
                handle.flush()  # one whole line reaches the OS before the next is counted
            except OSError as e:  # a full disk or a file size limit: stop, saying which file
                raise cannot_write(handle.name, e) from None
            if isinstance(line, bytes):
                result.cached += 1
            elif ok:
                result.succeeded += 1
            else:
                result.failed += 1
                result.causes[cause(line)] += 1
                if line["response"]["status_code"] == 404 and result.hint is None:
                    result.hint = missing_v1_hint(self.base_url)
            if progress:
                answered = result.skipped + result.cached + result.succeeded + result.failed
                progress(answered, result.failed, result.total)

        if progress:
            progress(result.skipped, 0, result.total)
        async with Sender(
            self.base_url,
            self.api_key,
            concurrency=self.concurrency,
            max_rps=self.max_rps,
            max_attempts=self.max_attempts,
        ) as sender:
            try:
                await self._pump(sender, record)
            finally:
                result.retries = sender.retries
                if self.keeper is not None:
                    self.keeper.flush()
                    result.kept = self.keeper.kept

    def _requests(self):
        """The requests to answer, a chunk at a time."""
        if self.only is None:
            requests = requests_of(self.source, OPENAI, self.done)
        else:
            requests = (r for r in requests_of(self.source, OPENAI) if r.id in self.only)
        while chunk := list(islice(requests, CHUNK)):
            yield chunk

    async def _pump(self, sender, record: Callable[[dict | bytes, bool], None]) -> None:
        """Read requests into a bounded queue and send them with `concurrency` workers; those the cache
        answers are written at once (a cached result line, as bytes)."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.concurrency * 2)

        async def worker() -> None:
            while (request := await queue.get()) is not None:
                answer = await sender.post(api_path(request.endpoint), request.body)
                line = result_line(request.id, answer.status_code, answer.body, answer.request_id)
                line[ANSWERED] = answered_mark(request.raw)
                ok = 200 <= answer.status_code < 300
                if ok and answers_nothing(answer.body):  # a failure, as merge reads it: sent again on resume
                    ok = False
                    line["error"] = {"code": NO_ANSWER_CODE, "message": NO_ANSWER.format(answer.status_code)}
                if ok and self.keeper is not None:
                    self.keeper.offer(request, line)
                record(line, ok)

        async def produce() -> None:
            for chunk in self._requests():
                hits = self.keeper.lookup(chunk) if self.keeper is not None else [None] * len(chunk)
                for request, hit in zip(chunk, hits, strict=True):
                    if hit is None:
                        await queue.put(request)
                    else:
                        record(cached_line(hit, request, {ANSWERED: answered_mark(request.raw)}), True)
            for _ in range(self.concurrency):
                await queue.put(None)

        try:
            await self._run_tasks(produce, worker)
        except* BatchkitError as failed:  # one line for the user, not a group of tracebacks
            raise failed.exceptions[0] from None

    async def _run_tasks(self, produce, worker) -> None:
        async with asyncio.TaskGroup() as group:  # a failing task stops the others
            group.create_task(produce())
            for _ in range(self.concurrency):
                group.create_task(worker())
