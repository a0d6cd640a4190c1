"""Running batches: validating → in_progress → finalizing → completed, or failed, cancelled, expired.

One asyncio task drives each unfinished batch. It races the batch's work against a cancel request and the
completion window's deadline; whichever comes first decides how the batch ends. Every finished request is
committed to the store before it counts (see store.py), so a restarted server picks each unfinished batch
up where the last commit left it. Output and error files are written from the store when a batch ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from ..formats import OPENAI, requests_of
from ..lines import dumps_line
from ..wire import Answer, error_body, expired_line, missing_file_message, new_id, result_line
from .enqueued import prompt_tokens
from .intake import check_input
from .store import UNFINISHED, Store, off_loop

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
        batch = await off_loop(self.store.get_batch, batch_id)
        if batch["status"] in ("cancelling", "finalizing"):
            await self._conclude(batch_id)  # the work is over (or was when the last process stopped)
            return
        work = asyncio.create_task(self._work(batch_id))
        cancelled = asyncio.create_task(self.cancel_requests[batch_id].wait())
        try:
            remaining = await off_loop(self.store.deadline, batch_id) - time.time()
            done, _ = await asyncio.wait(
                {work, cancelled}, timeout=max(0.0, remaining), return_when=asyncio.FIRST_COMPLETED
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
        status = (await off_loop(self.store.get_batch, batch_id))["status"]
        if status == "finalizing":
            await self._finish(batch_id, "completed", when=("finalizing",))
        elif status == "cancelling":
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
        served = await self.backend.served_models()
        intake = await asyncio.to_thread(check_input, path, batch["endpoint"], served, self.max_file_size)
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
        batch = await off_loop(self.store.get_batch, batch_id)
        path = self.store.file_path(batch["input_file_id"])
        if batch["status"] == "validating":
            await self._validate(batch, path)
        if (await off_loop(self.store.get_batch, batch_id))["status"] != "in_progress":
            return
        await self._run_requests(batch_id, batch["endpoint"], path)
        await off_loop(self.store.transition, batch_id, "finalizing", when=("in_progress",))

    async def _answer(self, batch_id: str, endpoint: str, number: int, custom_id: str, body) -> None:
        """Send one request and commit its result line (a request is finished exactly when that commits)."""
        try:
            answer = await self.backend.call(endpoint, body)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a fault inside the server fails this request, not the batch
            log.exception("request %s of batch %s failed inside the server", custom_id, batch_id)
            answer = Answer(
                500,
                error_body(f"internal error: {type(e).__name__}", "server_error", code="server_error"),
                new_id("req_"),
            )
        ok = 200 <= answer.status_code < 300
        line = result_line(custom_id, answer.status_code, answer.body, answer.request_id)
        usage = answer.body.get("usage") if ok else None
        await off_loop(
            self.store.record_results, batch_id, [(custom_id, number, ok, dumps_line(line), usage)]
        )

    async def _run_requests(self, batch_id: str, endpoint: str, path: Path) -> None:
        done = await off_loop(self.store.done_custom_ids, batch_id)
        async with asyncio.TaskGroup() as group:
            for request in requests_of(path, OPENAI, done):
                await self.slots.acquire()
                task = group.create_task(
                    self._answer(batch_id, endpoint, request.line, request.id, request.body)
                )
                # released by a callback: a task cancelled before it ever ran must free its slot too
                task.add_done_callback(lambda _task: self.slots.release())

    async def _expire(self, batch_id: str) -> None:
        """Write every unfinished request as `batch_expired`, then end the batch `expired`."""
        batch = await off_loop(self.store.get_batch, batch_id)
        if batch["status"] == "in_progress":
            await off_loop(self._record_expired, batch_id, self.store.file_path(batch["input_file_id"]))
        await self._finish(batch_id, "expired", when=("validating", "in_progress"))

    def _record_expired(self, batch_id: str, path: Path) -> None:
        done = self.store.done_custom_ids(batch_id)
        expired = (
            (request.id, request.line, False, dumps_line(expired_line(request.id)), None)
            for request in requests_of(path, OPENAI, done)
        )
        self.store.record_results(batch_id, expired)

    async def _finish(
        self, batch_id: str, status: str, *, when: tuple[str, ...], batch_errors: list[dict] | None = None
    ) -> None:
        """Write the output and error files from the store and record the final status."""
        written = {}
        for ok, prefix in ((True, "output"), (False, "error")):
            file_id = new_id("file-")
            target = self.store.file_path(file_id)
            count = await off_loop(self.store.write_results, batch_id, ok, target)
            written[prefix] = (file_id, target) if count else None
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
            if (await off_loop(self.store.get_batch, batch_id))["status"] == "cancelling":
                await self._finish(batch_id, "cancelled", when=("cancelling",))
            return
        await off_loop(self.store.release_input, await off_loop(self.store.get_batch, batch_id))
