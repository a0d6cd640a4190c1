"""The answer cache itself: what makes two requests the same (keys), what is kept (good answers only),
the SQLite file (lookups, duplicates, prune, clear, a damaged file, several processes at once), cached
result lines in each provider's shape read by `merge`, and `batchkit cache stats | prune | clear`."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import orjson
import pytest
from submitsupport import ROOT, invoke, run_cli

from batchkit.cache import AnswerCache, Keeper, answer_key, cached_line, good_answer, remember, split
from batchkit.cache import store as store_module
from batchkit.formats import get_dialect, read_requests
from batchkit.results import AnswerParser, Expected, merge_results, normalise

WHERE = "openai http://127.0.0.1:1/v1"
CHAT = "/v1/chat/completions"


def body(**extra):
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


def key(b, model=None, where=WHERE, endpoint=CHAT):
    return answer_key(where, endpoint, model or b.get("model"), b)


# --- keys ---------------------------------------------------------------------------------------------


def test_the_same_request_written_differently_has_one_key():
    plain = body(temperature=1, max_tokens=100, top_p=0.5)
    spelled = {
        "max_tokens": 100.0,
        "top_p": 0.50,
        "temperature": 1e0,
        "messages": plain["messages"],
        "model": "m",
    }
    assert key(plain) == key(spelled)
    assert key(json.loads(json.dumps(plain, indent=3))) == key(plain)


@pytest.mark.parametrize(
    "changed",
    [
        body(temperature=0.7),
        body(seed=1),
        body(max_tokens=99),
        {
            "model": "m",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        },
        body(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]),
        {"model": "other", "messages": [{"role": "user", "content": "hi"}]},
        {"model": "m", "messages": [{"role": "user", "content": "hi "}]},
        body(temperature=1.0000001),
    ],
)
def test_any_field_the_provider_reads_makes_another_key(changed):
    assert key(changed) != key(body())


def test_the_server_endpoint_and_batch_model_are_part_of_the_key():
    assert key(body(), where="openai http://127.0.0.1:2/v1") != key(body())
    assert key(body(), where="anthropic http://127.0.0.1:1/v1") != key(body())
    assert key(body(), endpoint="/v1/responses") != key(body())
    unnamed = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}  # a Gemini body: no model
    assert key(unnamed, model="gemini-a") != key(unnamed, model="gemini-b")


def test_the_custom_id_is_never_part_of_the_key(tmp_path):
    path = tmp_path / "b.jsonl"
    lines = [{"custom_id": cid, "method": "POST", "url": CHAT, "body": body()} for cid in ("a", "zzz")]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with open(path, "rb") as stream:
        requests = list(read_requests(stream, print))
    assert len({answer_key(WHERE, r.endpoint, r.model, r.body) for r in requests}) == 1


# --- what is kept -------------------------------------------------------------------------------------


def openai_line(custom_id="x", status=200, finish="stop", content="ok", **body_extra):
    answer = {"object": "chat.completion", "model": "m", "created": 1, **body_extra,
              "choices": [{"index": 0, "finish_reason": finish, "message": {"role": "assistant", "content": content}}]}  # fmt: skip
    if status != 200:
        answer = {"error": {"message": "no", "type": "server_error", "code": "server_error"}}
    return {"id": "batch_req_1", "custom_id": custom_id, "response": {"status_code": status, "body": answer},
            "error": None}  # fmt: skip


@pytest.mark.parametrize(
    ("line", "expected", "kept"),
    [
        (openai_line(), None, True),
        (openai_line(finish="tool_calls"), None, True),
        (openai_line(finish="length"), None, False),  # cut at the token limit
        (openai_line(finish="content_filter"), None, False),
        (openai_line(finish=None), None, False),  # a chat answer that does not say it ended
        (openai_line(status=500), None, False),
        (openai_line(status=429), None, False),
        (openai_line(content='{"a": 1}'), Expected({"type": "object", "required": ["a"]}), True),
        (openai_line(content='{"b": 1}'), Expected({"type": "object", "required": ["a"]}), False),
        (openai_line(content="not json"), Expected({"type": "object"}), False),
        (
            {
                "custom_id": "e",
                "response": {
                    "status_code": 200,
                    "body": {"object": "list", "model": "m", "data": [{"index": 0, "embedding": [0.1, 0.2]}]},
                },
            },
            None,
            True,
        ),  # fmt: skip
        (
            {**openai_line(), "batchkit_cached": {"batch_id": "b", "stored_at": 1}},
            None,
            False,
        ),  # kept already
        ({"custom_id": "n", "response": {"status_code": 200, "body": {}}}, None, False),  # answers nothing
    ],
)
def test_only_good_answers_are_kept(line, expected, kept):
    record = normalise(line)
    assert good_answer(record, expected, AnswerParser()) is kept


# --- the SQLite file ----------------------------------------------------------------------------------


def test_answers_are_found_by_key_and_a_second_store_keeps_the_first(tmp_path):
    with AnswerCache(tmp_path / "c.db") as cache:
        k1, k2 = key(body()), key(body(seed=2))
        assert cache.lookup([k1, k2]) == {}
        assert cache.store(WHERE, "batch_1", [(k1, b'{"a":1}')]) == 1
        assert cache.store(WHERE, "batch_2", [(k1, b'{"a":2}'), (k2, b'{"b":1}')]) == 1
        hits = cache.lookup([k1, k2, key(body(seed=3))])
    assert set(hits) == {k1, k2}
    assert (hits[k1].line, hits[k1].batch_id) == (b'{"a":1}', "batch_1")
    assert (hits[k2].line, hits[k2].batch_id) == (b'{"b":1}', "batch_2")
    assert abs(hits[k1].stored_at - time.time()) < 60


def test_a_reader_of_the_cache_waits_for_no_writer(tmp_path):
    """Every open took a writer's lock to check the schema: `cache stats` waited out another process's
    write (7 s), and a submit gave up after 30 s, where WAL lets readers read."""
    path = tmp_path / "c.db"
    with AnswerCache(path) as cache:
        cache.store(WHERE, "batch_1", [(key(body()), b'{"a":1}')])
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process's write, held
    try:
        started = time.monotonic()
        with AnswerCache(path) as cache:
            assert cache.stats().answers == 1 and len(cache.lookup([key(body())])) == 1
        assert time.monotonic() - started < 5
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_two_keys_that_share_their_first_half_never_answer_for_each_other(tmp_path):
    first, second = b"\x01" * 8 + b"A" * 8, b"\x01" * 8 + b"B" * 8
    with AnswerCache(tmp_path / "c.db") as cache:
        cache.store(WHERE, "b", [(first, b"1")])
        assert cache.store(WHERE, "b", [(second, b"2")]) == 0  # the row is taken: not kept, never mixed up
        assert set(cache.lookup([first, second])) == {first}


def test_prune_forgets_old_answers_and_clear_forgets_all(tmp_path, monkeypatch):
    path = tmp_path / "c.db"
    with AnswerCache(path) as cache:
        monkeypatch.setattr(store_module.time, "time", lambda: 1_000_000.0)
        cache.store(WHERE, "old", [(key(body(seed=i)), os.urandom(2000)) for i in range(200)])
        monkeypatch.undo()
        cache.store(WHERE, "new", [(key(body(seed=-1)), b"y")])
        full = cache.stats().bytes
        assert full > 200 * 2000
        assert cache.prune(30 * 86400) == 200
        assert set(cache.lookup([key(body(seed=-1)), key(body(seed=1))])) == {key(body(seed=-1))}
        stats = cache.stats()
        assert (stats.answers, stats.by_address) == (1, {WHERE: 1})
        assert stats.bytes < full  # the freed pages went back to the file system
        assert cache.clear() == 1
        assert cache.stats().answers == 0


def test_a_damaged_cache_is_moved_aside_with_one_line(tmp_path):
    path = tmp_path / "c.db"
    with AnswerCache(path) as cache:
        cache.lookup([key(body())])
    whole = path.read_bytes()
    path.write_bytes(whole[:100] + b"\xff" * (len(whole) - 100))  # its header kept, its pages broken
    with pytest.raises(Exception, match="the answer cache .* is damaged: .* moved it aside to") as raised:
        AnswerCache(path).lookup([key(body())])
    assert "nothing else is lost" in str(raised.value)
    assert not path.exists() and list(tmp_path.glob("c.db.damaged-*"))
    with AnswerCache(path) as fresh:  # the next use starts a new one
        assert fresh.lookup([key(body())]) == {}


WRITER = textwrap.dedent(
    """
    import sys
    from batchkit.cache import AnswerCache, answer_key
    path, who = sys.argv[1], sys.argv[2]
    with AnswerCache(path) as cache:
        for i in range(300):
            body = {"model": "m", "messages": [{"role": "user", "content": f"{who} {i}"}]}
            k = answer_key("openai x", "/v1/chat/completions", "m", body)
            cache.store("openai x", f"batch-{who}", [(k, b'{"n": %d}' % i)])
            shared = answer_key("openai x", "/v1/chat/completions", "m", {"n": i})
            cache.store("openai x", f"batch-{who}", [(shared, b'{}')])
            assert k in cache.lookup([k])
    """
)


@pytest.mark.slow
def test_several_processes_read_and_write_one_cache_at_once(tmp_path):
    path = tmp_path / "c.db"
    env = {"PYTHONPATH": str(ROOT)}
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), who], env=env, stderr=subprocess.PIPE)
        for who in ("a", "b", "c", "d")
    ]
    for writer in writers:
        assert writer.wait(120) == 0, writer.stderr.read().decode()
    with AnswerCache(path) as cache:
        stats = cache.stats()
        assert stats.answers == 4 * 300 + 300  # each process's own, and the shared ones once
        assert sum(stats.by_address.values()) == stats.answers


# --- cached result lines in each provider's shape -----------------------------------------------------

RESULT_LINES = {
    "openai": (
        {"custom_id": "old", "method": "POST", "url": CHAT, "body": body()},
        openai_line("old"),
    ),
    "anthropic": (
        {"custom_id": "old", "params": {"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}},
        {"custom_id": "old", "result": {"type": "succeeded", "message": {"model": "claude", "stop_reason": "end_turn",
         "content": [{"type": "text", "text": "hello"}], "usage": {"input_tokens": 1, "output_tokens": 1}}}},
    ),
    "gemini": (
        {"key": "old", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}},
        {"key": "old", "response": {"candidates": [{"content": {"parts": [{"text": "hello"}]}, "finishReason": "STOP"}],
         "modelVersion": "gemini-x", "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}}},
    ),
}  # fmt: skip


@pytest.mark.parametrize("dialect", RESULT_LINES)
def test_a_kept_answer_comes_back_in_its_providers_shape_under_the_new_id_and_merge_marks_it(
    tmp_path, dialect
):
    request_line, result = RESULT_LINES[dialect]
    first, results = tmp_path / "first.jsonl", tmp_path / "first.output.jsonl"
    first.write_text(json.dumps(request_line) + "\n")
    results.write_text(json.dumps(result) + "\n")
    batch_model = "gemini-x" if dialect == "gemini" else None  # Gemini takes the model on the batch
    with AnswerCache(tmp_path / "c.db") as cache:
        assert remember(cache, WHERE, first, [results], batch_model=batch_model, batch_id="batch_first") == 1
        again = dict(request_line)
        get_dialect(dialect).set_id(again, "new")
        second = tmp_path / "second.jsonl"
        second.write_text(json.dumps(again) + "\n" + json.dumps({**again, **_other(dialect)}) + "\n")
        found = split(cache, WHERE, second, batch_model, tmp_path / "send.jsonl", tmp_path / "cached.jsonl")
    assert (found.requests, found.cached, found.sent) == (2, 1, 1)
    (cached,) = [json.loads(line) for line in (tmp_path / "cached.jsonl").read_text().splitlines()]
    assert get_dialect(dialect).id_of(cached) == "new"
    assert cached["batchkit_cached"]["batch_id"] == "batch_first"
    assert {
        k: v for k, v in cached.items() if k not in ("batchkit_cached", *get_dialect(dialect).id_path)
    } == {
        k: v for k, v in result.items() if k not in get_dialect(dialect).id_path
    }  # the provider's own line, whole
    sent = [json.loads(line) for line in (tmp_path / "send.jsonl").read_text().splitlines()]
    assert sent == [{**again, **_other(dialect)}]  # byte for byte the request line left to send
    merged = merge_results([second], [tmp_path / "cached.jsonl"]).frame
    row = merged[merged["custom_id"] == "new"].iloc[0]
    assert (row["status"], row["cached"], row["cached_batch_id"]) == ("ok", True, "batch_first")


def _other(dialect: str) -> dict:
    """Another request of that format: its id and a different question."""
    if dialect == "openai":
        return {"custom_id": "other", "body": body(seed=5)}
    if dialect == "anthropic":
        return {
            "custom_id": "other",
            "params": {"model": "claude", "max_tokens": 6, "messages": [{"role": "user", "content": "hi"}]},
        }
    return {"key": "other", "request": {"contents": [{"role": "user", "parts": [{"text": "other"}]}]}}


def test_a_file_the_cache_does_not_answer_leaves_no_files(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps(RESULT_LINES["openai"][0]) + "\n")
    with AnswerCache(tmp_path / "c.db") as cache:
        found = split(cache, WHERE, path, None, tmp_path / "send.jsonl", tmp_path / "cached.jsonl")
    assert (found.requests, found.cached) == (1, 0)
    assert not (tmp_path / "send.jsonl").exists() and not (tmp_path / "cached.jsonl").exists()


def test_an_id_two_lines_share_keeps_no_answer(tmp_path):
    path = tmp_path / "b.jsonl"
    lines = [{"custom_id": "same", "method": "POST", "url": CHAT, "body": body(seed=i)} for i in (1, 2)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps(openai_line("same")) + "\n")
    with AnswerCache(tmp_path / "c.db") as cache:
        assert remember(cache, WHERE, path, [results]) == 0  # which of the two it answers cannot be told


def test_the_keeper_keeps_good_answers_of_single_requests(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": CHAT, "body": body()}) + "\n")
    with open(path, "rb") as stream:
        (request,) = read_requests(stream, print)
    with AnswerCache(tmp_path / "c.db") as cache:
        keeper = Keeper(cache, WHERE)
        keeper.offer(request, openai_line("a", finish="length"))
        keeper.flush()
        assert keeper.kept == 0
        keeper.offer(request, openai_line("a"))
        keeper.flush()
        assert keeper.kept == 1
        (hit,) = keeper.lookup([request])
    line = orjson.loads(cached_line(hit, request))
    assert line["custom_id"] == "a" and line["batchkit_cached"] == {
        "batch_id": "",
        "stored_at": hit.stored_at,
    }


# --- batchkit cache -----------------------------------------------------------------------------------


def test_cache_stats_prune_and_clear_say_what_they_did(tmp_path, monkeypatch):
    path = tmp_path / "c.db"
    missing = invoke("cache", "stats", "--cache", path)
    assert missing.returncode == 0 and "nothing is cached" in missing.stderr and not path.exists()
    with AnswerCache(path) as cache:
        then = time.time() - 40 * 86400
        monkeypatch.setattr(store_module.time, "time", lambda: then)
        cache.store(WHERE, "old", [(key(body(seed=i)), b"x") for i in range(3)])
        monkeypatch.undo()
        cache.store("anthropic http://h", "new", [(key(body(seed=9)), b"y")])
    stats = invoke("cache", "stats", "--cache", path)
    assert stats.returncode == 0
    assert "answers: 4 (" in stats.stdout and "bytes an answer" in stats.stdout
    assert "3        openai http://127.0.0.1:1/v1" in stats.stdout
    data = json.loads(invoke("cache", "stats", "--cache", path, "--format", "json").stdout)
    assert data["answers"] == 4 and data["by_address"] == {WHERE: 3, "anthropic http://h": 1}
    pruned = invoke("cache", "prune", "--older-than", "30d", "--cache", path)
    assert pruned.stdout == f"forgot 3 answer(s); 1 remain in {path}\n"
    assert invoke("cache", "prune", "--older-than", "soon", "--cache", path).returncode == 2
    cleared = invoke("cache", "clear", "--cache", path)
    assert cleared.stdout == f"forgot 1 answer(s); {path} is empty\n"


def test_the_default_cache_lives_in_the_batchkit_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BATCHKIT_HOME", str(tmp_path / "home"))
    assert AnswerCache().path == tmp_path / "home" / "cache.db"
    assert "cache.db" in invoke("cache", "stats").stderr


def test_a_file_that_is_no_answer_cache_is_refused_and_left_as_it_is(tmp_path):
    other = tmp_path / "contacts.db"
    with contextlib.closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE people (name)")
        db.commit()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    for path, why in ((other, "it holds other tables: people"), (notes, "not a SQLite database")):
        before = path.read_bytes()
        said = run_cli("cache", "stats", "--cache", path)
        assert said.returncode == 2 and f"is not an answer cache ({why})" in said.stderr, said.stderr
        assert (
            path.read_bytes() == before and [p.name for p in tmp_path.iterdir() if "damaged" in p.name] == []
        )


def test_an_age_past_any_answer_is_a_usage_error_not_a_traceback():
    said = run_cli("cache", "prune", "--older-than", "99999999999999999999d")
    assert said.returncode == 2 and "at most 100 years" in said.stderr and "Traceback" not in said.stderr
