"""`batchkit serve` speaks Anthropic's Message Batches API: the official `anthropic` SDK, pointed at a real
server process by `base_url`, creates, polls, lists, cancels and deletes batches and reads their results."""

from __future__ import annotations

import re

import anthropic
import httpx
import pytest
from polling import poll
from serverutil import running_server
from surfaceutil import KEY, SLOW, keyed_server, kill_9, upstream_pair


def request(custom_id: str, text: str, max_tokens: int = 100, model: str = "claude-echo", **params) -> dict:
    messages = [{"role": "user", "content": text}]
    return {
        "custom_id": custom_id,
        "params": {"model": model, "max_tokens": max_tokens, "messages": messages, **params},
    }


def client_for(server, key: str = KEY) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.root_url, api_key=key, max_retries=0)


def ended(client, batch_id: str, timeout: float = 60.0):
    def check():
        batch = client.messages.batches.retrieve(batch_id)
        return batch if batch.processing_status == "ended" else None

    return poll(check, timeout=timeout, interval=0.1, what=f"batch {batch_id} to end")


def results(client, batch_id: str) -> dict:
    return {r.custom_id: r.result for r in client.messages.batches.results(batch_id)}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with keyed_server(data_dir=tmp_path_factory.mktemp("anthropic") / "data") as running:
        yield running


def test_create_poll_results_list_delete(server):
    client = client_for(server)
    lines = [
        request("short", "the answer is here", system="be brief"),
        request("cut", "one two three four five six", max_tokens=3),
        request("no-max-tokens", "x"),  # Anthropic requires max_tokens: this request alone is errored
    ]
    del lines[2]["params"]["max_tokens"]
    created = client.messages.batches.create(requests=lines)
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing == 3 and created.request_counts.succeeded == 0
    batch = ended(client, created.id)
    counts = batch.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired) == (
        0,
        2,
        1,
        0,
        0,
    )
    assert batch.ended_at is not None and batch.results_url.endswith(
        f"/v1/messages/batches/{batch.id}/results"
    )
    answers = results(client, batch.id)
    short = answers["short"].message
    assert answers["short"].type == "succeeded" and short.content[0].text == "the answer is here"
    assert short.stop_reason == "end_turn" and short.usage.output_tokens == 4 and short.model == "claude-echo"
    cut = answers["cut"].message
    assert cut.content[0].text == "one two three" and cut.stop_reason == "max_tokens"  # max_tokens honoured
    error = answers["no-max-tokens"]
    assert error.type == "errored" and error.error.error.type == "invalid_request_error"
    assert "max_tokens" in error.error.error.message
    listed = [b.id for b in client.messages.batches.list(limit=1)]
    assert created.id in listed
    assert client.messages.batches.delete(batch.id).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(batch.id)


def test_list_pages_newest_first_both_ways(server):
    client = client_for(server)
    ids = [client.messages.batches.create(requests=[request("a", "hi")]).id for _ in range(3)]
    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == ids[::-1][:2] and first.has_more
    after = client.messages.batches.list(limit=2, after_id=first.last_id)
    assert after.data[0].id == ids[0]
    before = client.messages.batches.list(limit=2, before_id=ids[0])
    assert [b.id for b in before.data] == [ids[2], ids[1]]
    assert ids[0] in [b.id for b in client.messages.batches.list(limit=2)]  # the pager follows after_id


def test_create_refuses_bad_ids_in_anthropics_envelope(server):
    client = client_for(server)
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.batches.create(requests=[request("not ok!", "x")])
    assert bad.value.body["type"] == "error" and bad.value.body["error"]["type"] == "invalid_request_error"
    assert "requests.0.custom_id" in bad.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError, match="requests.0.custom_id"):  # the whole id must match
        client.messages.batches.create(requests=[request("abc\n", "x")])
    with pytest.raises(anthropic.BadRequestError, match="more than one request"):
        client.messages.batches.create(requests=[request("twice", "x"), request("twice", "y")])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=[])


def test_the_key_goes_in_x_api_key_and_the_version_header_is_required(server):
    with pytest.raises(anthropic.AuthenticationError) as refused:
        client_for(server, key="wrong").messages.batches.list()
    assert refused.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    plain = httpx.get(server.root_url + "/v1/messages/batches", headers={"x-api-key": KEY})
    assert plain.status_code == 400 and "anthropic-version" in plain.json()["error"]["message"]
    foreign = httpx.get(
        server.root_url + "/v1/messages/batches",
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01", "host": "evil.example"},
    )
    assert foreign.status_code == 421 and foreign.json()["type"] == "error"
    assert KEY not in foreign.text


def test_cancel_mid_batch_leaves_canceled_results(tmp_path):
    with keyed_server("--latency", "0.3", "--concurrency", "1", data_dir=tmp_path / "slow") as slow:
        client = client_for(slow)
        batch = client.messages.batches.create(requests=[request(f"r{i}", f"text {i}") for i in range(8)])
        canceling = client.messages.batches.cancel(batch.id)
        assert canceling.processing_status in ("canceling", "ended") and canceling.cancel_initiated_at
        batch = ended(client, batch.id)
        counts = batch.request_counts
        assert counts.canceled >= 1 and counts.succeeded + counts.canceled == 8
        kinds = {r.type for r in results(client, batch.id).values()}
        assert "canceled" in kinds and kinds <= {"canceled", "succeeded"}
        with pytest.raises(anthropic.BadRequestError, match="ended"):
            client.messages.batches.cancel(batch.id)


def test_expired_requests_are_reported_expired(tmp_path):
    # a 24 h window scaled to about 2 s, and answers that take 0.5 s each, one at a time
    with keyed_server(
        "--latency", "0.5", "--concurrency", "1", "--window-scale", "0.00002", data_dir=tmp_path / "late"
    ) as late:
        client = client_for(late)
        batch = client.messages.batches.create(requests=[request(f"r{i}", "x") for i in range(10)])
        batch = ended(client, batch.id)
        assert batch.request_counts.expired >= 1
        assert "expired" in {r.type for r in results(client, batch.id).values()}


def test_upstream_backend_answers_in_messages_shape(tmp_path):
    with upstream_pair(tmp_path) as (_echo, front):
        client = client_for(front)
        batch = client.messages.batches.create(
            requests=[
                request("up", "through the upstream", system="sys"),
                request("cut", "a b c d", max_tokens=2),
            ]
        )
        answers = results(client, ended(client, batch.id).id)
        assert answers["up"].message.content[0].text == "through the upstream"
        assert (
            answers["cut"].message.stop_reason == "max_tokens"
            and answers["cut"].message.content[0].text == "a b"
        )


def test_kill_9_mid_batch_then_restart_finishes_each_request_once(tmp_path):
    data = tmp_path / "state"
    with keyed_server(*SLOW, data_dir=data) as first:
        client = client_for(first)
        batch = client.messages.batches.create(requests=[request(f"r{i}", f"n {i}") for i in range(10)])
        poll(
            lambda: (data / "server.db").stat().st_size and _some_done(data, batch.id),
            timeout=20,
            what="progress",
        )
        port = kill_9(first)
    with keyed_server(*SLOW, data_dir=data, port=port) as second:
        client = client_for(second)
        finished = ended(client, batch.id)
        assert finished.request_counts.succeeded == 10
        lines = list(client.messages.batches.results(batch.id))
        assert sorted(r.custom_id for r in lines) == sorted(f"r{i}" for i in range(10))


def _some_done(data, batch_id: str) -> bool:
    import sqlite3

    with sqlite3.connect(data / "server.db", timeout=5) as db:
        return db.execute("SELECT count(*) FROM results WHERE batch_id = ?", (batch_id,)).fetchone()[0] >= 2


def test_the_readme_example_runs_against_serve(capsys):
    from submitsupport import ROOT

    heading = "### Anthropic, Gemini and Mistral batch APIs on the same port"
    section = (ROOT / "README.md").read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert "http://127.0.0.1:8000" in code
    with running_server() as server:
        exec(compile(code.replace("http://127.0.0.1:8000", server.root_url), "README.md", "exec"), {})
    assert capsys.readouterr().out == "q1 succeeded Hello there\n"


def test_results_deleted_through_the_files_api_are_a_404_saying_so(server):
    import openai

    client = client_for(server)
    batch = ended(client, client.messages.batches.create(requests=[request("a", "hi")]).id)
    files = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0).files
    for f in files.list():
        if f.purpose == "batch_output" and f.created_at >= batch.created_at.timestamp() - 1:
            files.delete(f.id)
    with pytest.raises(anthropic.NotFoundError, match="were deleted"):  # was a 500
        list(client.messages.batches.results(batch.id))
    assert client.messages.batches.retrieve(batch.id).processing_status == "ended"


def test_a_part_the_upstream_has_no_place_for_fails_its_request_and_a_setting_it_lacks_is_dropped(server):
    client = client_for(server)
    document = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "the contract"},
    }
    cached = {"type": "text", "text": "summarise", "cache_control": {"type": "ephemeral"}}
    lines = [
        {"custom_id": "doc", "params": {"model": "claude-echo", "max_tokens": 50,
                                        "messages": [{"role": "user", "content": [document, cached]}]}},
        {"custom_id": "setting", "params": {"model": "claude-echo", "max_tokens": 50,
                                            "messages": [{"role": "user", "content": [cached]}]}},
    ]  # fmt: skip
    batch = ended(client, client.messages.batches.create(requests=lines).id)
    got = results(client, batch.id)
    assert got["doc"].type == "errored" and "no place for /params/messages/0/content/0" in str(got["doc"])
    assert got["setting"].type == "succeeded" and got["setting"].message.content[0].text == "summarise"
