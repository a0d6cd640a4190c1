"""The remote API implementations without a server: each provider's states and counts in batchkit's one
vocabulary (with the provider's own word kept), the addresses and keys each row implies, the providers
batchkit cannot submit to (refused with the reason and what to use), and an unreachable Anthropic named by
its address."""

from __future__ import annotations

import datetime
import json

import orjson
import pytest
from serverutil import free_port
from submitsupport import cli_env, invoke, run_cli, start_cli, write_requests

from batchkit.errors import InputError, UsageError
from batchkit.providers import PROVIDERS
from batchkit.remote import STATES, resolve_target
from batchkit.remote.apis import anthropic_batches, bedrock_jobs, gemini_batches, mistral_batches
from batchkit.remote.target import api_key

COUNTS = {"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 0}


@pytest.mark.parametrize(
    "raw, state",
    [
        ({"processing_status": "in_progress", "request_counts": {**COUNTS, "processing": 4, "succeeded": 0,
          "errored": 0}}, "in_progress"),
        ({"processing_status": "canceling", "cancel_initiated_at": "2026-01-01T00:00:00Z",
          "request_counts": COUNTS}, "cancelling"),
        ({"processing_status": "ended", "request_counts": COUNTS, "results_url": "u"}, "completed"),
        ({"processing_status": "ended", "request_counts": {**COUNTS, "expired": 2}, "results_url": "u"},
         "expired"),
        ({"processing_status": "ended", "cancel_initiated_at": "2026-01-01T00:00:00Z",
          "request_counts": {**COUNTS, "canceled": 2}, "results_url": "u"}, "cancelled"),
    ],
)  # fmt: skip
def test_anthropic_states_and_counts(raw, state):
    batch = anthropic_batches.parse_batch({"id": "msgbatch_1", "created_at": "2026-01-01T00:00:00Z", **raw})
    assert batch.status == state and batch.status in STATES
    assert batch.provider_status == raw["processing_status"]
    counts = {**COUNTS, **raw.get("request_counts", {})}
    assert batch.total == sum(counts.values())
    assert (batch.completed, batch.failed) == (
        counts["succeeded"],
        counts["errored"] + counts["canceled"] + counts["expired"],
    )
    assert batch.output_file_id == ("msgbatch_1" if "results_url" in raw else None)
    assert batch.created_at == 1767225600


@pytest.mark.parametrize("counts", ["4 of 4", [1], None, {"succeeded": "x"}])
def test_anthropic_counts_of_another_shape_read_as_none(counts):
    batch = anthropic_batches.parse_batch(
        {"id": "msgbatch_1", "processing_status": "ended", "request_counts": counts}
    )
    assert (batch.total, batch.completed, batch.failed) == (0, 0, 0)


@pytest.mark.parametrize("odd", ["s3://x", 5, ["a"], {"s3InputDataConfig": "x", "s3OutputDataConfig": [1]}])
def test_bedrock_jobs_of_another_shape_read_as_absent(odd):
    job = {"jobArn": "arn:aws:bedrock:us-east-1:1:model-invocation-job/j1", "status": "Completed",
           "inputDataConfig": odd, "outputDataConfig": odd, "modelId": odd, "submitTime": odd,
           "endTime": odd, "totalRecordCount": odd}  # fmt: skip
    batch = bedrock_jobs.parse_job(job)
    assert (batch.id, batch.status, batch.input_file_id, batch.output_file_id) == (
        "j1",
        "completed",
        None,
        None,
    )
    assert batch.model == str(odd) and batch.times == {}


@pytest.mark.parametrize(
    "raw, state",
    [
        ("JOB_STATE_PENDING", "validating"),
        ("JOB_STATE_RUNNING", "in_progress"),
        ("JOB_STATE_SUCCEEDED", "completed"),
        ("JOB_STATE_FAILED", "failed"),
        ("JOB_STATE_CANCELLED", "cancelled"),
        ("JOB_STATE_EXPIRED", "expired"),
    ],
)
def test_gemini_states_and_the_sha256_in_the_display_name(raw, state):
    from google.genai import types

    sha = "a" * 64
    name = gemini_batches.display_name({"batchkit_sha256": sha, "batchkit_file": "x.jsonl"})
    job = types.BatchJob(
        name="batches/1", display_name=name, state=raw, model="models/gemini-x",
        create_time=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
        end_time=datetime.datetime(2026, 1, 1, 1, tzinfo=datetime.UTC),
        dest=types.BatchJobDestination(file_name="files/out") if state == "completed" else None,
    )  # fmt: skip
    batch = gemini_batches.parse_batch(job)
    assert (batch.status, batch.provider_status, batch.model) == (state, raw, "gemini-x")
    assert batch.metadata == {"batchkit_sha256": sha, "batchkit_file": "x.jsonl"}
    assert batch.output_file_id == ("files/out" if state == "completed" else None)
    if state not in ("validating", "in_progress"):
        assert batch.times[f"{state}_at"] == 1767229200


def test_gemini_request_counts_are_read_from_the_apis_answers_whatever_they_hold():
    """The SDK's types have no place for the Gemini API's `batchStats`: they are read from each answer
    (int64s as strings, zeros left out); a count that is no count is not taken, and no other answer is read."""
    import httpx

    stats = gemini_batches.BatchStats()

    def answer(path: str, body, method: str = "GET") -> None:
        request = httpx.Request(method, f"http://127.0.0.1/v1beta/{path}")
        stats(
            httpx.Response(
                200, content=body if type(body) is bytes else json.dumps(body).encode(), request=request
            )
        )

    def job(name: str, batch_stats) -> dict:
        return {"name": name, "metadata": {"batchStats": batch_stats}}

    answer(
        "batches/a",
        job("batches/a", {"requestCount": "5", "successfulRequestCount": "3", "failedRequestCount": "1"}),
    )
    answer("batches", {"operations": [job("batches/b", {"requestCount": "2"}), job("batches/c", {"requestCount": "-1"}),
                                      job("batches/d", {"requestCount": "1" * 30}), job("batches/e", {"requestCount": [1]}),
                                      "not a job", job(7, {"requestCount": "1"})]})  # fmt: skip
    answer("batches/f:cancel", job("batches/f", {"requestCount": "4"}), method="POST")
    answer("files/x:download", job("batches/g", {"requestCount": "4"}))
    for body in (b"{broken", b"[]", json.dumps({"metadata": "x", "name": "batches/h"}).encode()):
        answer("batches/h", body)
    assert stats.by_name == {"batches/a": (5, 3, 1), "batches/b": (2, 0, 0)}
    counted = stats.counted(gemini_batches.Batch(id="batches/a", status="in_progress"))
    assert (counted.total, counted.completed, counted.failed) == (5, 3, 1)


@pytest.mark.parametrize(
    "raw, state",
    [
        ("QUEUED", "validating"),
        ("RUNNING", "in_progress"),
        ("SUCCESS", "completed"),
        ("FAILED", "failed"),
        ("TIMEOUT_EXCEEDED", "expired"),
        ("CANCELLATION_REQUESTED", "cancelling"),
        ("CANCELLED", "cancelled"),
    ],
)
def test_mistral_states_and_counts(raw, state):
    from mistralai.client import models

    job = models.BatchJob(
        id="job-1", input_files=["file-1"], endpoint="/v1/chat/completions", errors=[], status=raw,
        created_at=1767225600, total_requests=5, completed_requests=4, succeeded_requests=3,
        failed_requests=1, metadata={"batchkit_sha256": "b" * 64}, output_file="file-2",
    )  # fmt: skip
    batch = mistral_batches.parse_batch(job)
    assert (batch.status, batch.provider_status) == (state, raw)
    assert (batch.total, batch.completed, batch.failed) == (5, 3, 1)
    assert batch.metadata == {"batchkit_sha256": "b" * 64} and batch.input_file_id == "file-1"


def test_each_native_row_has_its_address_and_the_sdk_path_is_dropped(monkeypatch):
    assert resolve_target("anthropic").base_url == "https://api.anthropic.com"
    assert resolve_target("gemini").base_url == "https://generativelanguage.googleapis.com"
    assert resolve_target("mistral").base_url == "https://api.mistral.ai"
    for provider, given in (
        ("anthropic", "/v1"),
        ("mistral", "/v1/"),
        ("gemini", "/v1beta"),
        ("gemini", "/v1"),
    ):
        assert resolve_target(provider, "http://127.0.0.1:9" + given).base_url == "http://127.0.0.1:9"
    assert resolve_target("openai", "http://127.0.0.1:9/v1").base_url == "http://127.0.0.1:9/v1"
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")  # what Gemini's own SDK reads too
    assert api_key(resolve_target("gemini")) == "google-key"


REFUSED = ("fireworks", "xai", "openrouter", "vllm")


@pytest.mark.parametrize("provider", REFUSED)
def test_a_provider_without_a_batch_api_batchkit_speaks_is_refused_with_what_to_use(tmp_path, provider):
    row = PROVIDERS[provider]
    assert row.remote_api is None and row.no_batch_api
    batch_file = write_requests(tmp_path / "b.jsonl", 1)
    for args in (("submit", batch_file), ("status", "batch-1"), ("list", "--remote")):
        result = invoke(*args, "--provider", provider)
        assert result.returncode == 2
        assert (
            result.stderr
            == f"batchkit: error: {provider} cannot take a batch from batchkit: {row.no_batch_api}\n"
        )
    with pytest.raises(UsageError, match="cannot take a batch"):
        resolve_target(provider, "http://127.0.0.1:9/v1")


def test_submit_to_anthropic_without_a_reachable_server_names_the_address(tmp_path):
    claude = tmp_path / "claude.jsonl"
    source = write_requests(tmp_path / "b.jsonl", 2, max_tokens=50)  # Anthropic requires max_tokens
    assert invoke("convert", source, "--to", "anthropic", "-o", claude).returncode == 0
    # Anthropic's own address, reached through a proxy on a closed local port: nothing leaves this machine
    closed = f"http://127.0.0.1:{free_port()}"
    result = run_cli("submit", claude, "--provider", "anthropic", ANTHROPIC_API_KEY="sk-ant-test",
                     HTTPS_PROXY=closed, https_proxy=closed, NO_PROXY="", no_proxy="")  # fmt: skip
    assert result.returncode == 2
    assert "cannot reach https://api.anthropic.com (" in result.stderr, result.stderr
    assert "no known address" not in result.stderr and "Traceback" not in result.stderr
    local = run_cli("submit", claude, "--provider", "anthropic", BATCHKIT_BASE_URL=closed)
    assert local.returncode == 2
    assert f"cannot reach {closed} (" in local.stderr and "no known address" not in local.stderr


def _cloud_env(tmp_path, **extra: str) -> dict[str, str]:
    """This test's environment with no Google or AWS credentials, metadata server or config of the
    machine's, nothing leaving it (closed local ports), plus `extra`."""
    env = {k: v for k, v in cli_env().items() if not k.startswith(("GOOGLE_", "AWS_", "CLOUDSDK_"))}
    closed = f"127.0.0.1:{free_port()}"
    return env | {"HOME": str(tmp_path), "NO_GCE_CHECK": "true", "GCE_METADATA_HOST": closed,
                  "GCE_METADATA_IP": closed, "AWS_CONFIG_FILE": str(tmp_path / "none"),
                  "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), **extra}  # fmt: skip


def fake_adc(tmp_path):
    """Application default credentials whose token is issued and valid for centuries: no token endpoint
    is asked."""
    adc = tmp_path / "adc.json"
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s",
                               "refresh_token": "r", "token": "t", "expiry": "2999-01-01T00:00:00Z"}))  # fmt: skip
    return adc


def test_vertex_and_bedrock_at_their_own_addresses_ask_for_no_key(tmp_path):
    """Their SDKs find credentials themselves: a command goes as far as the network, where it was refused
    for want of an API key they do not take."""
    adc = fake_adc(tmp_path)
    closed = f"http://127.0.0.1:{free_port()}"
    # both at once: each tries the closed port again, with the SDK's backoff
    vertex = start_cli("list", "--remote", "--provider", "vertex", "--project", "p",
                       env=_cloud_env(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(adc), HTTPS_PROXY=closed,
                                      https_proxy=closed, NO_PROXY="", no_proxy=""))  # fmt: skip
    bedrock = start_cli("list", "--remote", "--provider", "bedrock", "--region", "us-east-1",
                        env=_cloud_env(tmp_path, AWS_ACCESS_KEY_ID="AKIATEST", AWS_SECRET_ACCESS_KEY="s",
                                       AWS_ENDPOINT_URL_BEDROCK=closed))  # fmt: skip
    (_, vertex_said), (_, bedrock_said) = vertex.communicate(timeout=120), bedrock.communicate(timeout=120)
    assert vertex.returncode == 2 and bedrock.returncode == 2
    assert "cannot reach https://us-central1-aiplatform.googleapis.com (" in vertex_said, vertex_said
    assert "cannot reach https://bedrock.us-east-1.amazonaws.com (" in bedrock_said, bedrock_said


def test_vertex_without_google_credentials_says_how_to_give_them(tmp_path):
    for args in (
        ("list", "--remote"),
        ("submit", native_vertex_file(tmp_path), "--stage", "gs://b/p/", "--model", "m"),
    ):
        done = run_cli(*args, "--provider", "vertex", "--project", "p", env=_cloud_env(tmp_path))
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip() == (
            "batchkit: error: no Google Cloud credentials found: run `gcloud auth application-default login`, "
            "or set GOOGLE_APPLICATION_CREDENTIALS to a service account's key file"
        )


def test_vertex_and_bedrock_refusing_credentials_say_which(tmp_path):
    """A 401 or 403 from an API that takes no key names the credentials its SDK found, not a key variable."""
    from serverutil import odd_native_apis

    adc = fake_adc(tmp_path)
    env = _cloud_env(tmp_path, GOOGLE_APPLICATION_CREDENTIALS=str(adc), AWS_ACCESS_KEY_ID="AKIATEST",
                     AWS_SECRET_ACCESS_KEY="s")  # fmt: skip
    with odd_native_apis() as api:
        root = api.removesuffix("/v1")
        vertex = run_cli("status", "1", "--provider", "vertex", "--project", "p", "--base-url", root, env=env)
        bedrock = run_cli("status", "j1", "--provider", "bedrock", "--region", "us-east-1", "--base-url", root,
                          env=env)  # fmt: skip
    assert vertex.returncode == 2 and bedrock.returncode == 2
    assert vertex.stderr.rstrip().endswith(
        "; check the Google Cloud credentials (`gcloud auth application-default login`, or "
        "GOOGLE_APPLICATION_CREDENTIALS)"
    ), vertex.stderr
    assert bedrock.stderr.rstrip().endswith(
        "; check what the AWS credentials boto3 finds (variables, a profile, SSO or a role) may do"
    ), bedrock.stderr
    assert "api-key-env" not in vertex.stderr + bedrock.stderr


def native_vertex_file(tmp_path):
    path = tmp_path / "v.jsonl"
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "labels": {"custom_id": "a"}}
    path.write_text(json.dumps({"request": request}) + "\n")
    return path


def test_anthropic_requests_are_read_by_the_format_layer_and_another_format_is_refused(tmp_path):
    path = tmp_path / "claude.jsonl"
    params = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    path.write_bytes(orjson.dumps({"custom_id": "a", "params": params}) + b"\n")
    assert anthropic_batches.read_requests(path) == [{"custom_id": "a", "params": params}]
    openai_line = {"custom_id": "b", "method": "POST", "url": "/v1/chat/completions", "body": params}
    path.write_bytes(path.read_bytes() + orjson.dumps(openai_line) + b"\n")
    with pytest.raises(InputError, match=r"line 2 is not an Anthropic request"):
        anthropic_batches.read_requests(path)
    path.write_bytes(b'{"custom_id": "a", "params": {\n')
    with pytest.raises(InputError, match=r"line 1: .*nothing was sent"):
        anthropic_batches.read_requests(path)


@pytest.mark.parametrize(
    ("body", "endpoint"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}]}, "/v1/chat/completions"),
        ({"model": "m", "input": ["hi"]}, "/v1/embeddings"),
        ({"model": "m", "prompt": "def f(", "suffix": "return 1"}, "/v1/fim/completions"),
    ],
)
def test_a_mistral_file_goes_where_its_first_request_body_says(tmp_path, body, endpoint):
    path = tmp_path / "mistral.jsonl"
    path.write_bytes(orjson.dumps({"custom_id": "a", "body": body}) + b"\n")
    assert mistral_batches.endpoint_of(path) == endpoint
    path.write_bytes(orjson.dumps({"custom_id": "a", "body": {"model": "m"}}) + b"\n")
    with pytest.raises(InputError, match="cannot tell the endpoint"):
        mistral_batches.endpoint_of(path)
