"""The provider table: what each Batch API accepts, as data.

Every rule that differs between providers lives in one `Provider` row; code asks the row, it never
branches on a provider's name.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, replace

from .errors import UsageError

MB = 1_000_000

# Batch metadata as the Batches API takes it (OpenAI's limits, which the others share): pairs per batch,
# characters per key and per value. `submit --metadata` checks them, and so does the local server.
METADATA_MAX_PAIRS, METADATA_MAX_KEY, METADATA_MAX_VALUE = 16, 64, 512

OPENAI_ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/responses",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
# vLLM's own endpoints beyond OpenAI's Batch API, as `vllm run-batch` takes them in a batch line
# (vllm/entrypoints/openai/run_batch.py: score and rerank match any url ending in /score or /rerank;
# transcriptions and translations take the audio as a `file_url`). `batchkit serve` and `run` execute the
# /v1 ones.
VLLM_ENDPOINTS = ("/v1/score", "/v1/rerank", "/v1/audio/transcriptions", "/v1/audio/translations")


# OpenAI's CreateResponse: `max_output_tokens` minimum 16 (openai-openapi.yaml)
OPENAI_MINIMUMS = (("max_output_tokens", 16),)


@dataclass(frozen=True)
class Provider:
    name: str
    description: str
    endpoints: tuple[str, ...] | None  # None: any endpoint
    max_requests: int | None = None
    max_bytes: int | None = None
    min_requests: int | None = None  # the fewest requests a batch may hold (checked before submitting)
    one_model: bool = False
    one_endpoint: bool = False
    custom_id_pattern: str | None = None
    base_url: str | None = None
    key_env: str | None = None
    completion_windows: tuple[str, ...] = ("24h",)
    api_version: str | None = None  # Azure-style APIs: sent as ?api-version=, with the key in `api-key`
    structured_outputs: str | None = None  # whose strict-mode schema subset applies (validate/strict.py)
    # (body field, least value) the provider's API asks beyond the body schema, which is the open-weight
    # servers' looser bound
    body_minimums: tuple[tuple[str, int], ...] = ()
    # (line format, endpoint, body schema in schemas/): the provider's own body rules for lines in its
    # format, where they differ from OpenAI's (its own field names, roles, required model)
    body_schemas: tuple[tuple[str, str, str], ...] = ()
    # The line format the provider takes (batchkit.formats); None: any. `also_dialects` it accepts too.
    dialect: str | None = "openai"
    also_dialects: tuple[str, ...] = ()
    # Prompt tokens per model that may be in flight at once, where the provider publishes one number (an
    # OpenAI or Azure limit depends on the account's tier, so it is not data here).
    enqueued_tokens: int | None = None
    # Submitting: which remote API implementation speaks to it (batchkit.remote.apis: "openai", "anthropic",
    # "gemini", "mistral", "vertex", "bedrock"), or None with `no_batch_api` saying why and what to use instead.
    remote_api: str | None = "openai"
    no_batch_api: str | None = None
    upload_purpose: str = "batch"  # the Files API `purpose` of a batch input file
    model_on_batch: bool = False  # the API takes the model on the batch (the lines may leave it out)
    also_key_envs: tuple[str, ...] = ()  # other variables the provider's own SDK reads the key from
    credentials: str | None = None  # what its SDK finds when it takes no key (named on a 401 or 403)

    @property
    def dialects(self) -> tuple[str, ...]:
        """Every dialect the provider accepts, its own first (empty: any)."""
        return () if self.dialect is None else (self.dialect, *self.also_dialects)

    def takes(self, dialect: str) -> bool:
        """Whether the provider accepts lines in `dialect`."""
        return self.dialect is None or dialect in self.dialects

    def body_schema(self, dialect: str, endpoint: str | None) -> str | None:
        """The provider's own body schema for a line in `dialect` going to `endpoint`, if it has one."""
        return next((name for d, e, name in self.body_schemas if (d, e) == (dialect, endpoint)), None)

    @property
    def custom_id_re(self) -> re.Pattern | None:
        """The id rule, matching whole ids only (see `id_rule`)."""
        return id_rule(self.custom_id_pattern)

    def with_limits(self, max_requests: int | None = None, max_bytes: int | None = None) -> Provider:
        """This provider with the given limits overriding its own (None keeps the provider's)."""
        return replace(
            self,
            max_requests=self.max_requests if max_requests is None else max_requests,
            max_bytes=self.max_bytes if max_bytes is None else max_bytes,
        )


PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            name="kluster",
            description="kluster.ai: /v1/chat/completions, several models per file, 100 MB",
            endpoints=("/v1/chat/completions",),
            max_bytes=100 * MB,
            base_url="https://api.kluster.ai/v1",
            key_env="KLUSTER_API_KEY",
            completion_windows=("24h", "48h", "72h"),
        ),
        Provider(
            name="openai",
            description="OpenAI: one model and one endpoint per file, 50,000 requests, 200 MB",
            endpoints=OPENAI_ENDPOINTS,
            max_requests=50_000,
            max_bytes=200 * MB,
            one_model=True,
            one_endpoint=True,
            base_url="https://api.openai.com/v1",
            key_env="OPENAI_API_KEY",
            structured_outputs="openai",
            body_minimums=OPENAI_MINIMUMS,
        ),
        Provider(
            name="azure",
            description="Azure OpenAI global batch: one deployment per file, 100,000 requests, 200 MB",
            endpoints=(
                "/chat/completions",
                "/v1/chat/completions",
                "/embeddings",
                "/v1/embeddings",
                "/v1/responses",
            ),
            max_requests=100_000,
            max_bytes=200 * MB,
            one_model=True,
            one_endpoint=True,
            key_env="AZURE_OPENAI_API_KEY",
            api_version="2024-10-21",
            structured_outputs="openai",
            body_minimums=OPENAI_MINIMUMS,
        ),
        # Anthropic Message Batches: requests inline in the create call, no upload
        # (anthropic-sdk-python resources/messages/batches.py; Anthropic's batch-processing guide)
        Provider(
            name="anthropic",
            description="Anthropic Message Batches: {custom_id, params} lines, 100,000 requests, 256 MB",
            endpoints=None,
            max_requests=100_000,
            max_bytes=256 * MB,
            # 1-64 characters is documented; the character set is not (kept here, as data, to change)
            custom_id_pattern=r"^[a-zA-Z0-9_-]{1,64}$",
            base_url="https://api.anthropic.com",  # the SDK's default address; it adds /v1 itself
            key_env="ANTHROPIC_API_KEY",
            dialect="anthropic",
            remote_api="anthropic",
        ),
        # Gemini API batch mode: the file uploaded with the Files API, the model on the batch
        # (ai.google.dev/gemini-api/docs/batch-mode; python-genai google/genai/batches.py); the SDK reads GEMINI_API_KEY, then GOOGLE_API_KEY (google-genai `_api_client.py`)
        Provider(
            name="gemini",
            description="Gemini API batch mode: {key, request} lines, model on the batch, files up to 2 GB",
            endpoints=None,
            max_bytes=2_000 * MB,
            base_url="https://generativelanguage.googleapis.com",  # the SDK adds /v1beta itself
            key_env="GEMINI_API_KEY",
            also_key_envs=("GOOGLE_API_KEY",),
            dialect="gemini",
            remote_api="gemini",
            model_on_batch=True,
        ),
        # Vertex AI batch prediction: the file staged in Cloud Storage, the job created with google-genai in
        # Vertex mode (cloud.google.com/vertex-ai/generative-ai/docs/multimodal/batch-prediction-from-cloud-storage;
        # python-genai batches.py); request-count limits are not documented
        Provider(
            name="vertex",
            description="Vertex AI batch prediction: {request} lines (the id rides in request.labels), staged in gs://",
            endpoints=None,
            dialect="vertex",
            also_dialects=("openai",),  # partner models (Llama, Qwen …) take the OpenAI line
            remote_api="vertex",
            model_on_batch=True,
            credentials="Google Cloud credentials (`gcloud auth application-default login`, or "
            "GOOGLE_APPLICATION_CREDENTIALS)",
        ),
        # Bedrock batch inference: the file staged in S3, the job through boto3 (create_model_invocation_job).
        # Records per job: the quotas "Minimum number of records per batch inference job" (default 100) and
        # "Records per batch inference job" (default 50,000 for most models), named in the user guide's
        # batch-inference-data page and valued in the General Reference's Bedrock quotas; both are per model
        # and adjustable, so these are the defaults. The timeout takes 24 to 168 hours.
        Provider(
            name="bedrock",
            description="AWS Bedrock batch inference: {recordId, modelInput} lines, staged in s3://, 100 to 50,000",
            endpoints=None,
            min_requests=100,
            max_requests=50_000,
            completion_windows=("24h", "48h", "72h", "96h", "120h", "144h", "168h"),
            dialect="bedrock",
            remote_api="bedrock",
            model_on_batch=True,
            credentials="AWS credentials boto3 finds (variables, a profile, SSO or a role)",
        ),
        # Mistral batch jobs: file upload (purpose batch), model and endpoint on the job
        # (docs.mistral.ai batch processing; mistralai client/jobs.py): the window becomes timeout_hours
        Provider(
            name="mistral",
            description="Mistral batch: {custom_id, body} lines, model on the job, 1,000,000 requests",
            endpoints=None,
            max_requests=1_000_000,
            base_url="https://api.mistral.ai",  # the SDK's default server; it adds /v1 itself
            key_env="MISTRAL_API_KEY",
            dialect="custom-body",
            remote_api="mistral",
            model_on_batch=True,
            # mistralai's ChatCompletionRequest / EmbeddingRequest (422 extra_forbidden on any other field)
            body_schemas=(
                ("custom-body", "/v1/chat/completions", "mistral-chat"),
                ("custom-body", "/v1/embeddings", "mistral-embeddings"),
            ),
        ),
        # Together: OpenAI's protocol at api.together.xyz/v1, files uploaded with purpose "batch-api"
        # (docs.together.ai docs/batch-inference and reference/batch-create)
        Provider(
            name="together",
            description="Together batch: {custom_id, body} lines, 50,000 requests, 100 MB, custom_id ≤ 64",
            endpoints=("/v1/chat/completions",),
            max_requests=50_000,
            max_bytes=100 * MB,
            custom_id_pattern=r"^.{1,64}$",
            base_url="https://api.together.xyz/v1",
            key_env="TOGETHER_API_KEY",
            enqueued_tokens=30_000_000_000,
            dialect="custom-body",
            also_dialects=("openai",),
            upload_purpose="batch-api",
            # together's CompletionCreateParams: the model on every line (the batch create takes none)
            body_schemas=(("custom-body", "/v1/chat/completions", "together-chat"),),
        ),
        # Groq: OpenAI's protocol (groq-python src/groq/types/batch_*.py; console.groq.com/docs/batch)
        Provider(
            name="groq",
            description="Groq batch: OpenAI lines to /v1/chat/completions, 100 MB",
            endpoints=("/v1/chat/completions",),
            max_bytes=100 * MB,
            base_url="https://api.groq.com/openai/v1",
            key_env="GROQ_API_KEY",
            completion_windows=("24h", "7d"),
        ),
        # Fireworks: dataset-based batch inference jobs (accounts/{id}/batchInferenceJobs)
        # (docs.fireworks.ai guides/batch-inference, api-reference/create-batch-inference-job; firectl
        # commands create-dataset, create-batch-inference-job, get-batch-inference-job, download-dataset)
        Provider(
            name="fireworks",
            description="Fireworks batch inference: {custom_id, body} lines, model on the job, under 500 MB",
            endpoints=None,
            max_bytes=500 * MB - 1,
            key_env="FIREWORKS_API_KEY",
            dialect="custom-body",
            body_schemas=(
                ("custom-body", "/v1/chat/completions", "fireworks-chat"),
            ),  # fireworks-ai's params
            remote_api=None,
            no_batch_api=(
                "Fireworks runs a batch from a dataset, not through a Batches API, and the files of its "
                "output dataset are not documented, so batchkit cannot send it and check the answers. Send "
                "it with firectl: `firectl create dataset DATASET FILE`, then `firectl create "
                "batch-inference-job --model MODEL --input-dataset-id DATASET --output-dataset-id OUTPUT "
                "--job-id JOB`, `firectl get batch-inference-job JOB` until its state is COMPLETED, "
                "`firectl download dataset OUTPUT --output-dir DIR`, and join the answers with `batchkit "
                "merge FILE -r RESULTS -o merged.csv` (RESULTS: the downloaded BIJOutputSet.jsonl)"
            ),
        ),
        # DeepInfra: OpenAI's Batch API at its OpenAI base URL (deepinfra.com/blog/batch-api, 2026-06;
        # deepinfra.com/docs/advanced/openai_api); limits are not published
        Provider(
            name="deepinfra",
            description="DeepInfra batch: OpenAI lines, OpenAI's Files and Batches protocol",
            endpoints=("/v1/chat/completions", "/v1/embeddings", "/v1/completions"),
            base_url="https://api.deepinfra.com/v1/openai",
            key_env="DEEPINFRA_API_KEY",
        ),
        # xAI: its own batch protocol (create a batch, then add requests; JSONL upload since 2026-03),
        # docs.x.ai guides/batch-api and release notes
        Provider(
            name="xai",
            description="xAI batch: OpenAI lines, xAI's own batch protocol",
            endpoints=("/v1/chat/completions", "/v1/responses"),
            base_url="https://api.x.ai/v1",
            key_env="XAI_API_KEY",
            remote_api=None,
            no_batch_api=(
                "xAI's Batch API is its own protocol (a batch is created, then requests are added to it), not "
                "OpenAI's Files + Batches; send the file with the xAI SDK or console, or run it with "
                "`batchkit run --base-url https://api.x.ai/v1`"
            ),
        ),
        # OpenRouter: inline `requests` in one JSON body, no JSONL upload, 24h (openrouter.ai/docs/batch-quickstart)
        Provider(
            name="openrouter",
            description="OpenRouter batch: requests inline in one JSON body, one model per batch, 24h",
            endpoints=("/v1/chat/completions", "/v1/responses", "/v1/embeddings"),
            one_model=True,
            one_endpoint=True,
            base_url="https://openrouter.ai/api/v1",
            key_env="OPENROUTER_API_KEY",
            remote_api=None,
            no_batch_api=(
                "OpenRouter's Batch API takes the requests inline in one JSON body with the model on the "
                "batch, not an uploaded file; send it with OpenRouter's SDK, or run the file with "
                "`batchkit run --base-url https://openrouter.ai/api/v1`"
            ),
        ),
        # Doubleword: OpenAI's protocol at api.doubleword.ai/v1 (docs.doubleword.ai; limits from secondary sources)
        Provider(
            name="doubleword",
            description="Doubleword batch: OpenAI lines, chat and embeddings, custom_id ≤ 64, 200 MB",
            endpoints=("/v1/chat/completions", "/v1/embeddings"),
            max_bytes=200 * MB,
            custom_id_pattern=r"^.{1,64}$",
            base_url="https://api.doubleword.ai/v1",
            key_env="DOUBLEWORD_API_KEY",
            completion_windows=("1h", "24h"),
        ),
        # vLLM: `vllm run-batch` (offline) and its server (online) take these urls in a batch line, with
        # bodies as vLLM's protocol types say (schemas/vllm-*.schema.json); neither has a Batches API
        Provider(
            name="vllm",
            description="vLLM (run-batch or its server): chat, embeddings, score, rerank, audio transcriptions",
            endpoints=(
                "/v1/chat/completions",
                "/v1/embeddings",
                *VLLM_ENDPOINTS,
                "/score",
                "/rerank",
            ),
            remote_api=None,
            no_batch_api=(
                "vLLM has no Batches API: run the file offline with `vllm run-batch -i FILE -o OUTPUT "
                "--model MODEL`, or send it to a running vLLM server with `batchkit run FILE --provider vllm "
                "--base-url http://HOST:8000/v1 -o OUTPUT`"
            ),
        ),
        Provider(
            name="local",
            description=(
                "batchkit serve / batchkit run: chat completions, embeddings, completions, responses, "
                "moderations, and vLLM's score, rerank and audio endpoints"
            ),
            endpoints=(
                "/v1/chat/completions",
                "/v1/embeddings",
                "/v1/completions",
                "/v1/responses",
                "/v1/moderations",
                *VLLM_ENDPOINTS,
            ),
        ),
        Provider(
            name="generic",
            description="any OpenAI-compatible server: per-line checks only",
            endpoints=None,
            dialect=None,
        ),
    )
}


@functools.cache
def id_rule(pattern: str | None) -> re.Pattern | None:
    """An id rule compiled to match whole ids only, whichever of `match`, `search` or `fullmatch` is
    called: a `$` in the pattern never stops before a final newline (`"abc\n"` is no `^[a-z]{1,64}$`)."""
    return re.compile(rf"\A(?:{pattern})\Z") if pattern else None


DEFAULT_PROVIDER = "kluster"
PROVIDER_ENV = "BATCHKIT_PROVIDER"  # the provider used when none is named


def get_provider(name: str | Provider | None = None) -> Provider:
    """The provider named, else $BATCHKIT_PROVIDER, else kluster."""
    if isinstance(name, Provider):
        return name
    name = name or os.environ.get(PROVIDER_ENV) or DEFAULT_PROVIDER
    try:
        return PROVIDERS[name.lower()]
    except KeyError:
        raise UsageError(f"unknown provider {name!r}; choose one of: {', '.join(PROVIDERS)}") from None


def parse_size(text: str | int | None) -> int | None:
    """'100MB', '1.5GB', '512k', '2000' → bytes (decimal units, as providers state their limits)."""
    if text is None or isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)b?\s*", text.lower())
    if not m:
        raise UsageError(f"cannot read size {text!r}; write it like 100MB, 1.5GB or 200000")
    number, unit, binary = m.groups()
    base = 1024 if binary else 1000
    return int(float(number) * base ** "_kmgt".index(unit or "_"))
