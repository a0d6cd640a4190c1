"""What `--until-done` sends again (`select_resend`), on real request and result files: each kind of
failure by its error kind, requests with no result, and answers that do not follow their response schema;
the best result per request over several rounds' files decides."""

import orjson

from batchkit.results import select_resend

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
RF = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}


def request(cid, **body):
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": cid}], **body}}  # fmt: skip


def answer(cid, content="fine", finish="stop"):
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": finish}]}  # fmt: skip
    return {"id": "r", "custom_id": cid, "response": {"status_code": 200, "body": body}, "error": None}


def http_error(cid, status, code):
    body = {"error": {"message": "no", "type": "x", "code": code}}
    return {"id": "r", "custom_id": cid, "response": {"status_code": status, "body": body}, "error": None}


def batch_error(cid, code):
    return {"id": "r", "custom_id": cid, "response": None, "error": {"code": code, "message": "no"}}


def write(path, objs):
    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objs))
    return path


def test_each_kind_of_failure_goes_again_or_not_and_lines_come_back_byte_for_byte(tmp_path):
    plain = ["ok", "e500", "e429", "e400", "expired", "canceled", "none", "overloaded", "invalid_code"]
    structured = ["json_ok", "not_json", "mismatch", "cut"]
    requests = [request(cid) for cid in plain] + [request(cid, response_format=RF) for cid in structured]
    batch = write(tmp_path / "batch.jsonl", requests)
    results = write(tmp_path / "batch.output.jsonl", [
        answer("ok"),
        http_error("e500", 500, "server_error"),
        http_error("e429", 429, "rate_limit_exceeded"),
        http_error("e400", 400, "invalid_value"),
        batch_error("expired", "batch_expired"),
        batch_error("canceled", "batch_canceled"),
        batch_error("overloaded", "overloaded_error"),
        batch_error("invalid_code", "invalid_request"),
        answer("json_ok", '{"answer": "yes"}'),
        answer("not_json", "Sure! yes"),
        answer("mismatch", '{"reply": "yes"}'),
        answer("cut", '{"answer": "ye', finish="length"),
    ])  # fmt: skip
    found = select_resend(batch, results)
    assert (found.requests, found.answered, found.done) == (13, 2, False)
    again = ["e500", "e429", "expired", "canceled", "none", "overloaded", "not_json", "mismatch", "cut"]
    assert found.ids == again
    assert dict(found.again) == {
        "server_error (500)": 1, "rate_limit_exceeded (429)": 1, "expired": 1, "canceled": 1,
        "no result": 1, "overloaded_error": 1, "not JSON": 1, "schema mismatch": 1, "truncated": 1,
    }  # fmt: skip
    assert dict(found.final) == {"invalid_value (400)": 1, "invalid_request": 1}
    original = batch.read_bytes().splitlines()
    assert list(found.lines()) == [original[[r["custom_id"] for r in requests].index(c)] for c in again]


def test_a_later_rounds_success_answers_a_request_and_no_result_file_sends_everything(tmp_path):
    batch = write(tmp_path / "batch.jsonl", [request("a"), request("b")])
    first = write(tmp_path / "batch.output.jsonl", [http_error("a", 500, "server_error"), answer("b")])
    second = write(tmp_path / "batch.round-2.output.jsonl", [answer("a")])
    assert select_resend(batch, [first]).ids == ["a"]
    both = select_resend(batch, [first, second])
    assert both.done and both.ids == [] and both.answered == 2
    nothing = select_resend(batch, [])
    assert nothing.ids == ["a", "b"] and dict(nothing.again) == {"no result": 2}
