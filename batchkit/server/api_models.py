"""/v1/models, and the requests the backend answers directly (the endpoints a batch line may name)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..lenient import as_list
from ..wire import EXECUTABLE_ENDPOINTS
from .http import ApiError, json_object

router = APIRouter(prefix="/v1")


@router.get("/models")
async def list_models(request: Request):
    answer = await request.app.state.backend.models()
    return JSONResponse(answer.body, status_code=answer.status_code)


@router.get("/models/{model_id:path}")
async def get_model(request: Request, model_id: str):
    answer = await request.app.state.backend.models()
    for model in as_list(answer.body.get("data")):
        if isinstance(model, dict) and model.get("id") == model_id:
            return model
    raise ApiError(404, f"The model '{model_id}' does not exist", "model", "model_not_found")


async def _direct(request: Request):
    """Answer one request with the backend, as the endpoint it was posted to."""
    body = await json_object(request)
    answer = await request.app.state.backend.call(request.url.path, body, direct=True)
    headers = {"x-request-id": answer.request_id}
    if answer.status_code == 429:
        headers.update({"retry-after": "1", "retry-after-ms": "100"})
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


for _endpoint in EXECUTABLE_ENDPOINTS:
    router.add_api_route(_endpoint.removeprefix("/v1"), _direct, methods=["POST"], name=_endpoint)
