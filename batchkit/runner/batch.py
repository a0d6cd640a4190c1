"""`batchkit run`: execute a batch file directly against any OpenAI-compatible server and write the output
and error files a Batch API would (OpenAI format, one line per custom_id, in the order answers arrive).

Resumable, and every file still appears whole: lines are appended (one flushed write per line) to
`OUTPUT.part` and `ERRORS.part` while the run goes on; when every request has an answer the parts are
synced and renamed to OUTPUT and ERRORS. Only successes are final: a run that finds an OUTPUT part (or
finished file) from an earlier run drops a trailing half line, keeps every complete one and sends every
other custom_id, the ones that failed before included. ERRORS is replaced by what failed this time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import orjson

from ..atomic import cannot_write
from ..errors import BatchkitError, InputError, UsageError, ValidationFailed
from ..formats import OPENAI, requests_of
from ..lines import dumps_line
from ..providers import Provider
from ..validate import validate_file
from ..wire import LOCAL, Sender, api_path, missing_v1_hint, result_line
from ..words import Option, Text

RequestsDone = Callable[[int, int, int], None]  # (answered so far, failed so far, total requests)


MOST_CAUSES = 5  # failure causes named in a summary; the rest are counted together
CAUSE_CHARS = 160  # of a failure message, in a summary


@dataclass
class RunResult:
    total: int  # requests in the file
    skipped: int  # answered successfully by an earlier run
    succeeded: int  # by this run
    failed: int  # by this run
    retries: int  # extra attempts (429, 5xx, connection failures)
    output: Path
    errors: Path | None  # None when no request failed
    causes: Counter = field(default_factory=Counter)  # (error code, message) → failed requests
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


def _open_part(final: Path) -> tuple[BinaryIO, set[str]]:
    """The part file for `final`, opened for appending, and the custom_ids it already holds."""
    part = part_path(final)
    if not part.exists() and final.exists():
        shutil.copyfile(final, part)  # continue from a finished file; it is replaced only when done again
    handle = open(part, "a+b")
    handle.seek(0)
    done: set[str] = set()
    keep = 0
    for raw in handle:
        if not raw.endswith(b"\n"):  # the last line, cut short by a kill: drop it
            break
        try:
            custom_id = orjson.loads(raw).get("custom_id")
        except (orjson.JSONDecodeError, AttributeError):
            break
        if isinstance(custom_id, str):
            done.add(custom_id)
        keep += len(raw)
    handle.truncate(keep)
    handle.seek(keep)
    return handle, done


def _open_fresh(final: Path) -> BinaryIO:
    """The part file for `final`, emptied: what failed before is sent again and its outcome replaces it."""
    return open(part_path(final), "wb")


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
        if path.resolve() == source.resolve():
            raise UsageError(f"{path} is the input file; choose another output name")
        if not path.parent.is_dir():
            raise InputError(f"{path.parent}: no such folder")


def _open_parts(output: Path, errors: Path) -> tuple[BinaryIO, set[str], BinaryIO]:
    """The output part (and the custom_ids it holds) and a fresh errors part; an InputError when the
    folder cannot be written."""
    try:
        out_handle, done = _open_part(output)
    except OSError as e:
        raise InputError(f"cannot write {output}: {e.strerror or e}") from None
    try:
        return out_handle, done, _open_fresh(errors)
    except OSError as e:
        out_handle.close()
        raise InputError(f"cannot write {errors}: {e.strerror or e}") from None


def _valid_requests(source: Path, provider: str | Provider) -> int:
    """The number of requests in `source`; ValidationFailed (with the report) when it is invalid."""

    report = validate_file(source, provider)
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
) -> RunResult:
    """Validate `source`, then send every request without a success in OUTPUT to `base_url`
    (e.g. http://localhost:8000/v1; a line's url '/v1/chat/completions' is sent to base_url +
    '/chat/completions'). Raises ValidationFailed (with the report) when the file is invalid."""
    if str(source) == "-":
        raise UsageError("batchkit run needs a file, not standard input (it reads the file twice)")
    if concurrency < 1:
        raise UsageError(Text(Option("concurrency"), " must be at least 1"))
    source = Path(source)
    requests = _valid_requests(source, provider)
    output = Path(output)
    errors = Path(errors) if errors else default_errors_path(output)
    _check_paths(source, output, errors)
    out_handle, done, err_handle = _open_parts(output, errors)
    result = RunResult(
        total=requests,
        skipped=len(done),
        succeeded=0,
        failed=0,
        retries=0,
        output=output,
        errors=None,
    )
    sending = _Sending(source, done, base_url, api_key, concurrency, max_rps, max_attempts)
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
    done: set[str]
    base_url: str
    api_key: str | None
    concurrency: int
    max_rps: float | None
    max_attempts: int

    async def send_all(
        self, out_handle: BinaryIO, err_handle: BinaryIO, result: RunResult, progress: RequestsDone | None
    ) -> None:

        def record(line: dict, ok: bool) -> None:
            handle = out_handle if ok else err_handle
            try:
                handle.write(dumps_line(line))
                handle.flush()  # one whole line reaches the OS before the next is counted
            except OSError as e:  # a full disk or a file size limit: stop, saying which file
                raise cannot_write(handle.name, e) from None
            if ok:
                result.succeeded += 1
            else:
                result.failed += 1
                result.causes[cause(line)] += 1
                if line["response"]["status_code"] == 404 and result.hint is None:
                    result.hint = missing_v1_hint(self.base_url)
            if progress:
                progress(result.skipped + result.succeeded + result.failed, result.failed, result.total)

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

    async def _pump(self, sender, record: Callable[[dict, bool], None]) -> None:
        """Read requests into a bounded queue and send them with `concurrency` workers."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=self.concurrency * 2)

        async def worker() -> None:
            while (item := await queue.get()) is not None:
                custom_id, url, body = item
                answer = await sender.post(api_path(url), body)
                line = result_line(custom_id, answer.status_code, answer.body, answer.request_id)
                record(line, 200 <= answer.status_code < 300)

        async def produce() -> None:
            for request in requests_of(self.source, OPENAI, self.done):
                await queue.put((request.id, request.endpoint, request.body))
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
