"""The echo backend answers schema-shaped JSON, cut at max_tokens; and the whole structured round trip:
a 200-row table → build --response-schema → `batchkit serve` → submit --wait → merge with typed columns,
the rows cut at the token limit reported as truncated."""

from __future__ import annotations

import asyncio
import csv
import json

import jsonschema
from serverutil import running_server
from submitsupport import invoke

from batchkit.server.backends import EchoBackend
from batchkit.server.fake_json import fake_json

SCHEMA = {
    "type": "object",
    "properties": {
        "sentiment": {"type": "string", "enum": ["positive", "negative", "neutral"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "summary": {"type": "string"},
    },
    "required": ["sentiment", "score", "summary"],
    "additionalProperties": False,
}
RICH = {
    "type": "object",
    "properties": {
        "count": {"type": "integer", "minimum": 3, "maximum": 5},
        "flag": {"type": "boolean"},
        "note": {"type": ["string", "null"]},
        "kind": {"anyOf": [{"type": "string", "enum": ["a", "b"]}, {"type": "number"}]},
        "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 1, "maxItems": 2},
        "fixed": {"const": "v1"},
    },
    "required": ["count", "flag", "note", "kind", "items", "fixed"],
    "additionalProperties": False,
    "$defs": {"item": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}},
}
PROMPTS = [f"review number {i} of a phone that was fine" for i in range(60)]


def test_fake_json_follows_the_schema_and_is_deterministic():
    for schema in (SCHEMA, RICH):
        validator = jsonschema.Draft202012Validator(schema)
        answers = [json.loads(fake_json(schema, p)) for p in PROMPTS]
        for answer in answers:
            validator.validate(answer)
        assert fake_json(schema, PROMPTS[0]) == fake_json(schema, PROMPTS[0])
    notes = [json.loads(fake_json(RICH, p))["note"] for p in PROMPTS]
    assert None in notes and any(isinstance(n, str) for n in notes)  # nullable → null sometimes
    sentiments = {json.loads(fake_json(SCHEMA, p))["sentiment"] for p in PROMPTS}
    assert len(sentiments) > 1  # enum values chosen by a hash of the prompt
    words = set(" ".join(PROMPTS).split())
    assert set(json.loads(fake_json(SCHEMA, PROMPTS[3]))["summary"].split()) <= words


def chat(max_tokens=None, **extra):
    body = {"model": "m", "messages": [{"role": "user", "content": PROMPTS[0]}], **extra}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def test_echo_answers_json_for_a_schema_and_cuts_it_at_max_tokens():
    echo = EchoBackend()
    rf = {"type": "json_schema", "json_schema": {"name": "r", "strict": True, "schema": SCHEMA}}
    whole = asyncio.run(echo.call("/v1/chat/completions", chat(response_format=rf))).body["choices"][0]
    assert whole["finish_reason"] == "stop"
    jsonschema.validate(json.loads(whole["message"]["content"]), SCHEMA)
    cut = asyncio.run(echo.call("/v1/chat/completions", chat(3, response_format=rf))).body
    assert cut["choices"][0]["finish_reason"] == "length"
    assert len(cut["choices"][0]["message"]["content"].split()) == 3
    assert cut["usage"]["completion_tokens"] == 3
    plain = asyncio.run(echo.call("/v1/chat/completions", chat())).body["choices"][0]["message"]["content"]
    assert plain == PROMPTS[0]  # no schema: the prompt, as before
    text = {"format": {"type": "json_schema", "name": "r", "strict": True, "schema": SCHEMA}}
    responses = {"model": "m", "input": PROMPTS[1], "text": text}
    answer = asyncio.run(echo.call("/v1/responses", responses)).body
    jsonschema.validate(json.loads(answer["output"][0]["content"][0]["text"]), SCHEMA)
    many = {"type": "object", "properties": {"w": {"type": "array", "items": {"type": "string"}, "minItems": 20}},
            "required": ["w"], "additionalProperties": False}  # fmt: skip
    long_text = {"format": {**text["format"], "schema": many}}
    short = asyncio.run(
        echo.call("/v1/responses", {**responses, "text": long_text, "max_output_tokens": 16})
    ).body
    assert short["status"] == "incomplete" and short["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_200_row_table_round_trips_into_three_typed_columns(tmp_path):
    table = tmp_path / "reviews.csv"
    with table.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "review", "budget"])
        for i in range(200):
            budget = 4 if i % 10 == 7 else 200  # every tenth row is cut at the token limit
            writer.writerow(
                [f"r{i:03d}", f"Review {i}: the phone was {'great' if i % 2 else 'poor'}", budget]
            )
    schema = tmp_path / "review.json"
    schema.write_text(json.dumps({**SCHEMA, "additionalProperties": True, "required": ["sentiment"]}))
    template = tmp_path / "body.json"
    template.write_text(
        json.dumps(
            {"messages": [{"role": "user", "content": "{review}"}], "max_tokens": {"$column": "budget"}}
        )
    )
    batch = tmp_path / "reviews.jsonl"
    built = invoke("build", table, "-o", batch, "--model", "gpt-4o-mini", "--body-template", template,
                   "--id-column", "id", "--response-schema", schema, "--provider", "openai")  # fmt: skip
    assert built.returncode == 0, built.stderr
    assert "required now lists score, summary" in built.stderr  # the schema was made strict-valid
    assert invoke("validate", batch, "--provider", "openai").returncode == 0

    with running_server("--backend", "echo", data_dir=tmp_path / "server") as server:
        submitted = invoke("submit", batch, "--base-url", server.base_url, "--wait", "--interval", "0.3")
    assert submitted.returncode == 0, submitted.stderr
    output = tmp_path / "reviews.output.jsonl"

    merged = tmp_path / "answers.parquet"
    joined = invoke("merge", batch, "-r", output, "--source", table, "--id-column", "id", "-o", merged,
                    "--format", "json")  # fmt: skip
    assert joined.returncode == 0, joined.stderr
    structured = json.loads(joined.stdout)["structured"]
    assert structured == {"parsed": 180, "parse_errors": 20, "by_kind": {"truncated": 20}}

    import pandas as pd

    frame = pd.read_parquet(merged)
    assert len(frame) == 200
    answered = frame[frame["parse_error"].isna()]
    assert set(answered["answer.sentiment"]) <= {"positive", "negative", "neutral"}
    assert str(frame["answer.sentiment"].dtype) == "string"
    assert str(frame["answer.score"].dtype) == "Float64"
    assert answered["answer.score"].between(0, 1).all()
    assert answered["answer.summary"].str.len().gt(0).all()
    cut = frame[frame["parse_error"].notna()]
    assert sorted(cut["id"]) == [f"r{i:03d}" for i in range(200) if i % 10 == 7]
    assert cut["parse_error"].str.startswith("truncated at the token limit (finish_reason length)").all()
    assert (cut["finish_reason"] == "length").all()
