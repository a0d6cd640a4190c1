"""Bedrock's batch inference control plane, as `boto3.client("bedrock")` speaks it (REST-JSON, every request
signed with AWS Signature Version 4, checked by `sigv4` against the account's key pair):

    POST /model-invocation-job                 CreateModelInvocationJob → {jobArn}
    GET  /model-invocation-job/{id or ARN}     GetModelInvocationJob
    POST /model-invocation-job/{id}/stop       StopModelInvocationJob
    GET  /model-invocation-jobs                ListModelInvocationJobs (maxResults, nextToken, sortOrder …)
    GET  /foundation-models                    ListFoundationModels (the backend's models)

A create is checked as the service model says (job name, role ARN, token and S3 URI patterns, the timeout's
24–168 hours) and is idempotent by `clientRequestToken`. The input object is read from S3 when the job is
created; the outputs are written when it ends to `OUTPUT/<job id>/<input name>.out` and
`OUTPUT/<job id>/manifest.json.out`. The role is checked for its form only: the emulated service reads and
writes the buckets with the server's own credentials.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request

from . import sigv4
from .http import ApiError, body_of, db, json_object
from .routes import cancel, create_from_object, ended_at, window

ACCOUNT = "123456789012"  # the emulated account, in ARNs
STATUS = {
    "validating": "Validating",
    "in_progress": "InProgress",
    "finalizing": "InProgress",
    "cancelling": "Stopping",
    "completed": "Completed",
    "failed": "Failed",
    "cancelled": "Stopped",
    "expired": "Expired",
}
# the service model's patterns (botocore data/bedrock/2023-04-20/service-2.json)
PATTERNS = {
    "jobName": r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}",
    "roleArn": r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+",
    "clientRequestToken": r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}",
    "s3Uri": r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?",
}
NAME_MAX = 63


async def _signed(request: Request) -> None:
    """Refuse a request not signed with the account's key pair, as AWS does (403 and the exception)."""
    state = request.app.state
    if not hasattr(state, "aws_credentials"):
        state.aws_credentials = await asyncio.to_thread(sigv4.account_credentials)
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.scope["headers"]}
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    url = f"{request.url.scheme}://{headers.get('host', '')}{raw.decode('latin-1')}" + (
        f"?{query.decode('latin-1')}" if query else ""
    )
    try:
        sigv4.check(request.method, url, headers, await body_of(request), state.aws_credentials)
    except sigv4.Refused as refused:
        raise ApiError(403, refused.message, type=refused.kind) from None


router = APIRouter(dependencies=[Depends(_signed)])


def _epoch_text(seconds: int | None) -> str | None:
    return (
        None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    )


def job(record: dict) -> dict:
    """A batch as GetModelInvocationJob's answer."""
    params = record["params"]
    answer = {
        "jobArn": f"arn:aws:bedrock:{params['region']}:{ACCOUNT}:model-invocation-job/{record['id']}",
        "jobName": params["job_name"],
        "modelId": record["model"],
        "clientRequestToken": record["idempotency_key"],
        "roleArn": params["role_arn"],
        "status": _status(record),
        "submitTime": _epoch_text(record["created_at"]),
        "lastModifiedTime": _epoch_text(ended_at(record) or record["in_progress_at"] or record["created_at"]),
        "inputDataConfig": {"s3InputDataConfig": {"s3InputFormat": "JSONL", "s3Uri": params["input_uri"]}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": params["output_uri"]}},
        "timeoutDurationInHours": params["hours"],
        "jobExpirationTime": _epoch_text(record["expires_at"]),
        "totalRecordCount": record["total"],
        "processedRecordCount": record["completed"] + record["failed"],
        "successRecordCount": record["completed"],
        "errorRecordCount": record["failed"],
    }
    if ended_at(record) is not None:
        answer["endTime"] = _epoch_text(ended_at(record))
    if record["errors"]:
        answer["message"] = record["errors"][0]["message"]
    return answer


def _status(record: dict) -> str:
    if record["status"] == "completed" and record["failed"]:
        return "PartiallyCompleted"
    return STATUS[record["status"]]


def _invalid(message: str) -> ApiError:
    return ApiError(400, message, type="ValidationException")


def _field(body: dict, path: tuple[str, ...], pattern_name: str) -> str:
    value = body
    for name in path:
        value = value.get(name) if isinstance(value, dict) else None
    where = ".".join(path)
    if not isinstance(value, str) or not re.fullmatch(PATTERNS[pattern_name], value):
        raise _invalid(f"1 validation error detected: Value at '{where}' failed to satisfy constraint: Member "
                       f"must satisfy regular expression pattern: {PATTERNS[pattern_name]}")  # fmt: skip
    return value


def _checked(body: dict) -> dict:
    name = _field(body, ("jobName",), "jobName")
    if len(name) > NAME_MAX:
        raise _invalid(
            f"1 validation error detected: Value at 'jobName' failed to satisfy constraint: Member must have length less than or equal to {NAME_MAX}"
        )
    hours = body.get("timeoutDurationInHours", 24)
    if not isinstance(hours, int) or not 24 <= hours <= 168:
        raise _invalid("timeoutDurationInHours: a whole number of hours from 24 to 168")
    model = body.get("modelId")
    if not isinstance(model, str) or not model:
        raise _invalid("modelId is required")
    return {
        "job_name": name,
        "role_arn": _field(body, ("roleArn",), "roleArn"),
        "token": _field(body, ("clientRequestToken",), "clientRequestToken"),
        "input_uri": _field(body, ("inputDataConfig", "s3InputDataConfig", "s3Uri"), "s3Uri"),
        "output_uri": _field(body, ("outputDataConfig", "s3OutputDataConfig", "s3Uri"), "s3Uri"),
        "hours": hours,
        "model": model,
    }


def _region(request: Request) -> str:
    """The region the request was signed for (its credential scope)."""
    found = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", request.headers.get("authorization", ""))
    return found.group(1) if found else "us-east-1"


@router.post("/model-invocation-job")
async def create(request: Request):
    asked = _checked(await json_object(request))
    store = request.app.state.store
    earlier = await db(store.record_by_key, "bedrock", asked["token"])
    if earlier is not None:  # the same token: the same job
        return {"jobArn": job(earlier)["jobArn"]}
    params = {k: asked[k] for k in ("job_name", "role_arn", "input_uri", "output_uri", "hours")}
    params["region"] = _region(request)

    def refuse(reason: str) -> ApiError:
        return _invalid(f"Unable to read the input data at {asked['input_uri']}: {reason}")

    record = await create_from_object(request, "bedrock", asked["input_uri"], refuse, endpoint="InvokeModel",
                                      completion_window=f"{asked['hours']}h", params=params, model=asked["model"],
                                      idempotency_key=asked["token"], window_seconds=window(request, asked["hours"]))  # fmt: skip
    return {"jobArn": job(record)["jobArn"]}


async def _record(request: Request, identifier: str) -> dict:
    job_id = identifier.rsplit("/", 1)[-1]
    record = await db(request.app.state.store.record, job_id, "bedrock")
    if record is None:
        raise ApiError(
            404, f"The specified job {job_id} could not be found.", type="ResourceNotFoundException"
        )
    return record


@router.get("/model-invocation-job/{identifier:path}")
async def get_job(request: Request, identifier: str):
    return job(await _record(request, identifier))


@router.post("/model-invocation-job/{identifier:path}/stop")
async def stop_job(request: Request, identifier: str):
    record = await _record(request, identifier)
    if not await cancel(request, record["id"]):
        raise ApiError(
            409, f"The job {record['id']} has already ended ({_status(record)}).", type="ConflictException"
        )
    return {}


@router.get("/model-invocation-jobs")
async def list_jobs(request: Request, maxResults: int = 1000, nextToken: str | None = None,  # noqa: N803
                    sortOrder: str = "Descending", statusEquals: str | None = None):  # noqa: N803  # fmt: skip
    if not 1 <= maxResults <= 1000 or sortOrder not in ("Ascending", "Descending"):
        raise _invalid("maxResults: 1 to 1000; sortOrder: Ascending or Descending")
    where = (
        {"status": [ours for ours, theirs in STATUS.items() if theirs == statusEquals] or ["-"]}
        if statusEquals
        else {}
    )
    listed = await db(request.app.state.store.list_records, "bedrock", limit=maxResults, after=nextToken,
                      oldest_first=sortOrder == "Ascending", where=where)  # fmt: skip
    if listed is None:
        raise _invalid("The pagination token is invalid.")
    records, more = listed
    answer: dict = {"invocationJobSummaries": [job(r) for r in records]}
    if more:
        answer["nextToken"] = records[-1]["id"]
    return answer


@router.get("/foundation-models")
async def foundation_models(request: Request):
    served = await request.app.state.backend.served_models() or frozenset()
    summaries = [{"modelArn": f"arn:aws:bedrock:{_region(request)}::foundation-model/{m}", "modelId": m,
                  "providerName": "batchkit", "inferenceTypesSupported": ["ON_DEMAND"]} for m in sorted(served)]  # fmt: skip
    return {"modelSummaries": summaries}
