"""Vertex AI batch prediction, as `google-genai` in Vertex mode speaks it (under `v1` and `v1beta1`):

    POST   {v}/projects/{p}/locations/{l}/batchPredictionJobs           a job of a gs:// JSONL input
    GET    {v}/projects/{p}/locations/{l}/batchPredictionJobs[/{id}]    pageSize, pageToken
    POST   {v}/projects/{p}/locations/{l}/batchPredictionJobs/{id}:cancel     DELETE …/{id}

The input is read from its bucket when the job is created (a missing object is refused); the results are
written, when the job ends, to `OUTPUT_PREFIX/prediction-model-<created>/predictions.jsonl`, one line per
request that ran: `{status: "", processed_time, request, response}`, or `status` holding the error. A
cancelled job's file holds what ran. States JOB_STATE_*; completionStats counts the rows. Requests carry
an OAuth bearer token (checked against `--api-key-env` when one is set, as every API's key is).
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from ..lenient import as_dict
from .http import ApiError, db, json_object, limit_param
from .routes import cancel, create_from_object, ended_at, found_record, google_page, rfc3339, window
from .surfaces import VERTEX_VERSIONS

router = APIRouter(prefix="/{version}/projects/{project}/locations/{location}/batchPredictionJobs")

STATE = {
    "validating": "JOB_STATE_PENDING",
    "in_progress": "JOB_STATE_RUNNING",
    "finalizing": "JOB_STATE_RUNNING",
    "cancelling": "JOB_STATE_CANCELLING",
    "completed": "JOB_STATE_SUCCEEDED",
    "failed": "JOB_STATE_FAILED",
    "cancelled": "JOB_STATE_CANCELLED",
    "expired": "JOB_STATE_EXPIRED",
}
PUBLISHER = "publishers/google/models/"


def _checked_version(version: str) -> None:
    if version not in VERTEX_VERSIONS:
        raise ApiError(
            404, f"Unknown API version {version!r}; this server speaks {', '.join(VERTEX_VERSIONS)}."
        )


def job(record: dict) -> dict:
    """A batch as Vertex's BatchPredictionJob."""
    params, ended = record["params"], ended_at(record)
    answer = {
        "name": f"projects/{params['project']}/locations/{params['location']}/batchPredictionJobs/{record['id']}",
        "displayName": params.get("display_name") or record["id"],
        "model": record["model"],
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [params["input_uri"]]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": params["output_prefix"]},
        },
        "state": STATE[record["status"]],
        "createTime": rfc3339(record["created_at"]),
        "updateTime": rfc3339(ended or record["in_progress_at"] or record["created_at"]),
        "completionStats": {
            "successfulCount": str(record["completed"]),
            "failedCount": str(record["failed"]),
            "incompleteCount": str(max(record["total"] - record["completed"] - record["failed"], 0)),
        },
    }
    if record["in_progress_at"]:
        answer["startTime"] = rfc3339(record["in_progress_at"])
    if ended is not None:
        answer["endTime"] = rfc3339(ended)
        answer["outputInfo"] = {"gcsOutputDirectory": params["output_directory"]}
    if record["errors"]:
        answer["error"] = {"code": 3, "message": record["errors"][0]["message"]}
    return answer


def _config(body: dict) -> tuple[str, str, str]:
    """(model, input uri, output prefix) of a create request, as Vertex checks them."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model is required (publishers/google/models/MODEL).")
    uris = as_dict(as_dict(body.get("inputConfig")).get("gcsSource")).get("uris")
    if not (
        isinstance(uris, list) and len(uris) == 1 and isinstance(uris[0], str) and uris[0].startswith("gs://")
    ):
        raise ApiError(400, "inputConfig.gcsSource.uris: give one gs:// JSONL file.")
    output = as_dict(as_dict(body.get("outputConfig")).get("gcsDestination")).get("outputUriPrefix")
    if not (isinstance(output, str) and output.startswith("gs://")):
        raise ApiError(400, "outputConfig.gcsDestination.outputUriPrefix: give a gs:// prefix.")
    return model if "/" in model else PUBLISHER + model, uris[0], output


@router.post("")
async def create(request: Request, version: str, project: str, location: str):
    _checked_version(version)
    body = await json_object(request)
    model, input_uri, output_prefix = _config(body)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    params = {"project": project, "location": location, "display_name": body.get("displayName"),
              "input_uri": input_uri, "output_prefix": output_prefix,
              "output_directory": f"{output_prefix.rstrip('/')}/prediction-model-{stamp}"}  # fmt: skip

    def refuse(reason: str) -> ApiError:
        return ApiError(400, f"Failed to read the input {input_uri}: {reason}", type="FAILED_PRECONDITION")

    record = await create_from_object(request, "vertex", input_uri, refuse, endpoint="generateContent",
                                      completion_window="24h", model=model, params=params,
                                      window_seconds=window(request))  # fmt: skip
    return job(record)


async def _record(request: Request, version: str, job_id: str) -> dict:
    _checked_version(version)
    return await found_record(request, job_id, "vertex", f"The BatchPredictionJob {job_id} does not exist.")


@router.get("")
async def list_jobs(request: Request, version: str, project: str, location: str,
                    pageSize: str | None = None, pageToken: str | None = None):  # noqa: N803  # fmt: skip
    _checked_version(version)
    store = request.app.state.store
    listed = await db(
        store.list_records, "vertex", limit=limit_param(pageSize, 100, 1000), after=pageToken or None
    )
    return google_page(listed, "batchPredictionJobs", job)


@router.get("/{job_id}")
async def get_job(request: Request, version: str, project: str, location: str, job_id: str):
    return job(await _record(request, version, job_id))


@router.post("/{job_id}:cancel")
async def cancel_job(request: Request, version: str, project: str, location: str, job_id: str):
    await _record(request, version, job_id)
    if not await cancel(request, job_id):
        raise ApiError(400, f"The BatchPredictionJob {job_id} has already ended.", type="FAILED_PRECONDITION")
    return {}


@router.delete("/{job_id}")
async def delete_job(request: Request, version: str, project: str, location: str, job_id: str):
    await _record(request, version, job_id)
    if not await db(request.app.state.store.delete_batch, job_id):
        raise ApiError(400, f"The BatchPredictionJob {job_id} is still running; cancel it first.",
                       type="FAILED_PRECONDITION")  # fmt: skip
    return {"name": f"projects/{project}/locations/{location}/operations/{job_id}", "done": True}
