"""Running batches: validating → in_progress → finalizing → completed, or failed, cancelled, expired.

One asyncio task drives each unfinished batch. It races the batch's work against a cancel request and the
completion window's deadline; whichever comes first decides how the batch ends. Every finished request is
committed to the store before it counts (see store.py), so a restarted server picks each unfinished batch
up where the last commit left it. Output and error files are written from the store when a batch ends.
What differs between the APIs' batches (their lines, result lines and files) is the batch's `Kind`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from ..lines import content_lines, dumps_line, open_binary
from ..wire import Answer, error_body, missing_file_message, new_id
from .backends import LeftUnanswered
from .enqueued import prompt_tokens
from .intake import Intake, check_input
from .kinds import KINDS, Job, Kind, result_bytes
from .store import CANCELED, EXPIRED, UNFINISHED, Store, off_loop

log = logging.getLogger("batchkit.server")

WINDOW_SECONDS = {"24h": 86_400, "48h": 172_800, "72h": 259_200}


def window_seconds(window: str) -> float:
    """'24h' → 86400; '90m', '30s', '2d' too (for servers configured with other windows)."""
    if window in WINDOW_SECONDS:
        return WINDOW_SECONDS[window]
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[window[-1]]
    return float(window[:-1]) * unit


DRIVER_ATTEMPTS = 3  # a driver that fails is started again this many times in all, then fails its batch
DRIVER_BACKOFF = 0.5  # seconds before the second attempt; doubled each time
SUPERVISE_EVERY = 1.0  # seconds between the supervisor's looks for overdue batches no driver holds


class Manager:
    """Owns the tasks that run batches. `start()` resumes what a previous process left unfinished and
    starts the supervisor, which ends overdue batches that no driver holds."""

    def __init__(
        self,
        store: Store,
        backend,
        *,
        concurrency: int = 8,
        supervise_every: float = SUPERVISE_EVERY,
        enqueued_token_limit: int | None = None,
        max_file_size: int | None = None,
    ):
        self.store = store
        self.max_file_size = max_file_size  # the server's file limit, which bounds a line as well
        self.enqueued_token_limit = enqueued_token_limit
        self.backend = backend
        self.slots = asyncio.Semaphore(concurrency)  # requests in flight across all batches
        self.tasks: dict[str, asyncio.Task] = {}
        self.cancel_requests: dict[str, asyncio.Event] = {}
        self.supervise_every = supervise_every
        self.backoff = DRIVER_BACKOFF
        self._supervisor: asyncio.Task | None = None
        self.unanswered: dict[str, int] = {}  # batch id → requests the backend left to expire

    async def start(self) -> None:
        for batch_id in await off_loop(self.store.unfinished_batches):
            self.launch(batch_id)
        self._supervisor = asyncio.create_task(self._supervise(), name="batch supervisor")

    async def stop(self) -> None:
        tasks = list(self.tasks.values()) + ([self._supervisor] if self._supervisor else [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def launch(self, batch_id: str) -> None:
        self.cancel_requests[batch_id] = asyncio.Event()
        task = asyncio.create_task(self._drive(batch_id), name=f"batch {batch_id}")
        self.tasks[batch_id] = task
        task.add_done_callback(lambda t: self._done(batch_id, t))

    def _done(self, batch_id: str, task: asyncio.Task) -> None:
        self.tasks.pop(batch_id, None)
        self.cancel_requests.pop(batch_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("batch %s stopped on an internal error", batch_id, exc_info=task.exception())

    def request_cancel(self, batch_id: str) -> None:
        event = self.cancel_requests.get(batch_id)
        if event is None:
            self.launch(batch_id)  # nothing drives it (an earlier fault): a new driver ends it at once
        else:
            event.set()

    async def _supervise(self) -> None:
        """Every few seconds, give each overdue batch that no driver holds a driver (which expires it), and
        remove the bodies of files past their expires_at."""
        while True:
            await asyncio.sleep(self.supervise_every)
            try:
                await off_loop(self.store.expire_files, time.time())
                overdue = await off_loop(self.store.overdue_batches, time.time())
            except Exception:  # a busy or failing database: look again next time
                log.exception("the batch supervisor could not read the database")
                continue
            for batch_id in overdue:
                if batch_id not in self.tasks:
                    self.launch(batch_id)

    # one batch ---------------------------------------------------------------------------------------

    async def _drive(self, batch_id: str) -> None:
        """Drive a batch to its end; a fault is retried with backoff, and fails the batch after that."""
        for attempt in range(1, DRIVER_ATTEMPTS + 1):
            try:
                await self._drive_once(batch_id)
                return
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.error("batch %s: the server failed (attempt %d)", batch_id, attempt, exc_info=e)
                if attempt == DRIVER_ATTEMPTS:
                    await self._fail(batch_id, e)
                    return
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))

    async def _drive_once(self, batch_id: str) -> None:
        batch = await off_loop(self.store.record, batch_id)
        if batch["status"] in ("cancelling", "finalizing"):
            await self._conclude(batch_id)  # the work is over (or was when the last process stopped)
            return
        remaining = await off_loop(self.store.deadline, batch_id) - time.time()
        if remaining <= 0:  # overdue (found by the supervisor, or after a restart): it expires unrun
            await self._conclude(batch_id)
            return
        work = asyncio.create_task(self._work(batch_id))
        cancelled = asyncio.create_task(self.cancel_requests[batch_id].wait())
        try:
            done, _ = await asyncio.wait(
                {work, cancelled}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            cancelled.cancel()
            if not work.done():
                work.cancel()
            await asyncio.gather(work, cancelled, return_exceptions=True)
        if work in done and work.exception() is not None:
            raise work.exception()
        await self._conclude(batch_id)

    async def _fail(self, batch_id: str, fault: Exception) -> None:
        """End a batch the server could not drive: `failed`, with a server_error and whatever finished."""
        error = {
            "code": "server_error",
            "param": None,
            "line": None,
            "message": f"The server failed while processing this batch ({type(fault).__name__}); "
            "see the server's log.",
        }
        try:
            await self._finish(batch_id, "failed", when=UNFINISHED, batch_errors=[error])
        except Exception:  # the result files cannot be written either: end it without them
            log.exception("batch %s: could not write its result files", batch_id)
            try:
                await off_loop(self.store.transition, batch_id, "failed", when=UNFINISHED, errors=[error])
            except Exception:
                log.exception("batch %s: could not record its failure", batch_id)

    async def _conclude(self, batch_id: str) -> None:
        """End a batch whose work stopped, as its status (or its deadline) says."""
        batch = await off_loop(self.store.record, batch_id)
        status = batch["status"]
        if status == "finalizing":
            await self._finish(batch_id, "completed", when=("finalizing",))
        elif status == "cancelling":
            await off_loop(self._record_unrun, batch, CANCELED)
            await self._finish(batch_id, "cancelled", when=("cancelling",))
        elif status in ("validating", "in_progress"):
            await self._expire(batch_id)

    async def _validate(self, batch: dict, path: Path) -> None:
        """The validating stage: the batch moves to in_progress, or fails with OpenAI's errors.data."""
        batch_id = batch["id"]
        file = await off_loop(self.store.get_file, batch["input_file_id"])
        if file is None or file["purpose"] != "batch" or not path.is_file():
            error = {
                "code": "invalid_request",
                "param": "file_id",
                "line": None,
                "message": missing_file_message(batch["input_file_id"]),
            }
            await off_loop(self.store.transition, batch_id, "failed", when=("validating",), errors=[error])
            return
        if KINDS[batch["surface"]].validates:
            served = await self.backend.served_models()
            intake = await asyncio.to_thread(check_input, path, batch["endpoint"], served, self.max_file_size)
        else:  # each line stands alone: the batch needs only its count
            intake = Intake(total=await asyncio.to_thread(_count_lines, path), model=batch["model"])
        if intake.errors:
            await off_loop(
                self.store.transition, batch_id, "failed", when=("validating",), errors=intake.errors
            )
            return
        if self.enqueued_token_limit is not None:
            await self._admit(batch_id, path, total=intake.total, model=intake.model)
            return
        await off_loop(
            self.store.transition,
            batch_id,
            "in_progress",
            when=("validating",),
            total=intake.total,
            model=intake.model,
        )

    async def _admit(self, batch_id: str, path: Path, **fields) -> None:
        """In progress if its prompt tokens fit under the enqueued-token limit, else failed as OpenAI does."""
        tokens = await asyncio.to_thread(prompt_tokens, path)
        error = await off_loop(self.store.admit, batch_id, tokens, self.enqueued_token_limit, **fields)
        if error is not None:
            await off_loop(self.store.transition, batch_id, "failed", when=("validating",), errors=[error])

    async def _work(self, batch_id: str) -> None:
        """Validate (if not yet done) and run every unfinished request."""
        batch = await off_loop(self.store.record, batch_id)
        path = self.store.file_path(batch["input_file_id"])
        if batch["status"] == "validating":
            await self._validate(batch, path)
        batch = await off_loop(self.store.record, batch_id)
        if batch["status"] == "failed":  # refused while validating: a file deleted meanwhile goes now
            await off_loop(self.store.release_input, batch)
        if batch["status"] != "in_progress":
            return
        await self._run_requests(batch, path)
        if self.unanswered.pop(batch_id, 0):
            await asyncio.Event().wait()  # a request was left unanswered: the batch ends at its deadline
        await off_loop(self.store.transition, batch_id, "finalizing", when=("in_progress",))

    async def _answer(self, batch_id: str, kind: Kind, job: Job) -> None:
        """Send one request and commit its result line (a request is finished exactly when that commits)."""
        try:
            answer = job.refusal or await self.backend.call(job.endpoint, job.body)
        except LeftUnanswered:
            self.unanswered[batch_id] = self.unanswered.get(batch_id, 0) + 1
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a fault inside the server fails this request, not the batch
            log.exception("request %s of batch %s failed inside the server", job.key, batch_id)
            answer = Answer(
                500,
                error_body(f"internal error: {type(e).__name__}", "server_error", code="server_error"),
                new_id("req_"),
            )
        data, outcome, usage = result_bytes(kind, job, answer)
        await off_loop(self.store.record_results, batch_id, [(job.key, job.number, outcome, data, usage)])

    async def _run_requests(self, batch: dict, path: Path) -> None:
        kind = KINDS[batch["surface"]]
        done = await off_loop(self.store.done_custom_ids, batch["id"])
        async with asyncio.TaskGroup() as group:
            for job in kind.jobs(path, batch, done):
                await self.slots.acquire()
                task = group.create_task(self._answer(batch["id"], kind, job))
                # released by a callback: a task cancelled before it ever ran must free its slot too
                task.add_done_callback(lambda _task: self.slots.release())

    async def _expire(self, batch_id: str) -> None:
        """Write every unfinished request as expired (where the batch's API does), then end it `expired`."""
        batch = await off_loop(self.store.record, batch_id)
        if batch["status"] == "in_progress":
            await off_loop(self._record_unrun, batch, EXPIRED)
        await self._finish(batch_id, "expired", when=("validating", "in_progress"))

    def _record_unrun(self, batch: dict, outcome: str) -> None:
        """Record a result line with `outcome` for each request that never ran, where the API writes one."""
        kind = KINDS[batch["surface"]]
        if not kind.writes_unrun(batch, outcome):
            return
        done = self.store.done_custom_ids(batch["id"])
        path = self.store.file_path(batch["input_file_id"])
        unrun = (
            (job.key, job.number, outcome, dumps_line(kind.unrun(job, outcome)), None)
            for job in kind.jobs(path, batch, done)
        )
        self.store.record_results(batch["id"], unrun)

    async def _write_results(self, batch_id: str) -> dict:
        """The result files of a batch, by kind ("output", "error"): (file id, path) or None."""
        written = {"output": None, "error": None}
        record = await off_loop(self.store.record, batch_id)
        kind = KINDS[record["surface"]]
        for ok, prefix in ((True, "output"), (False, "error")) if kind.split_files else ((None, "output"),):
            file_id = new_id("file-")
            target = self.store.file_path(file_id)
            count = await off_loop(self.store.write_results, batch_id, ok, target)
            written[prefix] = (file_id, target) if count else None
        output = written["output"][1] if written["output"] else None
        scratch = self.store.files_dir / f".{batch_id}.publish"
        await asyncio.to_thread(
            kind.publish, self.store, await off_loop(self.store.record, batch_id), output, scratch
        )
        return written

    async def _finish(
        self, batch_id: str, status: str, *, when: tuple[str, ...], batch_errors: list[dict] | None = None
    ) -> None:
        """Write the result files from the store (and where the batch's API publishes them), then record
        the final status: a server stopped in between writes them again."""
        written = await self._write_results(batch_id)
        finished = await off_loop(
            self.store.finish_batch,
            batch_id,
            status,
            when=when,
            output=written["output"],
            errors=written["error"],
            batch_errors=batch_errors,
        )
        if not finished:
            for item in written.values():  # a cancel came in meanwhile: drop these files, end it as cancelled
                if item:
                    item[1].unlink(missing_ok=True)
            batch = await off_loop(self.store.record, batch_id)
            if batch["status"] == "cancelling":
                await off_loop(self._record_unrun, batch, CANCELED)
                await self._finish(batch_id, "cancelled", when=("cancelling",))
            return
        await off_loop(self.store.release_input, await off_loop(self.store.record, batch_id))


def _count_lines(path) -> int:
    """The requests of an input file whose lines stand alone: its lines that are not blank."""
    with open_binary(path) as stream:
        return sum(1 for _ in content_lines(stream))
