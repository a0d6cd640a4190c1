import json

import orjson
import pandas as pd
import pytest

import batchkit
from batchkit.build import (
    Builder,
    BuildStats,
    build_file,
    make_id,
    parse_params,
    row_number_from_id,
    text_argument,
)
from batchkit.build.builder import ID_FORMAT
from batchkit.build.templates import Template
from batchkit.errors import InputError, UsageError, ValidationFailed
from batchkit.tables import write_table

SEED_TASKS = [
    {
        "custom_id": "request-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "meta-llama/Meta-Llama-3.1-8B-Instruct",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is the capital of Argentina?"},
            ],
            "max_tokens": 1000,
        },
    },
    {
        "custom_id": "request-2",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "meta-llama/Meta-Llama-3.1-70B-Instruct",
            "messages": [
                {"role": "system", "content": "You are an experienced maths tutor."},
                {"role": "user", "content": "Explain the Pythagorean theorem to a 10 year old child."},
            ],
            "max_tokens": 1000,
        },
    },
    {
        "custom_id": "request-3",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "meta-llama/Meta-Llama-3.1-405B-Instruct",
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is the distance between the Earth and the Moon."},
            ],
            "max_tokens": 1000,
        },
    },
]


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_seed_python_example_is_two_lines(tmp_path):
    path = tmp_path / "batch_tasks.jsonl"
    program = f"import batchkit\nbatchkit.write_batch(tasks, {str(path)!r})\n"
    assert program.count("\n") == 2
    exec(program, {"tasks": SEED_TASKS})  # the seed's json.dumps loop, as two lines
    assert lines(path) == SEED_TASKS


def test_seed_tasks_built_from_rows_with_the_api(tmp_path):
    rows = [
        {
            "model": t["body"]["model"],
            "system": t["body"]["messages"][0]["content"],
            "question": t["body"]["messages"][1]["content"],
        }
        for t in SEED_TASKS
    ]
    requests = batchkit.build_requests(
        rows,
        model_column="model",
        system="{system}",
        user="{question}",
        params={"max_tokens": 1000},
        id_prefix="request-",
    )
    assert list(requests) == SEED_TASKS


def test_seed_curl_example_with_repeated_ids_is_refused(tmp_path):
    repeated = [dict(t, custom_id="request-1") for t in SEED_TASKS]
    with pytest.raises(ValidationFailed) as caught:
        batchkit.write_batch(repeated, tmp_path / "b.jsonl")
    assert [(f.code, f.line, f.related_lines) for f in caught.value.report.findings] == [
        ("duplicate-custom-id", 2, (1,)),
        ("duplicate-custom-id", 3, (1,)),
    ]
    assert list(tmp_path.iterdir()) == []


HARD_TEXTS = [
    'She said "hi", then left',
    "line one\nline two",
    "tab\there",
    "emoji 🚀🧪 and é",
    "עברית: מה שלומך? / العربية: كيف حالك؟",
    "long " + "x" * 20_000,
    "{not a placeholder}",
]


@pytest.fixture
def hard_frame():
    return pd.DataFrame(
        {
            "id": [f"{i:03d}" for i in range(1, len(HARD_TEXTS) + 1)],
            "question": HARD_TEXTS,
            "n": list(range(1, len(HARD_TEXTS) + 1)),
            "score": [0.5, 1.25, 2.5, 0.125, 3.75, 10.5, 99.5],
        }
    )


@pytest.mark.parametrize("id_column", [None, "id"])
def test_same_table_in_every_format_builds_byte_identical_files(tmp_path, hard_frame, id_column):
    options = dict(
        model="m",
        system="Answer briefly.",
        user="Q{n} ({score}): {question}",
        params={"max_tokens": 100},
        id_column=id_column,
    )
    outputs = {}
    for ext in ("csv", "tsv", "xlsx", "parquet", "jsonl", "json"):
        table = tmp_path / f"questions.{ext}"
        write_table(hard_frame, table)
        out = tmp_path / f"{ext}.batch.jsonl"
        result = build_file(table, out, **options)
        assert result.paths == [out]
        outputs[ext] = out.read_bytes()
    assert len(set(outputs.values())) == 1, {k: v[:200] for k, v in outputs.items()}
    built = [orjson.loads(line) for line in outputs["csv"].splitlines()]
    assert [r["body"]["messages"][1]["content"] for r in built] == [
        f"Q{i} ({s}): {t}" for i, s, t in zip(hard_frame["n"], hard_frame["score"], HARD_TEXTS, strict=True)
    ]
    assert built[0]["custom_id"] == ("001" if id_column else "row-1")
    assert built[0]["body"]["messages"][1]["content"].startswith("Q1 (0.5): ")  # not "Q1.0"


def test_rebuilding_gives_the_same_bytes_and_stable_ids(tmp_path, hard_frame):
    table = tmp_path / "t.csv"
    write_table(hard_frame, table)
    first = build_file(table, tmp_path / "a.jsonl", model="m", user="{question}")
    second = build_file(table, tmp_path / "b.jsonl", model="m", user="{question}")
    assert first.paths[0].read_bytes() == second.paths[0].read_bytes()
    ids = [r["custom_id"] for r in lines(first.paths[0])]
    assert ids == [make_id(i) for i in range(1, len(HARD_TEXTS) + 1)]
    assert [row_number_from_id(i) for i in ids] == list(range(1, len(HARD_TEXTS) + 1))


def test_integer_column_with_gaps_keeps_whole_numbers(tmp_path):
    frame = pd.DataFrame({"q": ["a", "b", "c"], "n": pd.array([3, None, 12], dtype="Int64")})
    for ext in ("csv", "parquet", "jsonl", "xlsx"):
        table = tmp_path / f"t.{ext}"
        write_table(frame, table)
        result = build_file(table, tmp_path / f"{ext}.jsonl", model="m", user="{q}={n}", on_empty="keep")
        texts = [r["body"]["messages"][0]["content"] for r in lines(result.paths[0])]
        assert texts == ["a=3", "b=", "c=12"], ext


def test_row_number_from_id():
    assert ID_FORMAT.format(prefix="row-", row=7) == "row-7"
    assert row_number_from_id("row-12") == 12
    assert row_number_from_id("q-12", prefix="q-") == 12
    for other in ("row-", "row-x", "row-012", "req-1", "row-1~2", None, "row-１"):
        assert row_number_from_id(other) is None


def test_missing_column_fails_before_anything_is_written(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,question,topic\n1,q,t\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(UsageError) as caught:
        build_file(table, out, model="m", user="{qestion} about {topc}")
    message = str(caught.value)
    assert "'qestion'" in message and "did you mean `question`" in message and "'topc'" in message
    assert "'id', 'question', 'topic'" in message
    assert not out.exists()
    with pytest.raises(UsageError, match="'model'"):
        build_file(table, out, model_column="model", user="{question}")


def test_repeated_ids_are_all_reported_with_their_rows(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,q\na,1\nb,2\na,3\nb,4\na,5\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(ValidationFailed) as caught:
        build_file(table, out, model="m", user="{q}", id_column="id")
    found = [(f.code, f.line, f.related_lines) for f in caught.value.report.findings]
    assert found == [
        ("duplicate-custom-id", 3, (1,)),
        ("duplicate-custom-id", 4, (2,)),
        ("duplicate-custom-id", 5, (1,)),
    ]
    assert caught.value.report.file == str(table)
    assert not out.exists()


@pytest.fixture
def gappy(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q,topic\nfirst,a\n,b\nthird,\nfourth,d\n")
    return table


def test_on_empty_error_names_every_row_and_column(tmp_path, gappy):
    out = tmp_path / "o.jsonl"
    with pytest.raises(InputError) as caught:
        build_file(gappy, out, model="m", user="{q} / {topic}")
    message = str(caught.value)
    assert "row 2 'q': empty cell" in message and "row 3 'topic': empty cell" in message
    assert (
        'choose on_empty="skip" or on_empty="keep", for every column, or for one: on_empty={"q": "keep"}'
        in message
    )
    assert "--" not in message
    assert not out.exists()


def test_on_empty_skip_leaves_rows_out_but_keeps_row_numbers(tmp_path, gappy):
    stats = BuildStats()
    result = build_file(
        gappy, tmp_path / "o.jsonl", model="m", user="{q} / {topic}", on_empty="skip", stats=stats
    )
    built = lines(result.paths[0])
    assert [r["custom_id"] for r in built] == ["row-1", "row-4"]
    assert stats.rows == 4 and stats.requests == 2
    assert dict(stats.skipped) == {"empty 'q'": 1, "empty 'topic'": 1}
    assert stats.skipped_rows == [2, 3]


def test_on_empty_keep_inserts_empty_text(tmp_path, gappy):
    result = build_file(gappy, tmp_path / "o.jsonl", model="m", user="{q} / {topic}", on_empty="keep")
    assert [r["body"]["messages"][0]["content"] for r in lines(result.paths[0])] == [
        "first / a",
        " / b",
        "third / ",
        "fourth / d",
    ]


def test_empty_id_or_model_is_never_kept(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,model,q\n1,m,a\n,m,b\n3,,c\n")
    with pytest.raises(InputError, match="row 2 'id': empty custom_id.*row 3 'model'"):
        build_file(
            table, tmp_path / "o.jsonl", model_column="model", user="{q}", id_column="id", on_empty="keep"
        )


def test_templates():
    t = Template("Q: {question} {{literal}} {first name}")
    assert t.columns == ["question", "first name"]
    assert t.render(["why?", "Ada"]) == "Q: why? {literal} Ada"
    assert Template("no fields {{}}").constant == "no fields {}"
    with pytest.raises(UsageError, match="empty placeholder"):
        Template("x {} y", "--user")
    with pytest.raises(UsageError, match="literal braces"):
        Template("x } y", "--user")
    with pytest.raises(UsageError, match="literal braces"):
        Template("x {y", "--user")


def test_params_are_json_when_they_parse():
    assert parse_params(
        ["temperature=0.2", "max_tokens=1000", 'stop=["\\n"]', "user=alice", "seed=", "x=a=b"]
    ) == {"temperature": 0.2, "max_tokens": 1000, "stop": ["\n"], "user": "alice", "seed": "", "x": "a=b"}
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_params(["temperature"])
    with pytest.raises(UsageError, match="--param temperature is given twice"):
        parse_params(["temperature=0.2", "temperature=0.9"])


def test_text_argument_reads_files(tmp_path):
    prompt = tmp_path / "system.txt"
    prompt.write_text("You are terse.\n", encoding="utf-8")
    assert text_argument(f"@{prompt}", "--system") == "You are terse."
    assert text_argument("@@handle", "--user") == "@handle"
    assert text_argument("plain", "--user") == "plain"
    with pytest.raises(InputError, match="no such file"):
        text_argument(f"@{tmp_path / 'missing.txt'}", "--system")


def test_messages_column_from_json_text_or_native_lists(tmp_path):
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "bye"},
    ]
    frame = pd.DataFrame({"conv": [json.dumps(messages)]})
    built = list(batchkit.build_requests(frame, model="m", system="Be kind.", messages_column="conv"))
    assert built[0]["body"]["messages"] == [{"role": "system", "content": "Be kind."}, *messages]
    native = list(batchkit.build_requests([{"conv": messages}], model="m", messages_column="conv"))
    assert native[0]["body"]["messages"] == messages
    with pytest.raises(InputError, match="row 2 'conv': not valid JSON"):
        list(
            batchkit.build_requests(
                [{"conv": messages}, {"conv": "[{oops"}], model="m", messages_column="conv"
            )
        )


def test_embeddings_requests():
    built = list(
        batchkit.build_requests(
            [{"text": "a cat"}],
            model="emb",
            input="passage: {text}",
            endpoint="/v1/embeddings",
            params={"dimensions": 256},
        )
    )
    assert built == [
        {
            "custom_id": "row-1",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "emb", "input": "passage: a cat", "dimensions": 256},
        }
    ]


def test_body_template_fills_any_string_for_any_endpoint(tmp_path):
    template = {
        "model": "gpt-x",
        "prompt": "Translate: {text}",
        "metadata": {"tags": ["{lang}", "fixed"]},
        "max_tokens": 5,
    }
    path = tmp_path / "body.json"
    path.write_text(json.dumps(template))
    rows = [{"text": "hola", "lang": "es"}, {"text": "ciao", "lang": "it"}]
    built = list(
        batchkit.build_requests(
            rows, body_template=path, endpoint="/v1/completions", params={"temperature": 0}
        )
    )
    assert built[1] == {
        "custom_id": "row-2",
        "method": "POST",
        "url": "/v1/completions",
        "body": {
            "model": "gpt-x",
            "prompt": "Translate: ciao",
            "metadata": {"tags": ["it", "fixed"]},
            "max_tokens": 5,
            "temperature": 0,
        },
    }
    with pytest.raises(UsageError, match="'lang'"):
        list(batchkit.build_requests([{"text": "x"}], body_template=template, endpoint="/v1/completions"))


def test_body_template_column_values_keep_their_json_type(tmp_path):
    template = {
        "model": {"$column": "model"},
        "messages": [{"role": "user", "content": "{question}"}],
        "max_tokens": {"$column": "max tokens"},
        "logprobs": {"$column": "logprobs"},
        "stop": {"$column": "stop"},
    }
    table = tmp_path / "t.csv"
    table.write_text('model,question,max tokens,logprobs,stop\nm-1,Why?,100,true,"[""\\n""]"\n')
    (built,) = batchkit.build_requests(batchkit_table(table), body_template=template)
    assert built["body"] == {
        "model": "m-1",
        "messages": [{"role": "user", "content": "Why?"}],
        "max_tokens": 100,
        "logprobs": True,
        "stop": ["\n"],
    }
    with pytest.raises(UsageError, match="'temperature'"):
        list(batchkit.build_requests([{"x": 1}], body_template={"temperature": {"$column": "temperature"}}))


def batchkit_table(path):
    from batchkit.tables import read_table

    return read_table(path, typed=False)


def test_requests_do_not_share_mutable_parameters():
    built = list(
        batchkit.build_requests([{"q": "a"}, {"q": "b"}], model="m", user="{q}", params={"stop": ["\n"]})
    )
    built[0]["body"]["stop"].append("x")
    assert built[1]["body"]["stop"] == ["\n"]


def test_option_combinations_that_make_no_sense_are_usage_errors():
    for options in (
        dict(user="{q}"),  # no model
        dict(model="m"),  # nothing to say
        dict(model="m", model_column="c", user="{q}"),
        dict(model="m", user="{q}", messages_column="c"),
        dict(model="m", user="{q}", params={"messages": []}),
        dict(model="m", endpoint="/v1/embeddings"),
        dict(model="m", endpoint="/v1/completions", user="{q}"),
        dict(model="m", user="{q}", on_empty="ignore"),
    ):
        with pytest.raises(UsageError):
            Builder(**options)


def test_build_requests_accepts_a_frame_chunks_or_dicts():
    frame = pd.DataFrame({"q": [f"q{i}" for i in range(5)]})
    expected = list(batchkit.build_requests(frame, model="m", user="{q}"))
    chunks = [frame.iloc[:2], frame.iloc[2:]]
    assert list(batchkit.build_requests(chunks, model="m", user="{q}")) == expected
    assert list(batchkit.build_requests(frame.to_dict("records"), model="m", user="{q}")) == expected
    assert [r["custom_id"] for r in expected] == [f"row-{i}" for i in range(1, 6)]
    assert list(batchkit.build_requests([], model="m", user="{q}")) == []


def test_invalid_requests_write_nothing_unless_forced(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q\na\nb\n")
    out = tmp_path / "o.jsonl"
    with pytest.raises(ValidationFailed) as caught:
        build_file(table, out, model="m", user="{q}", params={"temperature": 5})
    assert {(f.code, f.line) for f in caught.value.report.findings} == {
        ("out-of-range", 1),
        ("out-of-range", 2),
    }
    assert list(tmp_path.iterdir()) == [table]
    result = build_file(table, out, model="m", user="{q}", params={"temperature": 5}, force=True)
    assert not result.report.valid and len(lines(out)) == 2


def test_build_shards_under_provider_limits(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("q\n" + "".join(f"question {i}\n" for i in range(10)))
    result = build_file(table, tmp_path / "b.jsonl", model="m", user="{q}", max_requests=4)
    assert [p.name for p in result.paths] == ["b-00001.jsonl", "b-00002.jsonl", "b-00003.jsonl"]
    assert result.shard_requests == [4, 4, 2]
    ids = [r["custom_id"] for p in result.paths for r in lines(p)]
    assert ids == [f"row-{i}" for i in range(1, 11)]
    assert not (tmp_path / "b.jsonl").exists()


def test_openai_mixed_models_are_reported(tmp_path):
    rows = [{"model": "a", "q": "x"}, {"model": "b", "q": "y"}]
    with pytest.raises(ValidationFailed) as caught:
        batchkit.write_batch(
            batchkit.build_requests(rows, model_column="model", user="{q}"),
            tmp_path / "o.jsonl",
            provider="openai",
        )
    assert [f.code for f in caught.value.report.findings] == ["mixed-model"]


def test_findings_name_source_rows_when_rows_are_skipped(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,q\n1,a\n2,\n3,c\n4,d\n")
    with pytest.raises(ValidationFailed) as caught:
        build_file(
            table,
            tmp_path / "o.jsonl",
            model="m",
            user="{q}",
            on_empty="skip",
            params={"temperature": 9},
        )
    assert [f.line for f in caught.value.report.findings] == [1, 3, 4]  # row 2 was skipped


def test_azure_style_endpoints():
    rows = [{"text": "x"}]
    (emb,) = batchkit.build_requests(rows, model="deployment", input="{text}", endpoint="/embeddings")
    assert emb["url"] == "/embeddings" and emb["body"]["input"] == "x"
    (chat,) = batchkit.build_requests(rows, model="deployment", user="{text}", endpoint="/chat/completions")
    assert chat["url"] == "/chat/completions"


def test_the_table_is_never_overwritten(tmp_path):
    table = tmp_path / "t.jsonl"
    table.write_text('{"q": "a"}\n')
    with pytest.raises(UsageError, match="input table"):
        build_file(table, table, model="m", user="{q}")
    assert table.read_text() == '{"q": "a"}\n'


def test_template_argument_reads_escapes_but_not_in_files(tmp_path):
    from batchkit.build import template_argument

    assert template_argument(r"a\nb\tc", "--user") == "a\nb\tc"
    assert template_argument(r"literal \\n, C:\dir, \\\\", "--user") == "literal \\n, C:\\dir, \\\\"
    assert template_argument(r"@@x\n", "--user") == "@x\n"
    prompt = tmp_path / "p.txt"
    prompt.write_text("keep \\n\n", encoding="utf-8")
    assert template_argument(f"@{prompt}", "--system") == "keep \\n"
    assert template_argument(None, "--system") is None


def test_empty_policy_per_column():
    from batchkit.build import EmptyPolicy

    policy = EmptyPolicy.parse(["skip", "rating=keep", "a=b=error"])
    assert (policy.choice("rating"), policy.choice("other"), policy.choice("a=b")) == (
        "keep",
        "skip",
        "error",
    )
    assert EmptyPolicy.parse({"rating": "keep"}).choice("x") == "error"
    for bad in ("ignore", ["skip", "keep"], ["rating=maybe"], ["=keep"]):
        with pytest.raises(UsageError, match="^on_empty= "):
            EmptyPolicy.parse(bad)
    with pytest.raises(UsageError, match="an empty custom_id cannot be kept"):
        Builder(model="m", user="{q}", id_column="id", on_empty={"id": "keep"})
    with pytest.raises(UsageError, match="uses no column 'review'"):
        Builder(model="m", user="{q}", on_empty={"review": "skip"})


def test_on_empty_per_column_in_the_api(tmp_path):
    rows = [{"q": "a", "note": ""}, {"q": "", "note": "x"}, {"q": "c", "note": "y"}]
    stats = BuildStats()
    builder = Builder(model="m", user="{q}|{note}", on_empty={"note": "keep", "q": "skip"})
    built = [request for _row, request in builder.numbered(rows, stats=stats)]
    assert [r["body"]["messages"][0]["content"] for r in built] == ["a|", "c|y"]
    assert dict(stats.empty) == {"q": 1, "note": 1}
    assert dict(stats.skipped) == {"empty 'q'": 1}


def test_every_body_mode_has_columns_and_renders_a_row():
    from batchkit.build.bodies import body_mode

    chat = body_mode(model_column="m", system="S {a}", user="U {b} {a}", params={"n": 1})
    assert chat.columns == ["a", "b", "m"]
    assert chat.render(("1", "2", "gpt")) == {
        "model": "gpt",
        "messages": [{"role": "system", "content": "S 1"}, {"role": "user", "content": "U 2 1"}],
        "n": 1,
    }
    listed = body_mode(model="x", messages_column="conv")
    assert listed.columns == ["conv"] and listed.render(([{"role": "user", "content": "hi"}],))["messages"]
    emb = body_mode(model="e", input="{t}", endpoint="/v1/embeddings")
    assert emb.render(("cat",)) == {"model": "e", "input": "cat"}
    body = body_mode(
        body_template={"prompt": "{p}", "max_tokens": {"$column": "n"}}, endpoint="/v1/completions"
    )
    assert body.columns == ["p", "n"] and body.render(("hi", "7")) == {"prompt": "hi", "max_tokens": 7}
