"""`batchkit serve --fail-rate P --expire-rate Q --seed S`: the echo backend fails a seeded share of requests
with errors that pass (500, 429), in batches and on its own routes, or leaves a share of a batch's requests
unanswered so that the batch expires — the same share for the same seed."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter

import openai
import pytest
from polling import poll
from serverutil import running_server
from submitsupport import run_cli, write_requests

pytestmark = pytest.mark.slow


def run_batch(server, path) -> tuple[object, list[dict]]:
    """Upload and run one batch with the OpenAI SDK; (the ended batch, its error file's lines)."""
    client = openai.OpenAI(base_url=server.base_url, api_key="unused")
    uploaded = client.files.create(file=path.open("rb"), purpose="batch")
    created = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    ended = ("completed", "failed", "expired", "cancelled")
    batch = poll(
        lambda: (b := client.batches.retrieve(created.id)).status in ended and b,
        timeout=60,
        what="the batch to end",
    )
    errors = client.files.content(batch.error_file_id).text.splitlines() if batch.error_file_id else []
    return batch, [json.loads(line) for line in errors]


def test_a_seeded_share_fails_with_500_or_429_and_the_same_seed_fails_the_same_requests(tmp_path):
    path = write_requests(tmp_path / "b.jsonl", 200, models=("m",))
    failed = []
    for attempt in range(2):
        with running_server("--fail-rate", "0.3", "--seed", "1", "--concurrency", "1",
                            data_dir=tmp_path / f"s{attempt}") as server:  # fmt: skip
            batch, errors = run_batch(server, path)
            page = urllib.request.urlopen(server.root_url + "/").read().decode()
        assert batch.status == "completed" and batch.request_counts.failed == len(errors)
        assert 40 <= len(errors) <= 80  # about 30 % of 200
        assert Counter(e["response"]["status_code"] for e in errors).keys() == {429, 500}
        assert {e["error"]["code"] for e in errors} == {"rate_limit_exceeded", "server_error"}
        assert "faults: 30% fail (500/429), 0% left to expire" in page
        failed.append(sorted(e["custom_id"] for e in errors))
    assert failed[0] == failed[1]


def test_the_servers_own_routes_fail_too(tmp_path):
    with running_server("--fail-rate", "1", data_dir=tmp_path / "s") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        with pytest.raises(openai.APIStatusError) as raised:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code in (429, 500)


def test_requests_left_unanswered_make_the_batch_expire(tmp_path):
    path = write_requests(tmp_path / "b.jsonl", 40, models=("m",))
    with running_server("--expire-rate", "0.25", "--seed", "4", "--window-scale", "0.00004",
                        data_dir=tmp_path / "s") as server:  # fmt: skip
        batch, errors = run_batch(server, path)
    assert batch.status == "expired"
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert 3 <= len(errors) <= 20 and batch.request_counts.completed == 40 - len(errors)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fail-rate", "0.7", "--expire-rate", "0.5"), "add up to more than 1"),
        (("--fail-rate", "1.5"), "1.5 is not in the range"),
        (
            ("--backend", "upstream", "--upstream-url", "http://127.0.0.1:9/v1", "--fail-rate", "0.1"),
            "are for the echo backend",
        ),  # fmt: skip
    ],
)
def test_rates_that_cannot_be_are_refused(tmp_path, args, message):
    refused = run_cli("serve", "--port", "0", "--data-dir", tmp_path, *args, timeout=60)
    assert refused.returncode == 2 and message in refused.stderr
