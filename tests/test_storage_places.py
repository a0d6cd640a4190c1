"""Where Vertex AI's and Bedrock's batches live (a project and location, a region), how the ledger tells
those places apart, and the requests a stopped job never ran — without any server."""

from __future__ import annotations

import json

import pytest
from submitsupport import invoke, write_requests

from batchkit.errors import UsageError
from batchkit.remote import Place, resolve_target
from batchkit.remote.unrun import write_unrun


@pytest.fixture
def no_cloud_defaults(monkeypatch, tmp_path):
    for name in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_LOCATION", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))


def test_vertex_batches_live_in_a_project_and_location(no_cloud_defaults, monkeypatch):
    target = resolve_target("vertex", place=Place(project="p1"))
    assert target.base_url == "https://us-central1-aiplatform.googleapis.com"
    assert target.address == "https://us-central1-aiplatform.googleapis.com#projects/p1/locations/us-central1"
    elsewhere = resolve_target(
        "vertex", "http://127.0.0.1:9/v1beta1", place=Place(project="p1", location="europe-west4")
    )
    assert elsewhere.address == "http://127.0.0.1:9#projects/p1/locations/europe-west4"
    with pytest.raises(UsageError, match="--project P"):
        resolve_target("vertex")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "global")
    assert (
        resolve_target("vertex").address
        == "https://aiplatform.googleapis.com#projects/from-env/locations/global"
    )
    with pytest.raises(UsageError, match="not a --region"):
        resolve_target("vertex", place=Place(region="us-east-1"))


def test_bedrock_batches_live_in_a_region(no_cloud_defaults, monkeypatch):
    with pytest.raises(UsageError, match="--region R"):
        resolve_target("bedrock")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert resolve_target("bedrock").address == "https://bedrock.eu-west-1.amazonaws.com#eu-west-1"
    assert (
        resolve_target("bedrock", place=Place(region="us-west-2")).base_url
        == "https://bedrock.us-west-2.amazonaws.com"
    )
    with pytest.raises(UsageError, match="not a --project"):
        resolve_target("bedrock", place=Place(project="p"))
    with pytest.raises(UsageError, match="no project, location or region"):
        resolve_target("openai", place=Place(region="us-east-1"))


def test_a_submission_needs_where_to_stage_before_anything_is_sent(no_cloud_defaults, tmp_path):
    source = write_requests(tmp_path / "b.jsonl", 100, models=("m",), max_tokens=10)
    bedrock = tmp_path / "bedrock.jsonl"
    assert invoke("convert", source, "--to", "bedrock", "-o", bedrock).returncode == 0
    refused = invoke("submit", bedrock, "--provider", "bedrock", "--region", "us-east-1", "--model", "m",
                     "--base-url", "http://127.0.0.1:9")  # fmt: skip
    assert refused.returncode == 2 and "pass --stage s3://BUCKET/PREFIX/ and --role-arn" in refused.stderr
    # the ledger's row stays, unfinished, for the next run to resume
    (row,) = json.loads(invoke("list", "--format", "json").stdout)
    assert row["base_url"] == "http://127.0.0.1:9#us-east-1" and row["batch_id"] is None


def test_the_requests_a_stopped_job_never_ran_are_written_as_canceled(tmp_path):
    requests = tmp_path / "b.jsonl"
    requests.write_text("".join(json.dumps({"recordId": f"r{i}", "modelInput": {}}) + "\n" for i in range(4)))
    output = tmp_path / "b.output.jsonl"
    output.write_text(json.dumps({"recordId": "r1", "modelInput": {}, "modelOutput": {"content": []}}) + "\n")
    errors = tmp_path / "b.errors.jsonl"
    assert write_unrun(requests, [output], errors, "cancelled") == 3
    lines = [json.loads(line) for line in errors.read_text().splitlines()]
    assert [line["custom_id"] for line in lines] == ["r0", "r2", "r3"]
    assert {line["error"]["code"] for line in lines} == {"batch_canceled"}
    assert write_unrun(requests, [output, errors], tmp_path / "none.jsonl", "expired") == 0
    assert not (tmp_path / "none.jsonl").exists()
