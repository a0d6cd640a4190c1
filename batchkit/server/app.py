"""`batchkit serve`: the FastAPI application of a local OpenAI-compatible Files + Batches API, which also
speaks Anthropic's Message Batches (`api_anthropic`), the Gemini API's batch mode and Files API
(`api_gemini`) and Mistral's batch jobs (`api_mistral`); `surfaces` tells their requests apart.

Routes under /v1 (one router per resource): models (`api_models`, with the requests the backend answers
directly: /chat/completions, /embeddings, /completions, /responses, /moderations, and vLLM's /score,
/rerank, /audio/transcriptions, /audio/translations), files (`api_files`),
batches (`api_batches`). GET / describes the server to a person. `guard` decides who may call /v1;
`http` turns every failure into OpenAI's error envelope. The store, backend and manager live in
`app.state`.
"""

from __future__ import annotations

import contextlib
import logging
import os

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from .. import __version__
from . import (
    api_anthropic,
    api_batches,
    api_bedrock,
    api_files,
    api_gemini,
    api_mistral,
    api_models,
    api_vertex,
)
from .config import ServerConfig, check_exposure, make_backend, server_key
from .guard import Guard
from .http import install_error_handlers
from .store import Store
from .worker import Manager, window_seconds

log = logging.getLogger("batchkit.server")


def describe(config: ServerConfig, backend, base: str) -> str:
    windows = ", ".join(config.completion_windows)
    scaled = ""
    if config.window_scale != 1:
        first = config.completion_windows[0]
        scaled = f" (scaled ×{config.window_scale:g}: {first} lasts {window_seconds(first) * config.window_scale:g} s)"
    key = (
        f"Clients must send the key in ${config.api_key_env} as a bearer token:\n    export OPENAI_API_KEY=..."
        if config.api_key_env
        else "No API key is checked:\n    export OPENAI_API_KEY=unused"
    )
    return f"""batchkit serve {__version__}: a local OpenAI-compatible Files + Batches API.

Backend:            {backend.describe()}
Data folder:        {config.data_dir}
Completion windows: {windows}{scaled}

Point any OpenAI client at it:
    export OPENAI_BASE_URL={base}/v1
{key}
Or run a batch file against it directly:
    batchkit run batch.jsonl --base-url {base}/v1 -o results.jsonl

Routes under /v1:
    GET  /models
    POST /files (multipart: file, purpose=batch)   GET /files   GET /files/{{id}}
    GET  /files/{{id}}/content                       DELETE /files/{{id}}
    POST /batches   GET /batches?after=&limit=   GET /batches/{{id}}   POST /batches/{{id}}/cancel
    POST /chat/completions   /embeddings   /completions   /responses   /moderations
    POST /score   /rerank   /audio/transcriptions   /audio/translations   (vLLM's, file_url for the audio)
The same port speaks the other providers' batch APIs, for their official SDKs (key in their headers):
    Anthropic  /v1/messages/batches                         anthropic.Anthropic(base_url="{base}")
    Gemini     v1beta|v1/models/{{model}}:batchGenerateContent, batches, files, models, upload/v1beta/files
                                                             genai.Client(http_options={{"base_url": "{base}"}})
    Mistral    /v1/batch/jobs, /v1/files                     Mistral(server_url="{base}")
    Vertex AI  v1|v1beta1/projects/P/locations/L/batchPredictionJobs (input and outputs in gs://)
                                       genai.Client(vertexai=True, …, http_options={{"base_url": "{base}"}})
    Bedrock    /model-invocation-job(s), SigV4-signed (input and outputs in s3://)
                                       boto3.client("bedrock", endpoint_url="{base}")
Interactive API documentation: {base}/docs
"""


async def _root(request: Request):
    state = request.app.state
    text = describe(state.config, state.backend, str(request.base_url).rstrip("/"))
    # the pid lets a launcher tell its own server from another one that took the port first
    return PlainTextResponse(text, headers={"x-batchkit-pid": str(os.getpid())})


def create_app(config: ServerConfig) -> FastAPI:
    check_exposure(config)
    key = server_key(config)
    backend = make_backend(config)  # before anything starts: a bad option or a busy folder fails at once
    store = Store(config.data_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.manager = Manager(
            store,
            backend,
            concurrency=config.concurrency,
            enqueued_token_limit=config.enqueued_token_limit,
            max_file_size=config.max_file_size,
        )
        await app.state.manager.start()
        try:
            yield
        finally:
            await app.state.manager.stop()
            await backend.aclose()
            store.close()

    app = FastAPI(
        title="batchkit serve",
        version=__version__,
        lifespan=lifespan,
        description="A local OpenAI-compatible Files + Batches API.",
    )
    app.state.config, app.state.store, app.state.backend = config, store, backend
    app.state.uploads = {}  # Gemini's resumable uploads under way, by session id
    install_error_handlers(app)
    app.add_middleware(Guard, config=config, key=key)
    app.add_api_route("/", _root, methods=["GET"], response_class=PlainTextResponse, include_in_schema=False)
    for module in (api_models, api_files, api_batches, api_anthropic, api_mistral, api_gemini, api_vertex,
                   api_bedrock):  # fmt: skip
        app.include_router(module.router)
    return app


def serve(config: ServerConfig) -> None:
    """Run the server until interrupted (Ctrl-C or SIGTERM stop it cleanly; state survives even kill -9)."""
    import uvicorn

    config.data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per upstream request
    app = create_app(config)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=3,
    )
