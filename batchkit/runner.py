"""`batchkit run`: execute a batch file directly against any OpenAI-compatible server and write the output
and error files a Batch API would (OpenAI format, one line per custom_id, in the order answers arrive).

Resumable, and every file still appears whole: lines are appended (one flushed write per line) to
`OUTPUT.part` and `ERRORS.part` while the run goes on; when every request has an answer the parts are
synced and renamed to OUTPUT and ERRORS. A run that finds parts (or finished files) from an earlier run
drops a trailing half line, keeps every complete one and sends only the custom_ids not yet answered.
Failed requests are answered too (they are in ERRORS) and are not sent again; `batchkit retry` makes a
file of them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson

from .errors import InputError, UsageError, ValidationFailed
from .jsonl import dumps_line, request_lines
from .providers import Provider
from .wire import LOCAL, api_path, result_line

Progress = Callable[[int, int, int], None]  # (answered so far, failed so far, total requests)


@dataclass
class RunSummary:
    total: int  # requests in the file
    skipped: int  # answered by an earlier run
    succeeded: int  # by this run
    failed: int  # by this run
    retries: int  # extra attempts (429, 5xx, connection failures)
    output: Path
    errors: Path | None  # None when no request failed, now or before


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


def _close(handle: BinaryIO, final: Path, keep_empty: bool) -> bool:
    """Sync a part file and rename it to `final` (or remove it when empty and not wanted). True if kept."""
    handle.flush()
    os.fsync(handle.fileno())
    size = handle.tell()
    handle.close()
    part = part_path(final)
    if size == 0 and not keep_empty:
        part.unlink()
        return False
    os.replace(part, final)
    return True


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
    progress: Progress | None = None,
) -> RunSummary:
    """Validate `source`, then send every request not yet answered in OUTPUT/ERRORS to `base_url`
    (e.g. http://localhost:8000/v1; a line's url '/v1/chat/completions' is sent to base_url +
    '/chat/completions'). Raises ValidationFailed (with the report) when the file is invalid."""
    from .validate import validate_file

    if str(source) == "-":
        raise UsageError("batchkit run needs a file, not standard input (it reads the file twice)")
    source = Path(source)
    if concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    report = validate_file(source, provider)
    if not report.valid:
        raise ValidationFailed(
            f"{source}: {report.summary.errors} error(s); nothing was sent (fix the file and run again)",
            report,
        )
    output = Path(output)
    errors = Path(errors) if errors else default_errors_path(output)
    if output.resolve() == errors.resolve():
        raise UsageError("OUTPUT and ERRORS must be different files")
    for path in (output, errors):
        if path.resolve() == source.resolve():
            raise UsageError(f"{path} is the input file; choose another output name")
        if not path.parent.is_dir():
            raise InputError(f"{path.parent}: no such folder")
    out_handle, out_done = _open_part(output)
    err_handle, err_done = _open_part(errors)
    done = out_done | err_done
    total = report.summary.requests
    summary = RunSummary(
        total=total, skipped=len(done), succeeded=0, failed=0, retries=0, output=output, errors=None
    )
    had_errors = bool(err_done)
    finished = False
    try:
        asyncio.run(
            _send_all(
                source,
                done,
                base_url,
                api_key,
                concurrency,
                max_rps,
                max_attempts,
                out_handle,
                err_handle,
                summary,
                progress,
            )
        )
        finished = True
    finally:
        if finished:
            _close(out_handle, output, keep_empty=True)
            if _close(err_handle, errors, keep_empty=had_errors) or had_errors:
                summary.errors = errors
        else:  # interrupted: the parts stay for the next run
            out_handle.close()
            err_handle.close()
    return summary


async def _send_all(
    source: Path,
    done: set[str],
    base_url: str,
    api_key: str | None,
    concurrency: int,
    max_rps: float | None,
    max_attempts: int,
    out_handle: BinaryIO,
    err_handle: BinaryIO,
    summary: RunSummary,
    progress: Progress | None,
) -> None:
    try:
        from .wire import Sender
    except ImportError as e:  # httpx comes with the openai SDK and with the server extra
        raise UsageError(
            f"batchkit run needs {e.name}; install the server extra: pip install 'llm-batchkit[server]'"
        ) from None

    answered = summary.skipped
    failed_total = 0
    if progress:
        progress(answered, failed_total, summary.total)
    queue: asyncio.Queue = asyncio.Queue(maxsize=concurrency * 2)

    async def worker(sender: Sender) -> None:
        nonlocal answered, failed_total
        while (item := await queue.get()) is not None:
            custom_id, url, body = item
            answer = await sender.post(api_path(url), body)
            line = result_line(custom_id, answer.status_code, answer.body, answer.request_id)
            ok = 200 <= answer.status_code < 300
            handle = out_handle if ok else err_handle
            handle.write(dumps_line(line))
            handle.flush()  # one whole line reaches the OS before the next is counted
            answered += 1
            if ok:
                summary.succeeded += 1
            else:
                summary.failed += 1
                failed_total += 1
            if progress:
                progress(answered, failed_total, summary.total)

    async def produce() -> None:
        for _number, obj in request_lines(source, done):
            await queue.put((obj["custom_id"], obj["url"], obj["body"]))
        for _ in range(concurrency):
            await queue.put(None)

    async with Sender(
        base_url, api_key, concurrency=concurrency, max_rps=max_rps, max_attempts=max_attempts
    ) as sender:
        try:
            async with asyncio.TaskGroup() as group:  # a failing task stops the others
                group.create_task(produce())
                for _ in range(concurrency):
                    group.create_task(worker(sender))
        finally:
            summary.retries = sender.retries
