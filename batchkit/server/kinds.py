"""What differs between the batches of the APIs the server speaks, for the worker: how a batch's input lines
become requests to answer, how an answer becomes the API's result line, what a request that never ran
leaves behind, and which result files a finished batch has. The worker, the store and the backends are
the same for all of them.

    openai     {custom_id, method, url, body} → {id, custom_id, response, error}; output + error files
    anthropic  {custom_id, params} (sent inline) → {custom_id, result}; one results file; canceled and
               expired requests get result lines of their own
    gemini     {key, request} → {key, response} | {key, error}; one responses file, in input order
    mistral    {custom_id, body} → OpenAI's output line; output + error files
    vertex     {request} → {status, processed_time, request, response}; predictions.jsonl in the bucket
    bedrock    {recordId, modelInput} → {recordId, modelInput, modelOutput | error}; INPUT.out and
               manifest.json.out in the bucket

Vertex's and Bedrock's input is read from their bucket when the job is created, and their outputs are
written there (`publish`) before the job's end is recorded, so a restarted server writes them again.

The OpenAI batch is checked as a whole first (`intake`: a bad line fails the batch, as on OpenAI); on the
others each line stands alone, and one that its API would refuse gets that API's 400 as its result.
Requests of those are recorded by line number, since their ids may repeat or be missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ..formats import OPENAI, get_dialect, requests_of
from ..lines import Overlong, content_lines, dumps_line, open_binary
from ..wire import Answer, error_body, expired_line, new_id, result_line
from . import adapt, buckets
from .store import CANCELED, ERRORED, EXPIRED, SUCCEEDED

CHAT = "/v1/chat/completions"


@dataclass
class Job:
    """One request of a batch: where its result is recorded (`key`, `number`), what to send, or the answer
    it gets without being sent (`refusal`), and what its result line repeats from the input (`echo`)."""

    number: int
    key: str
    endpoint: str | None = None
    body: dict | None = None
    refusal: Answer | None = None
    echo: dict = field(default_factory=dict)


def _refused(message: str, status: int = 400) -> Answer:
    return Answer(status, error_body(message, code="invalid_request"), new_id("req_"))


def _objects(path, done: set[str]) -> Iterator[tuple[int, dict | None]]:
    """(line number, object or None when the line is no JSON object) of each line not yet answered."""
    with open_binary(path) as stream:
        for number, raw in content_lines(stream):
            if str(number) in done:
                continue
            try:
                obj = None if isinstance(raw, Overlong) else orjson.loads(raw)
            except orjson.JSONDecodeError:
                obj = None
            yield number, obj if isinstance(obj, dict) else None


class Kind:
    name = "openai"
    validates = True  # the batch is checked as a whole before it runs (OpenAI's validating stage)
    split_files = True  # successes and failures in two files (else every result in one)
    not_run = (EXPIRED,)  # the outcomes a request that never ran is written with

    def writes_unrun(self, batch: dict, outcome: str) -> bool:
        """Whether a request of `batch` that never ran gets a result line when the batch ends `outcome`."""
        return outcome in self.not_run

    def publish(self, store, record: dict, output: Path | None, scratch: Path) -> None:
        """Write a finished batch's results where its API's service writes them (only bucket APIs do)."""

    def jobs(self, path, batch: dict, done: set[str]) -> Iterator[Job]:
        for request in requests_of(path, OPENAI, done):
            echo = {"custom_id": request.id}
            yield Job(request.line, request.id, batch["endpoint"], request.body, echo=echo)

    def result(self, job: Job, answer: Answer) -> tuple[dict, str]:
        """The result line for an answer, and its outcome."""
        line = result_line(job.echo.get("custom_id"), answer.status_code, answer.body, answer.request_id)
        return line, SUCCEEDED if 200 <= answer.status_code < 300 else ERRORED

    def unrun(self, job: Job, outcome: str) -> dict:
        return expired_line(job.echo["custom_id"])


class AnthropicKind(Kind):
    name = "anthropic"
    validates = False
    split_files = False
    not_run = (EXPIRED, CANCELED)

    def jobs(self, path, batch: dict, done: set[str]) -> Iterator[Job]:
        dialect = get_dialect("anthropic")
        for number, obj in _objects(path, done):
            job = Job(number, str(number), echo={"custom_id": dialect.id_of(obj or {})})
            converted, why = adapt.openai_request(obj, dialect, line=number)
            if converted is None:
                job.refusal = _refused(why)
            else:
                job.endpoint, job.body = converted["url"], converted["body"]
                job.echo["model"] = dialect.read(obj).model
            yield job

    def result(self, job: Job, answer: Answer) -> tuple[dict, str]:
        custom_id = job.echo["custom_id"]
        if 200 <= answer.status_code < 300:
            message = adapt.anthropic_message(answer.body, job.echo.get("model"))
            return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}, SUCCEEDED
        error = adapt.anthropic_error(answer.status_code, answer.body)
        return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}, ERRORED

    def unrun(self, job: Job, outcome: str) -> dict:
        return {"custom_id": job.echo["custom_id"], "result": {"type": outcome}}


class GeminiKind(Kind):
    name = "gemini"
    validates = False
    split_files = False
    not_run = ()  # an expired or cancelled Gemini batch's responses file has results only for what ran

    def writes_unrun(self, batch: dict, outcome: str) -> bool:
        # inline responses have no key of their own: a client finds a request's by its place, so one that
        # never ran keeps its place with an error, as the file's lines need not
        return bool((batch.get("params") or {}).get("inline")) and outcome in (EXPIRED, CANCELED)

    def unrun(self, job: Job, outcome: str) -> dict:
        code, status = (1, "CANCELLED") if outcome == CANCELED else (4, "DEADLINE_EXCEEDED")
        message = f"the batch ended {outcome} before this request ran"
        return {**job.echo, "error": {"code": code, "message": message, "status": status}}

    def jobs(self, path, batch: dict, done: set[str]) -> Iterator[Job]:
        model = batch["model"].removeprefix("models/")
        for number, obj in _objects(path, done):
            job = Job(number, str(number))
            if obj is None:
                job.refusal = _refused(f"line {number} is not a JSON object")
                yield job
                continue
            job.echo = {k: obj[k] for k in ("key", "metadata") if k in obj}
            line = {"key": obj.get("key", str(number)), "request": obj.get("request")}
            converted, why = adapt.openai_request(line, "gemini", line=number, model=model)
            if converted is None:
                job.refusal = _refused(why)
            else:
                job.endpoint, job.body = converted["url"], converted["body"]
            yield job

    def result(self, job: Job, answer: Answer) -> tuple[dict, str]:
        if 200 <= answer.status_code < 300:
            return {**job.echo, "response": adapt.gemini_response(answer.body)}, SUCCEEDED
        return {**job.echo, "error": adapt.gemini_error(answer.status_code, answer.body)}, ERRORED


class MistralKind(Kind):
    name = "mistral"
    validates = False
    not_run = ()

    def jobs(self, path, batch: dict, done: set[str]) -> Iterator[Job]:
        for number, obj in _objects(path, done):
            job = Job(number, str(number), echo={"custom_id": (obj or {}).get("custom_id")})
            if obj is None:
                job.refusal = _refused(f"line {number} is not a JSON object")
            else:
                job.refusal = self._convert(job, obj, batch)
            yield job

    @staticmethod
    def _convert(job: Job, obj: dict, batch: dict) -> Answer | None:
        line = {"custom_id": obj.get("custom_id") or f"line-{job.number}", "body": obj.get("body")}
        converted, why = adapt.openai_request(line, "custom-body", line=job.number, model=batch["model"])
        if converted is None:
            return _refused(why)
        if converted["url"] != batch["endpoint"]:
            return _refused(f"this body is not a {batch['endpoint']} request")
        job.endpoint, job.body = converted["url"], converted["body"]
        return None


class BucketKind(Kind):
    """The jobs of APIs that read their input from a bucket (Vertex, Bedrock): each line stands alone, the
    results go in one file, and a stopped job's hold only what ran."""

    validates = False
    split_files = False
    not_run = ()
    dialect = ""  # the line format
    echoed: tuple[str, ...] = ()  # the members of a line its result repeats

    def model(self, batch: dict) -> str:
        return batch["model"]

    def jobs(self, path, batch: dict, done: set[str]) -> Iterator[Job]:
        model = self.model(batch)
        for number, obj in _objects(path, done):
            job = Job(number, str(number), echo={k: obj[k] for k in self.echoed if k in (obj or {})})
            converted, why = (
                adapt.openai_request(obj, self.dialect, line=number, model=model)
                if obj is not None
                else (None, f"line {number} is not a JSON object")
            )
            if converted is None:
                job.refusal = _refused(why)
            else:
                job.endpoint, job.body = converted["url"], converted["body"]
            yield job


class VertexKind(BucketKind):
    name = dialect = "vertex"
    echoed = ("request",)

    def model(self, batch: dict) -> str:
        return batch["model"].rsplit("/", 1)[-1]  # publishers/google/models/NAME

    def result(self, job: Job, answer: Answer) -> tuple[dict, str]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        line = {"status": "", "processed_time": stamp, "request": job.echo.get("request")}
        if 200 <= answer.status_code < 300:
            return line | {"response": adapt.gemini_response(answer.body)}, SUCCEEDED
        return line | {"status": adapt.error_message(answer.body)}, ERRORED

    def publish(self, store, record: dict, output: Path | None, scratch: Path) -> None:
        if output is not None:
            buckets.publish(output, record["params"]["output_directory"] + "/predictions.jsonl")


class BedrockKind(BucketKind):
    name = dialect = "bedrock"
    echoed = ("recordId", "modelInput")

    def result(self, job: Job, answer: Answer) -> tuple[dict, str]:
        if 200 <= answer.status_code < 300:
            model = answer.body.get("model") if isinstance(answer.body, dict) else None
            return {**job.echo, "modelOutput": adapt.anthropic_message(answer.body, model)}, SUCCEEDED
        error = {"errorCode": answer.status_code, "errorMessage": adapt.error_message(answer.body)}
        return {**job.echo, "error": error}, ERRORED

    def publish(self, store, record: dict, output: Path | None, scratch: Path) -> None:
        params = record["params"]
        folder = f"{params['output_uri'].rstrip('/')}/{record['id']}"
        if output is not None:
            buckets.publish(output, f"{folder}/{params['input_uri'].rsplit('/', 1)[-1]}.out")
        done = record["completed"] + record["failed"]
        manifest = {"totalRecordCount": record["total"], "processedRecordCount": done,
                    "successRecordCount": record["completed"], "errorRecordCount": record["failed"],
                    "inputTokenCount": record["input_tokens"], "outputTokenCount": record["output_tokens"]}  # fmt: skip
        buckets.publish_bytes(orjson.dumps(manifest), f"{folder}/manifest.json.out", scratch)


KINDS: dict[str, Kind] = {
    k.name: k for k in (Kind(), AnthropicKind(), GeminiKind(), MistralKind(), VertexKind(), BedrockKind())
}


def result_bytes(kind: Kind, job: Job, answer: Answer) -> tuple[bytes, str, dict | None]:
    """(the result line as written, its outcome, the usage it reports) for one answered job."""
    line, outcome = kind.result(job, answer)
    usage = answer.body.get("usage") if outcome == SUCCEEDED and isinstance(answer.body, dict) else None
    return dumps_line(line), outcome, usage
