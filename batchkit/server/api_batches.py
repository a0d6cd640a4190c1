"""/v1/batches: create (with OpenAI's parameter checks and idempotency keys), list, retrieve, cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..lines import json_type
from ..providers import METADATA_MAX_KEY, METADATA_MAX_PAIRS, METADATA_MAX_VALUE
from ..wire import EXECUTABLE_ENDPOINTS, supported_endpoints_message
from .http import ApiError, db, found, invalid, json_object, limit_param, listed_page
from .routes import cancel
from .worker import window_seconds

router = APIRouter(prefix="/v1")

OUTPUT_EXPIRY_RANGE = (3600, 2_592_000)


def _a(type_name: str) -> str:
    """'array' → 'an array', 'string' → 'a string', 'null' → 'null'."""
    if type_name == "null":
        return type_name
    return f"{'an' if type_name[0] in 'aeiou' else 'a'} {type_name}"


def _wrong_type(param: str, expected: str, value) -> ApiError:
    return invalid(
        param,
        f"Invalid type for '{param}': expected {_a(expected)}, but got {_a(json_type(value))} instead.",
        "invalid_type",
    )


def _check_metadata(metadata) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise _wrong_type("metadata", "object", metadata)
    if len(metadata) > METADATA_MAX_PAIRS:
        raise invalid("metadata", f"Invalid 'metadata': at most {METADATA_MAX_PAIRS} key-value pairs.")
    for key, value in metadata.items():
        if len(key) > METADATA_MAX_KEY:
            raise invalid(
                "metadata",
                f"Invalid 'metadata': key {key[:80]!r} is longer than {METADATA_MAX_KEY} characters.",
            )
        if not isinstance(value, str):
            raise _wrong_type(f"metadata.{key}", "string", value)
        if len(value) > METADATA_MAX_VALUE:
            raise invalid(
                f"metadata.{key}", f"Invalid 'metadata.{key}': longer than {METADATA_MAX_VALUE} characters."
            )


def _check_output_expiry(value) -> int | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _wrong_type("output_expires_after", "object", value)
    if value.get("anchor") != "created_at":
        raise invalid(
            "output_expires_after.anchor",
            "Invalid value for 'output_expires_after.anchor': expected 'created_at'.",
        )
    seconds = value.get("seconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise _wrong_type("output_expires_after.seconds", "integer", seconds)
    low, high = OUTPUT_EXPIRY_RANGE
    if not low <= seconds <= high:
        raise invalid(
            "output_expires_after.seconds",
            f"Invalid value for 'output_expires_after.seconds': must be between {low} and {high}.",
        )
    return seconds


def _required_string(body: dict, name: str) -> str:
    if name not in body or body[name] is None:
        raise invalid(name, f"Missing required parameter: '{name}'.", "missing_required_parameter")
    if not isinstance(body[name], str):
        raise _wrong_type(name, "string", body[name])
    return body[name]


def _create_params(body: dict, windows: tuple[str, ...]) -> dict:
    """The checked parameters of a create request (what an idempotency key is compared on)."""
    params = {
        name: _required_string(body, name) for name in ("input_file_id", "endpoint", "completion_window")
    }
    if params["endpoint"] not in EXECUTABLE_ENDPOINTS:
        raise invalid("endpoint", supported_endpoints_message(params["endpoint"]))
    if params["completion_window"] not in windows:
        raise invalid(
            "completion_window",
            f"Invalid value: '{params['completion_window']}'. Supported values are: "
            f"{', '.join(repr(w) for w in windows)}.",
        )
    _check_metadata(body.get("metadata"))
    _check_output_expiry(body.get("output_expires_after"))
    key = body.get("idempotency_key")
    if key is not None and not isinstance(key, str):
        raise _wrong_type("idempotency_key", "string", key)
    return params | {
        "metadata": body.get("metadata"),
        "output_expires_after": body.get("output_expires_after"),
    }


@router.post("/batches")
async def create_batch(request: Request):
    body = await json_object(request)
    state = request.app.state
    params = _create_params(body, state.config.completion_windows)
    key = body.get("idempotency_key")
    if key is not None:
        previous = await db(state.store.batch_by_key, key)
        if previous is not None:
            batch, used = previous
            if used != params:
                raise ApiError(
                    409,
                    f"Idempotency key {key!r} was already used with different parameters "
                    "(conflict); use a new key or the same parameters.",
                    "idempotency_key",
                    "conflict",
                )
            return batch
    expiry = params["output_expires_after"]
    batch = await db(
        state.store.create_batch,
        endpoint=params["endpoint"],
        input_file_id=params["input_file_id"],
        completion_window=params["completion_window"],
        metadata=params["metadata"],
        window_seconds=window_seconds(params["completion_window"]) * state.config.window_scale,
        output_expires_after=expiry["seconds"] if expiry else None,
        idempotency_key=key,
        params=params,
    )
    state.manager.launch(batch["id"])
    return batch


@router.get("/batches")
async def list_batches(request: Request, after: str | None = None, limit: str | None = None):
    listed = await db(request.app.state.store.list_batches, after=after, limit=limit_param(limit, 20, 100))
    return listed_page(listed, "batch", after)


async def _batch(request: Request, batch_id: str) -> dict:
    return await found(request.app.state.store.get_batch, batch_id, "batch")


@router.get("/batches/{batch_id}")
async def get_batch(request: Request, batch_id: str):
    return await _batch(request, batch_id)


@router.post("/batches/{batch_id}/cancel")
async def cancel_batch(request: Request, batch_id: str):
    """Accepted until the batch is terminal (finalizing included: it ends cancelled with what finished)."""
    await _batch(request, batch_id)
    if await cancel(request, batch_id):
        return await _batch(request, batch_id)
    batch = await _batch(request, batch_id)  # it may have ended meanwhile
    if batch["status"] == "cancelled":
        return batch
    raise ApiError(409, f"Cannot cancel a batch with status '{batch['status']}'.")
