"""The server's store on its own: exactly-once results, status transitions, crash leftovers."""

from __future__ import annotations

import orjson
import pytest

from batchkit.errors import InputError, UsageError
from batchkit.server.store import Store
from batchkit.validate import validate_request
from batchkit.wire import batch_error, result_line
from batchkit.wire.protocol import new_id


def make_batch(store: Store) -> str:
    return store.create_batch(
        endpoint="/v1/chat/completions", input_file_id="file-x", completion_window="24h", metadata=None,
        window_seconds=60, output_expires_after=None, idempotency_key=None, params={},
    )["id"]  # fmt: skip


def test_results_count_once_per_custom_id(tmp_path):
    store = Store(tmp_path)
    batch_id = make_batch(store)
    line = orjson.dumps(result_line("a", 200, {"usage": {"prompt_tokens": 3, "completion_tokens": 2}}, "r"))
    usage = {"prompt_tokens": 3, "completion_tokens": 2}
    assert store.record_results(batch_id, [("a", 1, "succeeded", line + b"\n", usage)]) == 1
    assert (
        store.record_results(
            batch_id, [("a", 1, "succeeded", line + b"\n", usage), ("b", 2, "errored", b"{}\n", None)]
        )
        == 1
    )
    batch = store.get_batch(batch_id)
    assert batch["request_counts"] == {"total": 0, "completed": 1, "failed": 1}
    assert batch["usage"]["input_tokens"] == 3 and batch["usage"]["total_tokens"] == 5
    assert store.done_custom_ids(batch_id) == {"a", "b"}
    store.close()


def test_finish_records_nothing_when_the_status_moved_on(tmp_path):
    store = Store(tmp_path)
    batch_id = make_batch(store)
    assert store.transition(batch_id, "in_progress", when=("validating",))
    assert not store.transition(batch_id, "in_progress", when=("validating",))
    assert store.transition(batch_id, "cancelling", when=("in_progress",))
    store.record_results(batch_id, [("a", 1, "succeeded", b'{"custom_id":"a"}\n', None)])
    target = store.file_path("file-out")
    assert store.write_results(batch_id, True, target) == 1
    assert not store.finish_batch(
        batch_id, "completed", when=("finalizing",), output=("file-out", target), errors=None
    )
    assert store.get_file("file-out") is None  # no row for a file of a batch that did not end this way
    assert store.finish_batch(
        batch_id, "cancelled", when=("cancelling",), output=("file-out", target), errors=None
    )
    batch = store.get_batch(batch_id)
    assert (
        batch["status"] == "cancelled"
        and batch["output_file_id"] == "file-out"
        and batch["error_file_id"] is None
    )
    assert isinstance(batch["cancelling_at"], int) and isinstance(batch["cancelled_at"], int)
    assert store.get_file("file-out")["purpose"] == "batch_output"
    store.close()


def test_reopening_sweeps_bodies_no_row_names(tmp_path):
    store = Store(tmp_path)
    file_id, part = store.upload_path()
    part.write_bytes(b"{}\n")
    kept = store.add_file(file_id, part, "in.jsonl", "batch")
    (store.files_dir / f".{new_id('file-')}.part").write_bytes(b"half")  # an upload cut short
    (store.files_dir / new_id("file-")).write_bytes(b"{}\n")  # a result file whose batch never recorded it
    (store.files_dir / ".batch_1.publish").write_bytes(b"{}\n")  # a result published no further
    store.close()
    store = Store(tmp_path)
    assert sorted(p.name for p in store.files_dir.iterdir()) == [kept["id"]]
    store.close()


def test_a_data_folder_of_the_users_own_keeps_every_file_the_server_did_not_name(tmp_path):
    """`serve --data-dir proj` over a folder with a files/ of its own: its files were deleted, and a
    folder in it was a traceback."""
    own = tmp_path / "files"
    (own / "subdir").mkdir(parents=True)
    for name in ("important.txt", "file-notes", ".file-x.part", "subdir/a.txt"):
        (own / name).write_text("mine\n")
    Store(tmp_path).close()
    kept = sorted(str(p.relative_to(own)) for p in own.rglob("*"))
    assert kept == [".file-x.part", "file-notes", "important.txt", "subdir", "subdir/a.txt"]


def test_one_store_per_data_dir(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(UsageError, match="in use"):
        Store(tmp_path)
    store.close()
    Store(tmp_path).close()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions"},
            ("missing_required_parameter", "body"),
        ),
        (
            {"custom_id": "a", "method": "GET", "url": "/v1/chat/completions", "body": {}},
            ("invalid_request", "method"),
        ),
        (
            {"custom_id": 5, "method": "POST", "url": "/v1/chat/completions", "body": {}},
            ("invalid_request", "custom_id"),
        ),
        ({"custom_id": "a", "method": "POST", "url": "/v1/audio/speech", "body": {}}, ("invalid_url", "url")),
        # as OpenAI answers it (llama-stack's Batch API suite records the reply)
        ({"custom_id": "a", "method": "POST", "body": {}}, ("missing_required_parameter", "url")),
    ],
)
def test_findings_become_openai_batch_errors(line, expected):
    from batchkit.wire import LOCAL

    errors = [e for e in map(batch_error, validate_request(line, LOCAL)) if e]
    assert (errors[0]["code"], errors[0]["param"]) == expected


def test_body_problems_fail_only_their_request():
    from batchkit.wire import LOCAL

    line = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}}  # fmt: skip
    findings = [f for f in validate_request(line, LOCAL) if f.is_error]
    assert findings and all(batch_error(f) is None for f in findings)


def test_a_fault_while_validating_fails_the_batch_instead_of_leaving_it(tmp_path):
    import asyncio

    from batchkit.server.worker import Manager

    class BrokenBackend:
        async def served_models(self):
            raise RuntimeError("the backend fell over")

    store = Store(tmp_path)
    file_id, part = store.upload_path()
    part.write_bytes(b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}\n')
    store.add_file(file_id, part, "in.jsonl", "batch")
    batch_id = store.create_batch(
        endpoint="/v1/chat/completions", input_file_id=file_id, completion_window="24h", metadata=None,
        window_seconds=60, output_expires_after=None, idempotency_key=None, params={},
    )["id"]  # fmt: skip

    async def drive():
        manager = Manager(store, BrokenBackend())
        manager.launch(batch_id)
        await asyncio.gather(*manager.tasks.values(), return_exceptions=True)

    asyncio.run(drive())
    batch = store.get_batch(batch_id)
    assert batch["status"] == "failed"
    assert batch["errors"]["data"][0]["code"] == "server_error"
    assert "RuntimeError" in batch["errors"]["data"][0]["message"]
    store.close()


def test_intake_places_wrong_endpoints_and_unknown_models_among_malformed_lines(tmp_path):
    from batchkit.server.intake import check_input

    def line(cid, url="/v1/chat/completions", model="m"):
        body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        return orjson.dumps({"custom_id": cid, "method": "POST", "url": url, "body": body})

    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([line("a"), line("b", url=["x"]), line("c", url="/v1/embeddings"),
                                 line("d", model={"x": 1}), line("e", model="other")]) + b"\n")  # fmt: skip
    intake = check_input(path, "/v1/chat/completions", frozenset({"m"}))
    assert [(e["line"], e["code"]) for e in intake.errors] == [
        (2, "invalid_url"),  # not a string: the schema's finding
        (3, "invalid_url"),
        (4, "invalid_request"),
        (5, "model_not_found"),
    ]
    assert intake.total == 5


# ---- the app in this process (FastAPI's TestClient runs its lifespan): states no HTTP timing can pin down ----


@pytest.fixture
def app_client(tmp_path):
    from fastapi.testclient import TestClient

    from batchkit.server import ServerConfig, create_app

    app = create_app(ServerConfig(data_dir=tmp_path / "data"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        app.state.manager.supervise_every = 0.05
        yield client, app.state.store


def _finalizing_batch(store: Store, tmp_path) -> str:
    """A batch in `finalizing` with one committed answer and no driver (as a killed finalization leaves it)."""
    input_path = tmp_path / "input.jsonl"
    input_path.write_bytes(b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{}}\n')
    file_id, part = store.upload_path()
    part.write_bytes(input_path.read_bytes())
    store.add_file(file_id, part, "input.jsonl", "batch")
    batch_id = store.create_batch(
        endpoint="/v1/chat/completions", input_file_id=file_id, completion_window="24h", metadata=None,
        window_seconds=3600, output_expires_after=None, idempotency_key=None, params={},
    )["id"]  # fmt: skip
    assert store.transition(batch_id, "in_progress", when=("validating",), total=2)
    line = orjson.dumps(result_line("a", 200, {"ok": True}, "req_1")) + b"\n"
    store.record_results(batch_id, [("a", 1, "succeeded", line, None)])
    assert store.transition(batch_id, "finalizing", when=("in_progress",))
    return batch_id


def test_cancel_while_finalizing_is_accepted_and_keeps_the_partial_output(app_client, tmp_path):
    from polling import poll

    client, store = app_client
    batch_id = _finalizing_batch(store, tmp_path)
    answer = client.post(f"/v1/batches/{batch_id}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelling"
    done = poll(lambda: (b := client.get(f"/v1/batches/{batch_id}").json())["status"] == "cancelled" and b)
    assert isinstance(done["cancelled_at"], int) and done["completed_at"] is None
    output = client.get(f"/v1/files/{done['output_file_id']}/content").content
    assert [orjson.loads(x)["custom_id"] for x in output.splitlines()] == ["a"]
    again = client.post(f"/v1/batches/{batch_id}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"


def test_the_supervisor_expires_an_overdue_batch_no_driver_holds(app_client, tmp_path):
    from polling import poll

    client, store = app_client
    batch_id = store.create_batch(
        endpoint="/v1/chat/completions",
        input_file_id="file-none",
        completion_window="24h",
        metadata=None,
        window_seconds=0.2,
        output_expires_after=None,
        idempotency_key=None,
        params={},
    )["id"]  # fmt: skip  (created behind the routes' back: no driver was launched)
    done = poll(
        lambda: (b := client.get(f"/v1/batches/{batch_id}").json())["status"] == "expired" and b, timeout=10
    )
    assert isinstance(done["expired_at"], int)


def test_openai_words_for_create_and_cancel(app_client):
    client, _store = app_client
    body = {"input_file_id": "file-x", "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    wrong = client.post("/v1/batches", json={**body, "metadata": {"tags": ["a", "b"]}})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == {
        "message": "Invalid type for 'metadata.tags': expected a string, but got an array instead.",
        "type": "invalid_request_error",
        "param": "metadata.tags",
        "code": "invalid_type",
    }


def test_the_validating_stage_keeps_a_bounded_list_and_counts_the_rest(tmp_path):
    import time

    from batchkit.server.intake import check_input
    from batchkit.wire import MAX_BATCH_ERRORS

    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"{not json\n" * 30_000)
    started = time.perf_counter()
    intake = check_input(path, "/v1/chat/completions", None)
    assert len(intake.errors) == MAX_BATCH_ERRORS and intake.findings == 30_000
    assert intake.errors[0] == {
        "code": "invalid_json_line",
        "message": "This line is not parseable as valid JSON.",
        "param": None,
        "line": 1,
    }
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize(
    "text",
    [
        '{"headers": {"authorization": "Bearer sk-AbC123xyz"}}',
        '{"error": {"message": "{\\"Authorization\\": \\"Bearer sk-AbC123xyz\\"}"}}',
        "{'api-key': 'sk-AbC123xyz', 'x': 1}",
        "X-Api-Key: sk-AbC123xyz\r\nHost: a",
        "token was bearer sk-AbC123xyz, sorry",
        "the key sk-AbC123xyz was refused",
    ],
)
def test_redact_removes_credentials_in_every_form(text):
    from batchkit.keys import redact

    cleaned = redact(text, ("sk-AbC123xyz",))
    assert "AbC123" not in cleaned and "[redacted]" in cleaned
    if text.startswith('{"'):
        orjson.loads(cleaned)  # JSON stays JSON


@pytest.mark.slow
def test_the_validating_stage_never_holds_a_line_past_the_bound(tmp_path):
    import tracemalloc

    from batchkit.lines import MAX_LINE_BYTES
    from batchkit.server.intake import check_input

    size = 100 * 2**20  # one line past validate's 64 MiB bound (and short of where it stops reading)
    path = tmp_path / "long.jsonl"
    with open(path, "wb") as f:
        f.write(b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m",')
        f.write(b'"messages":[{"role":"user","content":"' + b"x" * size + b'"}]}}\n')
        f.write(
            b'{"custom_id":"b","method":"POST","url":"/v1/embeddings","body":{"model":"m","input":"x"}}\n'
        )
    tracemalloc.start()
    try:
        intake = check_input(path, "/v1/chat/completions", frozenset({"m"}))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(e["line"], e["code"]) for e in intake.errors] == [(1, "invalid_request"), (2, "invalid_url")]
    assert f"more than the {MAX_LINE_BYTES:,} batchkit reads in one line" in intake.errors[0]["message"]
    assert peak < size  # the line was skipped unread, never held whole


def test_a_damaged_database_is_one_error_and_the_folder_is_free_again(tmp_path):
    (tmp_path / "server.db").write_text("x\n")  # was a traceback: sqlite3.DatabaseError
    with pytest.raises(InputError, match="server.db: not a database batchkit serve can read"):
        Store(tmp_path)
    (tmp_path / "server.db").unlink()
    Store(tmp_path).close()  # the folder's lock was let go
