"""Submitting to Vertex AI batch prediction and Bedrock batch inference, offline: the input staged in real
object storage servers (moto's S3, gcp-storage-emulator's Cloud Storage), the jobs created through each
provider's official SDK (google-genai in Vertex mode, boto3) against `batchkit serve`, which reads the staged
input from the bucket, runs it, and writes the outputs back where each service writes them. No client is
patched: every SDK is pointed at its server by its own endpoint setting.

- build → convert → submit --wait → merge gives every row `ok`, and the bucket holds the staged input
  (named by its content) and the outputs in each service's layout;
- a job cancelled half-way merges to `ok` + `canceled` rows;
- submit killed with -9 while it stages the file resumes to one job;
- Bedrock's requests are signed (SigV4) and refused as AWS refuses them; Vertex's carry the ADC token;
- Bedrock's minimum records are checked before anything is staged; forget --remote-files removes the
  staged input only once no job can read it.
"""

from __future__ import annotations

import csv
import json
import os

import pytest
from polling import poll
from serverutil import running_server
from storagesupport import (
    ACCESS_KEY,
    GCS_BUCKET,
    LOCATION,
    PROJECT,
    REGION,
    ROLE_ARN,
    S3_BUCKET,
    SECRET_KEY,
    TOKEN,
    emulators,
)
from submitsupport import PAUSE, Proxy, invoke, run_cli, start_cli

from batchkit.ledger import CREATING, Ledger
from batchkit.remote import file_digest

pytestmark = pytest.mark.slow

MODEL = "m-echo"
PROVIDERS = ("vertex", "bedrock")
ROWS = 120  # Bedrock runs a job of at least 100 records
TOKEN_VAR = "BATCHKIT_TEST_VERTEX_TOKEN"  # serve requires the ADC's token as Vertex's bearer token


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    folder = tmp_path_factory.mktemp("storage")
    with emulators(folder) as found, pytest.MonkeyPatch.context() as patch:
        for name, value in found.env.items():
            patch.setenv(name, value)  # for the CLI run in this process, and every subprocess
        yield found


@pytest.fixture(scope="module")
def server(storage, tmp_path_factory):
    env = {TOKEN_VAR: TOKEN}
    with running_server("--api-key-env", TOKEN_VAR, data_dir=tmp_path_factory.mktemp("serve"), env=env) as up:
        yield up


@pytest.fixture(scope="module")
def slow_server(storage, tmp_path_factory):
    """A second of latency per request, four at a time: a job of ROWS runs for half a minute."""
    args = ("--latency", "1", "--concurrency", "4", "--api-key-env", TOKEN_VAR)
    with running_server(*args, data_dir=tmp_path_factory.mktemp("slow"), env={TOKEN_VAR: TOKEN}) as up:
        yield up


def where(provider: str, prefix: str, server) -> tuple[str, ...]:
    """The options that name the place, the staging and the server of a provider."""
    if provider == "vertex":
        place = ("--project", PROJECT, "--location", LOCATION, "--stage", f"gs://{GCS_BUCKET}/{prefix}/")
    else:
        place = ("--region", REGION, "--stage", f"s3://{S3_BUCKET}/{prefix}/", "--role-arn", ROLE_ARN)
    return ("--provider", provider, *place, "--base-url", server.root_url)


def place_only(provider: str, server) -> tuple[str, ...]:
    place = ("--project", PROJECT, "--location", LOCATION) if provider == "vertex" else ("--region", REGION)
    return ("--provider", provider, *place, "--base-url", server.root_url)


def batch_file(tmp_path, provider: str, rows: int = ROWS, prefix: str = "q"):
    """A table → `build` → `convert --to provider`: the file to submit."""
    table = tmp_path / f"{prefix}.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "question"])
        writer.writerows([f"{prefix}-{i}", f"{prefix} question {i}"] for i in range(rows))
    built = invoke("build", table, "-o", tmp_path / f"{prefix}-openai.jsonl", "--model", MODEL,
                   "--user", "{question}", "--id-column", "id", "--param", "max_tokens=50")  # fmt: skip
    assert built.returncode == 0, built.stderr
    target = tmp_path / f"{prefix}-{provider}.jsonl"
    converted = invoke("convert", tmp_path / f"{prefix}-openai.jsonl", "--to", provider, "-o", target)
    assert converted.returncode == 0, converted.stderr
    return target


def statuses(path) -> dict[str, int]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    counted: dict[str, int] = {}
    for row in rows:
        counted[row["status"]] = counted.get(row["status"], 0) + 1
    return counted


def bucket_objects(provider: str, prefix: str) -> list[str]:
    """Every object under a prefix of the provider's bucket, read with the storage's own SDK."""
    if provider == "bedrock":
        import boto3

        listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=S3_BUCKET, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    return sorted(b.name for b in client.list_blobs(GCS_BUCKET, prefix=prefix))


def server_jobs(provider: str, server) -> dict[str, str]:
    """Every job the server holds for the provider, by id: its state, as the provider's SDK reads it."""
    if provider == "bedrock":
        import boto3

        client = boto3.client("bedrock", region_name=REGION, endpoint_url=server.root_url)
        listed = client.list_model_invocation_jobs(maxResults=1000)["invocationJobSummaries"]
        return {j["jobArn"].rsplit("/", 1)[-1]: j["status"] for j in listed}
    from google import genai

    client = genai.Client(vertexai=True, project=PROJECT, location=LOCATION,
                          http_options={"base_url": server.root_url + "/"})  # fmt: skip
    return {j.name.rsplit("/", 1)[-1]: j.state.value for j in client.batches.list(config={"page_size": 100})}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_build_convert_submit_merge_gives_every_row_ok(server, tmp_path, provider):
    path = batch_file(tmp_path, provider)
    before = server_jobs(provider, server)
    submitted = run_cli("submit", path, *where(provider, "round", server), "--model", MODEL, "--wait",
                        "--interval", "0.2", timeout=300)  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    merged = invoke("merge", path, "-r", tmp_path / f"q-{provider}.output.jsonl", "-o", tmp_path / "out.csv")
    assert merged.returncode == 0, merged.stderr
    assert statuses(tmp_path / "out.csv") == {"ok": ROWS}
    (job_id,) = set(server_jobs(provider, server)) - set(before)
    sha = file_digest(path)[0]
    objects = bucket_objects(provider, "round/")
    assert f"round/{sha}.jsonl" in objects  # staged under its content's name
    if provider == "bedrock":  # Bedrock's layout: OUTPUT/<job id>/<input>.out and the manifest
        assert {f"round/output/{job_id}/{sha}.jsonl.out", f"round/output/{job_id}/manifest.json.out"} <= set(
            objects
        )
        assert "manifest" in merged.stderr or "manifest" in merged.stdout
    else:  # Vertex's: OUTPUT/prediction-model-<time>/predictions.jsonl
        assert any(
            o.startswith("round/output/prediction-model-") and o.endswith("/predictions.jsonl")
            for o in objects
        )
    again = invoke("submit", path, *where(provider, "round", server), "--model", MODEL)
    assert again.returncode == 0 and f"already submitted as {job_id}" in again.stdout
    listed = json.loads(invoke("list", "--remote", "--format", "json", *place_only(provider, server)).stdout)
    assert job_id in [b["id"] for b in listed]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_job_cancelled_half_way_merges_to_ok_and_canceled_rows(slow_server, tmp_path, provider):
    path = batch_file(tmp_path, provider, prefix="half")
    submitted = invoke("submit", path, *where(provider, "half", slow_server), "--model", MODEL)
    assert submitted.returncode == 0, submitted.stderr

    def some_done():
        shown = json.loads(invoke("status", path, "--format", "json").stdout)
        return shown["request_counts"]["completed"] > 0

    poll(some_done, 120, 0.2, "the first requests to finish")
    cancelled = invoke("cancel", path)
    assert cancelled.returncode == 0, cancelled.stderr
    watched = invoke("watch", path, "--interval", "0.2")
    assert watched.returncode == 1  # it ended, not completed
    downloaded = invoke("download", path)
    assert downloaded.returncode == 0, downloaded.stderr
    merged = invoke("merge", path, "-r", tmp_path / f"half-{provider}.output.jsonl",
                    "-r", tmp_path / f"half-{provider}.errors.jsonl", "-o", tmp_path / "half.csv")  # fmt: skip
    assert merged.returncode in (0, 1), merged.stderr
    counted = statuses(tmp_path / "half.csv")
    assert set(counted) == {"ok", "canceled"} and sum(counted.values()) == ROWS, counted


@pytest.mark.parametrize("provider", PROVIDERS)
def test_submit_killed_while_staging_resumes_without_a_second_job(server, storage, tmp_path, provider):
    path = batch_file(tmp_path, provider, rows=100, prefix="kill")
    sha = file_digest(path)[0]
    before = server_jobs(provider, server)
    storage_url = storage.s3_url if provider == "bedrock" else storage.gcs_url
    variable = "AWS_ENDPOINT_URL_S3" if provider == "bedrock" else "STORAGE_EMULATOR_HOST"
    staging = (
        f"PUT /{S3_BUCKET}/kill/{sha}.jsonl"
        if provider == "bedrock"
        else f"POST /upload/storage/v1/b/{GCS_BUCKET}/o"
    )
    with Proxy(storage_url) as proxy:
        proxy.rules[staging] = PAUSE  # the upload reaches the proxy and waits there
        env = {**os.environ, variable: proxy.base_url.removesuffix("/v1")}
        process = start_cli("submit", path, *where(provider, "kill", server), "--model", MODEL, env=env)
        assert proxy.triggered.wait(120), process.communicate(timeout=5)
        process.kill()
        process.wait(30)
    assert server_jobs(provider, server) == before  # killed before any job
    (row,) = json.loads(invoke("list", "--format", "json").stdout)
    assert row["step"] == "uploading" and not row["batch_id"]
    again = invoke(
        "submit", path, *where(provider, "kill", server), "--model", MODEL, "--wait", "--interval", "0.2"
    )
    assert again.returncode == 0, again.stderr
    assert len(set(server_jobs(provider, server)) - set(before)) == 1
    assert len((tmp_path / f"kill-{provider}.output.jsonl").read_text().splitlines()) == 100
    assert f"kill/{sha}.jsonl" in bucket_objects(provider, "kill/")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_second_submission_of_the_content_reuses_the_staged_object(server, storage, tmp_path, provider):
    path = batch_file(tmp_path, provider, rows=100, prefix="reuse")
    sha = file_digest(path)[0]
    staging = (
        f"PUT /{S3_BUCKET}/reuse/{sha}.jsonl"
        if provider == "bedrock"
        else f"POST /upload/storage/v1/b/{GCS_BUCKET}/o"
    )
    first = invoke("submit", path, *where(provider, "reuse", server), "--model", MODEL)
    assert first.returncode == 0, first.stderr
    before = server_jobs(provider, server)
    storage_url = storage.s3_url if provider == "bedrock" else storage.gcs_url
    variable = "AWS_ENDPOINT_URL_S3" if provider == "bedrock" else "STORAGE_EMULATOR_HOST"
    with Proxy(storage_url) as proxy:
        env = {variable: proxy.base_url.removesuffix("/v1")}
        again = invoke("submit", path, *where(provider, "reuse", server), "--model", MODEL, "--force", **env)
        assert again.returncode == 0, again.stderr
        assert sum(proxy.hits.values()) > 0 and proxy.hits[staging] == 0, proxy.hits  # looked, sent nothing
    (job_id,) = set(server_jobs(provider, server)) - set(before)  # a second job, of the same object
    shown = json.loads(invoke("status", job_id, *place_only(provider, server), "--format", "json").stdout)
    assert shown["input_file_id"].endswith(f"/reuse/{sha}.jsonl")
    assert bucket_objects(provider, "reuse/").count(f"reuse/{sha}.jsonl") == 1


@pytest.mark.parametrize("provider", PROVIDERS)
def test_serve_refuses_a_staged_input_larger_than_its_limit_before_reading_it(storage, tmp_path, provider):
    path = batch_file(tmp_path, provider, rows=100, prefix="big")
    size = path.stat().st_size
    args = ("--max-file-size", str(size - 1), "--api-key-env", TOKEN_VAR)
    with running_server(*args, data_dir=tmp_path / "serve", env={TOKEN_VAR: TOKEN}) as small:
        refused = invoke("submit", path, *where(provider, "big", small), "--model", MODEL)
        assert refused.returncode == 2, refused.stderr
        assert f"holds {size:,} bytes, more than this server's --max-file-size" in refused.stderr
        assert server_jobs(provider, small) == {}


def test_bedrock_requests_must_be_signed_by_the_account(server):
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import ClientError

    def refusal(**options):
        client = boto3.client("bedrock", region_name=REGION, endpoint_url=server.root_url, **options)
        with pytest.raises(ClientError) as refused:
            client.list_model_invocation_jobs()
        return refused.value.response["Error"]["Code"], refused.value.response["ResponseMetadata"][
            "HTTPStatusCode"
        ]

    assert refusal(aws_access_key_id=ACCESS_KEY, aws_secret_access_key="not-the-secret") == (
        "InvalidSignatureException",
        403,
    )
    assert refusal(aws_access_key_id="AKIAOTHERACCOUNT0001", aws_secret_access_key=SECRET_KEY) == (
        "UnrecognizedClientException",
        403,
    )
    assert refusal(config=Config(signature_version=UNSIGNED)) == ("MissingAuthenticationTokenException", 403)
    signed = boto3.client("bedrock", region_name=REGION, endpoint_url=server.root_url)
    assert "invocationJobSummaries" in signed.list_model_invocation_jobs()


def test_bedrock_with_the_wrong_secret_says_what_aws_said(server, tmp_path):
    path = batch_file(tmp_path, "bedrock", prefix="secret")
    refused = invoke("submit", path, *where("bedrock", "secret", server), "--model", MODEL,
                     AWS_SECRET_ACCESS_KEY="not-the-secret")  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    assert (
        "bedrock answered 403: InvalidSignatureException" in refused.stderr
        and "not-the-secret" not in refused.stderr
    )


def test_vertex_requests_carry_the_application_default_credentials_token(server, tmp_path):
    import httpx

    url = f"{server.root_url}/v1beta1/projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs"
    assert httpx.get(url).status_code == 401
    wrong = httpx.get(url, headers={"Authorization": "Bearer ya29.someone-else"})
    assert wrong.status_code == 401 and wrong.json()["error"]["status"] == "UNAUTHENTICATED"
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_bedrock_refuses_fewer_records_than_its_minimum_before_staging(server, tmp_path):
    path = batch_file(tmp_path, "bedrock", rows=99, prefix="few")
    before = server_jobs("bedrock", server)
    refused = invoke("submit", path, *where("bedrock", "few", server), "--model", MODEL)
    assert refused.returncode == 2, refused.stderr
    assert "99 request(s), and a bedrock batch holds at least 100" in refused.stderr
    assert bucket_objects("bedrock", "few/") == [] and server_jobs("bedrock", server) == before


def test_bedrock_refuses_more_records_than_its_maximum_before_staging(server, tmp_path):
    path = tmp_path / "many-bedrock.jsonl"
    line = (
        '{{"recordId":"r{}","modelInput":{{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,'
        '"messages":[{{"role":"user","content":"q"}}]}}}}\n'
    )
    path.write_text("".join(line.format(i) for i in range(50_001)))
    before = server_jobs("bedrock", server)
    refused = invoke("submit", path, *where("bedrock", "many", server), "--model", MODEL)
    assert refused.returncode == 1, refused.stderr  # the data breaks the provider's rule
    assert "not submitted" in refused.stderr and "50,000" in refused.stdout + refused.stderr
    assert bucket_objects("bedrock", "many/") == [] and server_jobs("bedrock", server) == before


@pytest.mark.parametrize("provider", PROVIDERS)
def test_forget_remote_files_removes_the_staged_input_once_the_job_ended(slow_server, tmp_path, provider):
    path = batch_file(tmp_path, provider, prefix="forget")
    staged = f"forget/{file_digest(path)[0]}.jsonl"
    assert invoke("submit", path, *where(provider, "forget", slow_server), "--model", MODEL).returncode == 0
    running = invoke("forget", path, "--remote-files")
    assert running.returncode == 2 and "may still read" in running.stderr
    assert staged in bucket_objects(provider, "forget/")
    assert invoke("cancel", path).returncode == 0
    invoke("watch", path, "--interval", "0.2")
    forgotten = invoke("forget", path, "--remote-files")
    assert forgotten.returncode == 0, forgotten.stderr
    assert f"removed {'s3' if provider == 'bedrock' else 'gs'}://" in forgotten.stdout
    assert staged not in bucket_objects(provider, "forget/")
    assert json.loads(invoke("list", "--format", "json").stdout) == []


def test_python_submit_stages_and_waits(server, tmp_path):
    import batchkit

    path = batch_file(tmp_path, "vertex", prefix="py")
    jobs = batchkit.submit(path, provider="vertex", base_url=server.root_url, project=PROJECT, location=LOCATION,
                           stage=f"gs://{GCS_BUCKET}/python/", model=MODEL, interval=0.2)  # fmt: skip
    (job,) = jobs
    assert job.status().status == "completed"
    assert jobs.results() == [tmp_path / "py-vertex.output.jsonl"]
    assert f"python/{file_digest(path)[0]}.jsonl" in bucket_objects("vertex", "python/")


def test_bedrock_until_done_ends_with_its_summary_when_too_few_fail_for_a_job_of_their_own(storage, tmp_path):
    faults = ("--fail-rate", "0.1", "--seed", "1", "--api-key-env", TOKEN_VAR)
    with running_server(*faults, data_dir=tmp_path / "serve", env={TOKEN_VAR: TOKEN}) as flaky:
        path = batch_file(tmp_path, "bedrock", prefix="ud")
        done = run_cli("submit", path, *where("bedrock", "ud", flaky), "--model", MODEL, "--wait", "--until-done",
                       "--interval", "0.2", "--no-cache")  # fmt: skip
    assert done.returncode == 1, done.stderr  # some failed, and no job of fewer than 100 could send them
    assert "fewer than the 100 requests a bedrock batch holds: not sent again" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "holds no result lines" not in done.stderr
    merged = run_cli("merge", path, "-r", tmp_path / "ud-bedrock.output.jsonl", "-o", tmp_path / "m.csv",
                     "--allow-missing")  # fmt: skip
    assert merged.returncode == 0, merged.stderr


def test_the_answer_cache_never_leaves_a_bedrock_job_under_its_minimum(server, tmp_path):
    first = batch_file(tmp_path, "bedrock", rows=100, prefix="c")
    assert run_cli("submit", first, *where("bedrock", "c", server), "--model", MODEL, "--wait", "--interval",
                   "0.2").returncode == 0  # fmt: skip
    more = batch_file(tmp_path, "bedrock", rows=110, prefix="c")  # the same 100 rows and 10 new ones
    jobs = server_jobs("bedrock", server)
    refused = run_cli("submit", more, *where("bedrock", "c", server), "--model", MODEL)
    assert refused.returncode == 2, refused.stderr
    assert "leaves 10 to send, and a bedrock batch holds at least 100" in refused.stderr
    assert "--no-cache to send them all" in refused.stderr and server_jobs("bedrock", server) == jobs


def test_google_credentials_that_cannot_refresh_are_one_line_on_staging_and_on_the_control_path(
    server, tmp_path
):
    # an expired credential whose refresh fails (Google's token endpoint is out of reach here, as it is
    # for a revoked one it refuses): no traceback, one line, on the bucket and on the jobs API alike
    stale = tmp_path / "adc.json"
    stale.write_text(json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": "s",
                                 "refresh_token": "revoked"}))  # fmt: skip
    path = batch_file(tmp_path, "vertex", rows=3, prefix="rv")
    env = {"GOOGLE_APPLICATION_CREDENTIALS": str(stale)}
    staged = run_cli("submit", path, *where("vertex", "rv", server), "--model", MODEL, **env)
    status = run_cli("status", "123", *place_only("vertex", server), **env)
    for result in (staged, status):
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("batchkit: error: ")
    assert "check the Google Cloud credentials" in status.stderr and "check your credentials" in staged.stderr


def test_forget_remote_files_keeps_what_an_interrupted_create_may_be_reading(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text('{"recordId": "r1", "modelInput": {"messages": []}}\n')
    staged = f"s3://{S3_BUCKET}/f/{file_digest(path)[0]}.jsonl"
    entry = Ledger().start(path=str(path.resolve()), sha256=file_digest(path)[0], size=path.stat().st_size,
                           provider="bedrock", base_url="https://bedrock.us-east-1.amazonaws.com#us-east-1",
                           key_env=None, endpoint=None, completion_window="24h", cache_path=None, model=MODEL)  # fmt: skip
    Ledger().update(entry.id, step=CREATING, file_id=staged)  # a create killed before its answer came
    refused = run_cli("forget", path, "--remote-files")
    assert (
        refused.returncode == 2 and "its create was interrupted, so a batch may be reading" in refused.stderr
    )
    assert Ledger().find(sha256=file_digest(path)[0])  # still remembered: `submit` finds the batch it made


@pytest.mark.parametrize("prefix", ["x//y", "ünï", "q?v=1"])
def test_a_stage_bedrock_would_refuse_is_refused_before_anything_is_staged(server, tmp_path, prefix):
    path = batch_file(tmp_path, "bedrock", prefix="st")
    place = ("--provider", "bedrock", "--region", REGION, "--stage", f"s3://{S3_BUCKET}/{prefix}/", "--role-arn",
             ROLE_ARN, "--base-url", server.root_url)  # fmt: skip
    refused = run_cli("submit", path, *place, "--model", MODEL)
    assert refused.returncode == 2 and "Bedrock takes an S3 address of a bucket and folders" in refused.stderr
    assert bucket_objects("bedrock", prefix.split("/")[0]) == []
