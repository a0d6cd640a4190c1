"""The cache meets batch files: which answers are kept (`good_answer`), keeping a finished batch's good
answers (`remember`), and splitting a batch file into the requests answered from the cache — written at
once as result lines of the provider's shape, marked as cached — and the requests to send (`split`).

A kept answer is the provider's own result line without the request's id; a cached answer is that line
with the new request's id (written where its format keeps ids) and the `CACHED` member saying which batch
it came from and when. So `merge` and every other reader of result lines take it as they take any other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import NamedTuple

import orjson

from ..atomic import atomic_write
from ..formats import Dialect, Request, read_requests
from ..lines import open_binary, read_objects
from ..results import ANSWERED, CACHED, AnswerParser, Expected, ResultRecord, normalise, request_schema
from .keys import answer_key
from .store import AnswerCache, Hit

# finish reasons (as the OpenAI output line names them) of an answer that ended on its own
COMPLETE = frozenset({"stop", "tool_calls", "function_call", "completed", "end_turn"})
CHUNK = 500  # requests looked up, answers stored, at a time


def _ignore(finding) -> None:
    """Lines that are no request or no result: the file was validated, or the reader reports them."""


def good_answer(record: ResultRecord, expected: Expected | None, parser: AnswerParser) -> bool:
    """Whether an answer is worth keeping: status 200 with an answer (`ok`), every choice ended on its own
    (not cut at the token limit, not filtered; an answer without choices, such as embeddings, has no
    finish reason) and holding text or tool calls (not a refusal, not empty), and for a request that asked
    for a JSON schema, JSON that follows it. An answer that came from the cache is kept already."""
    if not record.ok or record.status_code != 200 or record.cached_from is not None:
        return False
    says_how_it_ended = bool(record.contents) or record.finish_reason is not None
    reasons = (record.finish_reason, *record.later_reasons)
    if says_how_it_ended and any(reason not in COMPLETE for reason in reasons):
        return False
    if record.contents and not record.tool_calls and not all(record.contents):
        return False  # a choice said nothing (content null beside a refusal, or empty)
    if expected is None:
        return True
    return parser.check(expected, record.content, record.tool_calls, record.finish_reason) is None


def stored_line(obj: dict, dialect: Dialect) -> bytes:
    """A result line as the cache keeps it: without the request's id (where the request's format,
    `dialect`, keeps it) and without a cache mark."""
    obj.pop(CACHED, None)
    obj.pop(ANSWERED, None)
    *parents, last = dialect.id_path
    holder = obj
    for key in parents:
        holder = holder.get(key) if type(holder) is dict else None
    if type(holder) is dict:
        holder.pop(last, None)
    return orjson.dumps(obj)


def cached_line(hit: Hit, request: Request, marks: dict | None = None) -> bytes:
    """The result line answering `request` from the cache: the kept line with the request's id first and
    the mark of where it came from last (and any other `marks`)."""
    obj = orjson.loads(hit.line)
    request.format.set_id(obj, request.id)
    first = request.format.id_path[0]
    line = {first: obj.pop(first), **obj, CACHED: {"batch_id": hit.batch_id, "stored_at": hit.stored_at}}
    return orjson.dumps(line | (marks or {})) + b"\n"


def _chunks(items: Iterable, size: int = CHUNK) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@dataclass
class Split:
    """What `split` found: requests in the file, answered from the cache, to send."""

    requests: int = 0
    cached: int = 0

    @property
    def sent(self) -> int:
        return self.requests - self.cached


def split(
    cache: AnswerCache, where: str, path: Path, batch_model: str | None, send_to: Path, cached_to: Path
) -> Split:
    """Read the batch file `path` (found valid) and look each request up: the answered ones' result lines
    go to `cached_to`, the other request lines (byte for byte) to `send_to`. Both appear whole; neither
    is left when nothing was answered. `batch_model`: the model of a batch of an API that takes it there
    (Gemini, Mistral, Vertex, Bedrock): it answers every request, whatever a request names."""
    found = Split()
    with open_binary(path) as stream, atomic_write(send_to) as send, atomic_write(cached_to) as cached:
        for chunk in _chunks(read_requests(stream, _ignore)):
            keys = [answer_key(where, r.endpoint, batch_model or r.model, r.body) for r in chunk]
            hits = cache.lookup(keys)
            for request, key in zip(chunk, keys, strict=True):
                found.requests += 1
                hit = hits.get(key) if request.id is not None else None
                if hit is None:
                    send.write(request.raw + b"\n")
                else:
                    cached.write(cached_line(hit, request))
                    found.cached += 1
    if not found.cached:
        for path_written in (send_to, cached_to):
            path_written.unlink(missing_ok=True)
    return found


class _Asked(NamedTuple):
    key: bytes
    expected: Expected | None
    dialect: Dialect


def _asked(where: str, path: Path, batch_model: str | None) -> dict[str, _Asked | None]:
    """Every request of a batch file by id (None for an id two lines share: its answer cannot be told
    apart), with its key, the schema it asked for and its format (a few hundred bytes a request)."""
    asked: dict[str, _Asked | None] = {}
    with open_binary(path) as stream:
        for request in read_requests(stream, _ignore):
            if request.id is None:
                continue
            if request.id in asked:
                asked[request.id] = None
                continue
            key = answer_key(where, request.endpoint, batch_model or request.model, request.body)
            asked[request.id] = _Asked(key, request_schema(request), request.format)
    return asked


def remember(
    cache: AnswerCache,
    where: str,
    requests_path: str | os.PathLike,
    results: Iterable[str | os.PathLike],
    *,
    batch_model: str | None = None,
    batch_id: str | None = None,
) -> int:
    """Keep the good answers in the result files `results` to the requests of `requests_path` (the file
    that was sent), as answered by `batch_id` at `where` (`batch_model`: as for `split`); the number new
    to the cache."""
    asked = _asked(where, Path(requests_path), batch_model)
    parser = AnswerParser()

    def kept() -> Iterator[tuple[bytes, bytes]]:
        for path in results:
            with open_binary(path) as stream:
                for number, obj, _raw in read_objects(stream, _ignore):
                    record = normalise(obj, number)
                    known = asked.get(record.custom_id) if record is not None else None
                    if known is not None and good_answer(record, known.expected, parser):
                        yield known.key, stored_line(obj, known.dialect)

    return sum(cache.store(where, batch_id, chunk) for chunk in _chunks(kept()))


class Keeper:
    """The cache for a sender of single requests (`batchkit run`): looks requests up a chunk at a time and
    keeps the good answers that come back, written to the cache a chunk at a time (and by `flush`)."""

    def __init__(self, cache: AnswerCache, where: str):
        self.cache, self.where = cache, where
        self.parser = AnswerParser()
        self.kept = 0  # answers new to the cache
        self._waiting: list[tuple[bytes, bytes]] = []

    def key(self, request: Request) -> bytes:
        return answer_key(self.where, request.endpoint, request.model, request.body)

    def lookup(self, requests: list[Request]) -> list[Hit | None]:
        """The cached answer of each request (None: send it)."""
        keys = [self.key(request) for request in requests]
        hits = self.cache.lookup(keys)
        return [
            hits.get(key) if request.id is not None else None
            for request, key in zip(requests, keys, strict=True)
        ]

    def offer(self, request: Request, line: dict) -> None:
        """Keep the answer `line` (a result line) to `request` if it is a good one."""
        record = normalise(line)
        if record is not None and good_answer(record, request_schema(request), self.parser):
            self._waiting.append((self.key(request), stored_line(dict(line), request.format)))
            if len(self._waiting) >= CHUNK:
                self.flush()

    def flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        self.kept += self.cache.store(self.where, None, waiting)
