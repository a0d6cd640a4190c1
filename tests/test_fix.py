import io
import json
import subprocess
import sys

import pytest

from batchkit.errors import InputError, UsageError
from batchkit.validate import fix_file, validate_file


def line(custom_id: str, content: str = "hi", model: str = "m") -> str:
    return json.dumps(
        {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": content}]},
        }
    )


def changes(result) -> list[tuple[int | None, int | None, str]]:
    return [(c.line, c.end_line, c.message) for c in result.changes]


def test_bom_crlf_and_blank_lines(tmp_path):
    source = tmp_path / "in.jsonl"
    raw = "\ufeff" + line("a") + "\r\n" + line("b") + "\r\n\r\n   \n" + line("c") + "\r\n"
    source.write_bytes(raw.encode())
    before = source.read_bytes()
    result = fix_file(source, tmp_path / "out.jsonl")
    assert changes(result) == [
        (1, None, "byte-order mark removed"),
        (1, 3, "CRLF line end changed to LF"),
        (3, 4, "blank line dropped"),
        (5, 5, "CRLF line end changed to LF"),
    ]
    assert (tmp_path / "out.jsonl").read_text() == "\n".join([line("a"), line("b"), line("c")]) + "\n"
    assert source.read_bytes() == before  # the input is never touched
    assert result.report.valid and result.lines_in == 5 and result.lines_out == 3


def test_json_array_file_becomes_lines(tmp_path):
    source = tmp_path / "in.json"
    objects = [json.loads(line("a")), json.loads(line("b"))]
    source.write_text(json.dumps(objects, indent=2))
    assert not validate_file(source).valid
    result = fix_file(source, tmp_path / "out.jsonl")
    assert len(result.changes) == 1 and result.changes[0].line == 1
    assert "JSON array of 2 objects" in result.changes[0].message
    assert [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()] == objects
    assert result.report.valid


def test_indented_objects_become_lines_as_jq_dash_c_writes_them(tmp_path):
    """`jq . batch.jsonl > pretty.json` undone: validate says so once, fix writes one object per line."""
    source = tmp_path / "pretty.json"
    objects = [json.loads(line(i, content=f"x}}\n{i}")) for i in "abc"]
    schema = {"type": "object", "properties": {"a": {"type": "string", "description": "}"}}}
    objects[1]["body"]["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": schema},
    }
    compact = json.dumps(objects[2])  # a whole object on one line between indented ones is read too
    source.write_text(
        json.dumps(objects[0], indent=2) + "\n\n" + json.dumps(objects[1], indent=4) + "\n" + compact + "\n"
    )
    before = source.read_bytes()
    validated = subprocess.run(
        [sys.executable, "-m", "batchkit", "validate", source], capture_output=True, text=True
    )
    assert validated.returncode == 1 and validated.stdout.count("json-objects-spread") == 1, validated.stdout
    assert "invalid-json" not in validated.stdout
    out = tmp_path / "out.jsonl"
    fixed = subprocess.run(
        [sys.executable, "-m", "batchkit", "fix", source, "-o", out], capture_output=True, text=True
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert [json.loads(x) for x in out.read_text().splitlines()] == objects
    assert source.read_bytes() == before
    result = fix_file(source, tmp_path / "again.jsonl")
    assert [(c.line, c.message) for c in result.changes] == [
        (1, "3 objects spread over lines written as one line each")
    ]
    assert result.report.valid and result.lines_out == 3


def test_a_broken_indented_object_is_an_error(tmp_path):
    source = tmp_path / "pretty.json"
    pretty = json.dumps(json.loads(line("a")), indent=2)
    source.write_text(pretty + '\n{\n  "custom_id": "b",\n')
    start = len(pretty.splitlines()) + 1
    with pytest.raises(InputError, match=f"the JSON object starting on line {start} is not valid JSON"):
        fix_file(source, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_one_line_holding_an_array_is_split(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(line("a") + "\n[" + line("b") + ", " + line("c") + "]\n")
    result = fix_file(source, tmp_path / "out.jsonl")
    assert changes(result) == [(2, None, "JSON array of 2 objects split into one line each")]
    out = [json.loads(x)["custom_id"] for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out == ["a", "b", "c"]


def test_broken_json_array_is_an_error(tmp_path):
    source = tmp_path / "in.json"
    source.write_text('[\n{"custom_id": "a"},\n')
    with pytest.raises(InputError, match="line 1 is not valid JSON"):
        fix_file(source, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists()


def test_dedupe_ids_renames_repeats_without_taking_existing_ids(tmp_path):
    source = tmp_path / "in.jsonl"
    ids = ["request-1", "request-1", "request-1~2", "request-1", "request-2", "request-2"]
    source.write_text("\n".join(line(i, content=str(n)) for n, i in enumerate(ids)) + "\n")
    result = fix_file(source, tmp_path / "out.jsonl", dedupe_ids=True)
    out = [json.loads(x)["custom_id"] for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out == ["request-1", "request-1~3", "request-1~2", "request-1~4", "request-2", "request-2~2"]
    assert changes(result) == [
        (2, None, "custom_id 'request-1' renamed 'request-1~3' (first used on line 1)"),
        (4, None, "custom_id 'request-1' renamed 'request-1~4' (first used on line 1)"),
        (6, None, "custom_id 'request-2' renamed 'request-2~2' (first used on line 5)"),
    ]
    assert result.report.valid
    # Lines that keep their id are copied byte for byte.
    assert (tmp_path / "out.jsonl").read_text().splitlines()[0] == line("request-1", content="0")


def test_dedupe_ids_gives_ids_the_providers_rule_takes(tmp_path):
    """Anthropic's custom_id is letters, digits, `-` and `_`: `ID~2` would be refused, so the repeat is
    renamed `ID-2` (never an id the file has), and the repaired file is valid for Anthropic."""
    source = tmp_path / "claude.jsonl"
    params = {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}],
    }
    ids = ["q1", "q1", "q1-2", "q1"]
    source.write_text("".join(json.dumps({"custom_id": i, "params": params}) + "\n" for i in ids))
    assert not validate_file(source).valid
    result = fix_file(source, tmp_path / "out.jsonl", dedupe_ids=True)
    out = [json.loads(x)["custom_id"] for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert out == ["q1", "q1-3", "q1-2", "q1-4"]
    assert result.report.provider == "anthropic" and result.report.valid, result.report.findings


def test_seed_curl_example_is_repaired_by_dedupe(tmp_path):
    source = tmp_path / "seed.jsonl"
    source.write_text("\n".join(line("request-1", model=m) for m in ("a", "b", "c")) + "\n")
    assert not validate_file(source).valid
    result = fix_file(source, tmp_path / "fixed.jsonl", dedupe_ids=True)
    assert result.report.valid and len(result.changes) == 2


def test_drop_duplicates_then_dedupe(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join([line("a"), line("b"), line("a"), line("a", content="other")]) + "\n")
    result = fix_file(source, tmp_path / "out.jsonl", drop_duplicates=True, dedupe_ids=True)
    assert changes(result) == [
        (3, None, "dropped: identical to line 1"),
        (4, None, "custom_id 'a' renamed 'a~2' (first used on line 1)"),
    ]
    assert result.lines_out == 3 and result.report.valid


def test_never_writes_over_the_input_unless_in_place(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(line("a") + "\r\n")
    with pytest.raises(UsageError, match="pass in_place=True to write over it"):
        fix_file(source, source)
    with pytest.raises(UsageError, match=r"give output=OUT \(or in_place=True"):
        fix_file(source)
    assert source.read_bytes().endswith(b"\r\n")
    result = fix_file(source, in_place=True)
    assert result.path == source and source.read_text() == line("a") + "\n"


def test_what_cannot_be_repaired_is_reported(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(line("a") + "\n{not json\n" + line("a") + "\n")
    result = fix_file(source, tmp_path / "out.jsonl")
    assert result.changes == []
    assert {(f.code, f.line) for f in result.report.findings} == {
        ("invalid-json", 2),
        ("duplicate-custom-id", 3),
    }
    assert (tmp_path / "out.jsonl").read_text() == source.read_text()


def test_writes_to_a_stream(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("\n" + line("a") + "\n")
    sink = io.BytesIO()
    result = fix_file(source, sink)
    assert sink.getvalue() == (line("a") + "\n").encode()
    assert result.path is None and result.changes[0].line == 1


def test_fix_streams_standard_input_with_deduped_ids_and_duplicate_objects_of_one_array(tmp_path):
    import io

    import orjson

    from batchkit.validate import fix_file

    one = {"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
           "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}}  # fmt: skip
    other = dict(one, custom_id="a~2")
    source = io.BytesIO(orjson.dumps([one, one, dict(one, body={**one["body"], "n": 2}), other]) + b"\n")
    out = tmp_path / "fixed.jsonl"
    result = fix_file(source, out, dedupe_ids=True, drop_duplicates=True)
    ids = [orjson.loads(line)["custom_id"] for line in out.read_bytes().splitlines()]
    assert ids == ["a", "a~3", "a~2"]  # the copy of `a` dropped; the renamed repeat skips the later a~2
    assert [c.message for c in result.changes if "dropped" in c.message] == ["dropped: identical to line 1"]
    assert result.lines_out == 3


def test_counts_are_singular_for_one(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("[" + line("a") + "]\n")
    result = fix_file(source, tmp_path / "out.jsonl")
    assert changes(result) == [(1, None, "JSON array of 1 object split into one line each")]


def test_a_read_only_folder_is_an_input_error_and_the_input_is_kept(tmp_path):
    from readonly import read_only

    folder = tmp_path / "ro"
    folder.mkdir()
    source = folder / "in.jsonl"
    source.write_bytes(line("a").encode() + b"\r\n")
    with read_only(folder):
        with pytest.raises(InputError, match="cannot write out.jsonl there"):
            fix_file(source, folder / "out.jsonl")
        with pytest.raises(InputError, match="cannot write in.jsonl there"):
            fix_file(source, in_place=True)
    assert sorted(p.name for p in folder.iterdir()) == ["in.jsonl"]
    assert source.read_bytes() == line("a").encode() + b"\r\n"
