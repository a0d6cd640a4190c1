"""`batchkit serve --enqueued-token-limit N`: the prompt tokens of a model's in-flight batches stay under N;
a batch over it fails as OpenAI fails it (token_limit_exceeded, OpenAI's words)."""

from __future__ import annotations

import openai
from serverutil import running_server
from test_server import chat, submit, wait_for, write_lines

from batchkit.server.enqueued import over_limit, prompt_tokens

# 3 per message + "user" + "hello" (1 each) + 3 to prime the reply, in o200k_base
TOKENS_PER_HELLO = 8


def test_prompt_tokens_per_model(tmp_path):
    path = tmp_path / "two.jsonl"
    lines = [chat(f"a{i}", model="gpt-4o-mini") for i in range(3)] + [chat("b", model="gpt-4.1")]
    write_lines(path, lines)
    assert prompt_tokens(path) == {"gpt-4o-mini": 3 * TOKENS_PER_HELLO, "gpt-4.1": TOKENS_PER_HELLO}


def test_over_limit_counts_each_model_on_its_own():
    assert over_limit({"m": 5}, {"m": 5, "other": 100}, 10) is None
    error = over_limit({"m": 6}, {"m": 1_999_995}, 2_000_000)
    assert error == {
        "code": "token_limit_exceeded",
        "line": None,
        "param": None,
        "message": "Enqueued token limit reached for m in organization org-local. Limit: 2,000,000 "
        "enqueued tokens. Please try again once some in_progress batches have been completed.",
    }


def test_a_batch_over_the_limit_fails_with_openais_error(tmp_path):
    ten = [chat(f"q{i}", model="gpt-4o-mini") for i in range(10)]
    limit = 15 * TOKENS_PER_HELLO  # one batch of ten fits, two do not
    args = ("--enqueued-token-limit", str(limit), "--latency", "0.2", "--concurrency", "1")
    with running_server(*args, data_dir=tmp_path / "srv") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
        first = submit(client, tmp_path, ten, name="first.jsonl")
        wait_for(client, first.id, until={"in_progress"})
        second = wait_for(client, submit(client, tmp_path, ten, name="second.jsonl").id)
        assert second.status == "failed" and second.in_progress_at is None
        assert [e.model_dump() for e in second.errors.data] == [
            {
                "code": "token_limit_exceeded",
                "line": None,
                "param": None,
                "message": "Enqueued token limit reached for gpt-4o-mini in organization org-local. "
                "Limit: 120 enqueued tokens. Please try again once some in_progress batches have been "
                "completed.",
            }
        ]
        other_model = [chat(f"q{i}", model="gpt-4.1") for i in range(10)]
        other = wait_for(client, submit(client, tmp_path, other_model, name="other.jsonl").id)
        assert other.status == "completed"  # each model has its own room
        assert wait_for(client, first.id).status == "completed"
        again = wait_for(client, submit(client, tmp_path, ten, name="second.jsonl").id)
        assert again.status == "completed"  # the room is free again once the first one ended
