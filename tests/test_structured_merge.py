"""Structured output out: answers parsed into typed `answer.FIELD` columns and `parse_error`, for every
result dialect merge reads, and one validator per distinct schema."""

import json

import orjson
import pytest
from click.testing import CliRunner

from batchkit.cli import cli
from batchkit.results import merge_results
from batchkit.results.parsed import AnswerParser, request_schema

SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative"]},
        "score": {"type": "number"},
        "detail": {"type": "object", "properties": {"why": {"type": "string"}, "tags": {"type": "array"}}},
    },
    "required": ["sentiment", "score", "detail"],
    "additionalProperties": False,
}
RF = {"type": "json_schema", "json_schema": {"name": "r", "strict": True, "schema": SCHEMA}}


def chat_request(cid, **body):
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "m", "messages": [{"role": "user", "content": "x"}], **body}}  # fmt: skip


def chat_result(cid, content, finish="stop", tool_calls=None):
    message = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}]}  # fmt: skip
    return {"id": "r", "custom_id": cid, "response": {"status_code": 200, "request_id": "q", "body": body},
            "error": None}  # fmt: skip


def write(path, objs):
    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objs))
    return path


GOOD = {"sentiment": "positive", "score": 0.9, "detail": {"why": "fine", "tags": ["a"]}}


def test_parser_columns_and_each_kind_of_error():
    parser = AnswerParser()
    row = parser.row(SCHEMA, json.dumps(GOOD), None, "stop")
    assert row == {"answer.sentiment": "positive", "answer.score": 0.9,
                   "answer.detail": '{"why":"fine","tags":["a"]}', "parse_error": None}  # fmt: skip
    deep = AnswerParser(flatten=2).row(SCHEMA, json.dumps(GOOD), None, "stop")
    assert deep["answer.detail.why"] == "fine" and deep["answer.detail.tags"] == '["a"]'
    # a field named "a.b" beside an object a with b: spread, two values would share one column
    both = AnswerParser(flatten=2).row(None, json.dumps({"a.b": 1, "a": {"b": 2}}), None, "stop")
    assert (both["answer.a.b"], both["answer.a"]) == (1, '{"b":2}')
    assert parser.row(SCHEMA, "Sure! positive", None, "stop")["parse_error"].startswith("not JSON: ")
    cut = parser.row(SCHEMA, '{"sentiment": "posi', None, "length")["parse_error"]
    assert cut == "truncated at the token limit (finish_reason length): the JSON ends after 19 characters"
    assert "finish_reason max_tokens" in parser.row(SCHEMA, '{"a', None, "max_tokens")["parse_error"]
    wrong = parser.row(SCHEMA, json.dumps({**GOOD, "score": "high"}), None, "stop")
    assert wrong["parse_error"].startswith("schema mismatch at /score: 'high' is not of type 'number'")
    assert wrong["answer.score"] == "high"  # the value is still shown
    nested = parser.row(SCHEMA, json.dumps({**GOOD, "detail": {"why": 3}}), None, "stop")
    assert nested["parse_error"].startswith("schema mismatch at /detail/why: ")
    missing = parser.row(SCHEMA, json.dumps({"sentiment": "negative"}), None, "stop")
    assert missing["parse_error"].startswith("schema mismatch at /: 'score' is a required property")
    assert parser.parsed == 1
    assert parser.counts == {"not JSON": 1, "truncated": 2, "schema mismatch": 3}


def test_one_compiled_validator_per_distinct_schema():
    parser = AnswerParser()
    first = parser.validator(SCHEMA)
    assert parser.validator(json.loads(json.dumps(SCHEMA))) is first
    assert parser.validator({**SCHEMA, "required": []}) is not first
    assert parser.validator({"type": 12}) is None  # not a schema: answers are parsed, not checked


def test_hostile_answers_give_bounded_printable_errors():
    parser = AnswerParser()
    error = parser.row(SCHEMA, json.dumps({**GOOD, "sentiment": "\x1b[31m" + "x" * 5000}), None, "stop")
    assert len(error["parse_error"]) <= 200 and "\x1b" not in error["parse_error"]


def test_what_a_request_asked_for():
    from batchkit.formats import detect

    def asked(line):
        return request_schema(detect(line).read(line))

    assert asked(chat_request("a", response_format=RF)).schema == SCHEMA
    responses = {
        "url": "/v1/responses",
        "body": {"text": {"format": {"type": "json_schema", "name": "r", "schema": SCHEMA}}},
    }
    assert asked(responses).schema == SCHEMA
    anthropic = {"custom_id": "a", "params": {"tools": [{"name": "out", "input_schema": SCHEMA}],
                                              "tool_choice": {"type": "tool", "name": "out"}}}  # fmt: skip
    assert asked(anthropic).tool == "out" and asked(anthropic).schema == SCHEMA
    assert asked({"params": {"output_config": {"format": {"schema": SCHEMA}}}}).schema == SCHEMA
    forced = chat_request("a", tools=[{"type": "function", "function": {"name": "f", "parameters": SCHEMA}}],
                          tool_choice={"type": "function", "function": {"name": "f"}})  # fmt: skip
    assert asked(forced).tool == "f"
    assert asked(chat_request("a")) is None
    assert asked(chat_request("a", response_format={"type": "json_object"})) is None


def test_merge_parses_automatically_and_reports_each_row(tmp_path):
    batch = write(tmp_path / "b.jsonl", [chat_request(c, response_format=RF) for c in "abcde"])
    results = write(tmp_path / "out.jsonl", [
        chat_result("a", json.dumps(GOOD)),
        chat_result("b", json.dumps({**GOOD, "sentiment": "negative", "score": 2})),
        chat_result("c", '{"sentiment": "neg', "length"),
        chat_result("d", "not json at all"),
        chat_result("e", json.dumps({**GOOD, "score": "x"})),
    ])  # fmt: skip
    result = merge_results(batch, results)
    frame = result.frame
    assert frame["answer.sentiment"].fillna("-").tolist() == ["positive", "negative", "-", "-", "positive"]
    assert str(frame["answer.sentiment"].dtype) == "string"
    assert frame["answer.score"][:2].tolist() == [0.9, 2.0]
    errors = frame["parse_error"].tolist()
    assert errors[:2] == [None, None]
    assert errors[2].startswith("truncated at the token limit (finish_reason length)")
    assert errors[3].startswith("not JSON")
    assert errors[4].startswith("schema mismatch at /score")
    report = result.report
    assert report.parsed == 2 and sum(report.parse_errors.values()) == 3
    assert "structured answers: 2 parsed, 3 parse error(s) (not JSON 1, schema mismatch 1, truncated 1" in (
        report.to_text()
    )
    assert report.to_dict()["structured"]["parse_errors"] == 3
    plain = merge_results(batch, results, parse_json=False).frame
    assert "parse_error" not in plain.columns


def test_parse_json_on_a_request_without_a_schema_and_the_cli_options(tmp_path):
    batch = write(tmp_path / "b.jsonl", [chat_request("a"), chat_request("b")])
    results = write(tmp_path / "out.jsonl", [chat_result("a", '{"x": {"y": 1}}'), chat_result("b", "hi")])
    assert "parse_error" not in merge_results(batch, results).frame.columns
    out = tmp_path / "m.csv"
    done = CliRunner().invoke(cli, ["merge", str(batch), "-r", str(results), "-o", str(out),
                                    "--parse-json", "--flatten", "2"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "structured answers: 1 parsed, 1 parse error(s)" in done.output
    header = out.read_text().splitlines()[0].split(",")
    assert "answer.x.y" in header and "parse_error" in header


def anthropic_result(cid, blocks, stop="end_turn"):
    message = {"id": "msg", "type": "message", "role": "assistant", "model": "claude", "content": blocks,
               "stop_reason": stop, "usage": {"input_tokens": 3, "output_tokens": 4}}  # fmt: skip
    return {"custom_id": cid, "result": {"type": "succeeded", "message": message}}


def gemini_result(key, text, reason="STOP"):
    return {"key": key, "response": {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                                     "finishReason": reason}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("results", "forced", "expect"),
    [
        ([anthropic_result("a", [{"type": "text", "text": "Here:"},
                                 {"type": "tool_use", "id": "t", "name": "out", "input": GOOD}]),
          anthropic_result("b", [{"type": "tool_use", "id": "t", "name": "out", "input": {"sentiment": "x"}}],
                           "max_tokens")],
         True, ["truncated at the token limit (finish_reason length); schema mismatch"]),
        ([gemini_result("a", json.dumps(GOOD)), gemini_result("b", '{"sent', "MAX_TOKENS")],
         False, ["truncated at the token limit (finish_reason length): the JSON ends"]),
    ],
)  # fmt: skip
def test_every_result_dialect_becomes_the_same_parsed_row(tmp_path, results, forced, expect):
    # Anthropic's structured output through a forced tool: the tool's input is the answer, not the text
    tools = [{"type": "function", "function": {"name": "out", "parameters": SCHEMA}}]
    if forced:
        requests = [chat_request(c, tools=tools, tool_choice={"type": "function", "function": {"name": "out"}})
                    for c in "ab"]  # fmt: skip
    else:
        requests = [chat_request(c, response_format=RF) for c in "ab"]
    batch = write(tmp_path / "b.jsonl", requests)
    frame = merge_results(batch, write(tmp_path / "out.jsonl", results)).frame
    assert frame["answer.sentiment"][0] == "positive" and frame["answer.score"][0] == 0.9
    assert frame["parse_error"][0] is None
    assert frame["parse_error"][1].startswith(expect[0])


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet", "xlsx"])
def test_answers_nested_past_the_limit_are_a_parse_error_never_an_aborted_merge(tmp_path, suffix):
    deep = '{"a":' * 300 + "1" + "}" * 300  # a model's answer: 300 levels
    deep_list = b"[" * 300 + b"]" * 300
    batch = write(tmp_path / "batch.jsonl", [chat_request(f"r{i}", response_format=RF) for i in range(1, 5)])
    tool = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": deep}}]
    lines = [
        orjson.dumps(chat_result("r1", json.dumps(GOOD))),
        orjson.dumps(chat_result("r2", deep)),
        # a tool call whose arguments are JSON 300 levels deep, and tool calls that deep themselves
        orjson.dumps(chat_result("r3", None, tool_calls=tool)),
        orjson.dumps(chat_result("r4", None, tool_calls=[1])).replace(b"[1]", deep_list),
    ]
    results = tmp_path / "results.jsonl"
    results.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / f"merged.{suffix}"
    result = CliRunner().invoke(cli, ["merge", str(batch), "-r", str(results), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "results.jsonl:4: error[too-deep] /response/body/choices/0/message/tool_calls" in result.output
    assert "3 parse error(s) (not JSON 1, too deep 2;" in result.output
    frame = merge_results(batch, results).frame
    errors = dict(zip(frame["custom_id"], frame["parse_error"], strict=True))
    assert errors["r1"] is None
    assert (
        errors["r2"]
        == errors["r3"]
        == "the answer nests arrays and objects more than 128 levels deep; not read"
    )
    assert errors["r4"] == "not JSON: the answer is empty"  # its tool calls were left empty, with the finding
    # arguments given as a JSON value rather than text, as some servers write them
    value = json.loads(deep)
    calls = json.dumps([{"function": {"name": "f", "arguments": value}}])
    assert "128 levels deep" in AnswerParser().row(SCHEMA, None, calls, "stop", "f")["parse_error"]
