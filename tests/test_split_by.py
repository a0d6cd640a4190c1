"""`split --by model|endpoint`: one file per model or endpoint, each valid for a one-model provider."""

import orjson
from click.testing import CliRunner

from batchkit import validate_file
from batchkit.batchfile import split_by
from batchkit.cli import cli

MODELS = [
    "gpt-4o-mini",
    "gpt-4.1",
    "meta-llama/Llama-3.1-8B-Instruct",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4o-mini",
]


def line(i, model, url="/v1/chat/completions"):
    body = {"model": model, "messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 10}
    if url == "/v1/embeddings":
        body = {"model": model, "input": f"text {i}"}
    return orjson.dumps({"custom_id": f"r{i}", "method": "POST", "url": url, "body": body}) + b"\n"


def mixed(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"".join(line(i, m) for i, m in enumerate(MODELS)))
    return path


def test_one_file_per_model_each_valid_for_openai(tmp_path):
    path = mixed(tmp_path)
    assert not validate_file(path, "openai").valid  # mixed models: what the split is for
    result = split_by(path, "model", provider="openai")
    assert [p.name for p in result.paths] == [
        "batch.gpt-4o-mini.jsonl", "batch.gpt-4.1.jsonl", "batch.meta-llama_Llama-3.1-8B-Instruct.jsonl"]  # fmt: skip
    lines = path.read_bytes().splitlines(keepends=True)
    assert result.paths[0].read_bytes() == lines[0] + lines[3] + lines[5]  # byte for byte, in order
    assert result.paths[1].read_bytes() == lines[1] + lines[4]
    assert sum(len(p.read_bytes().splitlines()) for p in result.paths) == len(MODELS)
    for p in result.paths[:2]:
        assert validate_file(p, "openai").valid, p


def test_a_model_id_too_long_for_a_file_name_is_cut_with_a_hash_and_every_group_written(tmp_path):
    long = "ft:gpt-4o-mini:" + "o" * 300  # a fine-tuned model's id can be longer than a file name may be
    models = ["gpt-4o-mini", long + ":a", long + ":b"]
    path = tmp_path / "batch.jsonl"
    path.write_bytes(b"".join(line(i, m) for i, m in enumerate(models)))
    result = split_by(path, "model", provider="openai", max_requests=1)
    names = [p.name for p in result.paths]
    assert len(names) == 3 and len(set(names)) == 3 and all(len(n.encode()) <= 120 for n in names), names
    assert sorted(orjson.loads(p.read_bytes())["body"]["model"] for p in result.paths) == sorted(models)


def test_a_group_over_the_limit_is_sharded(tmp_path):
    (tmp_path / "out").mkdir()
    result = split_by(mixed(tmp_path), "model", tmp_path / "out" / "b.jsonl", "openai", max_requests=2)
    assert [p.name for p in result.paths] == [
        "b.gpt-4o-mini-00001.jsonl", "b.gpt-4o-mini-00002.jsonl", "b.gpt-4.1.jsonl",
        "b.meta-llama_Llama-3.1-8B-Instruct.jsonl"]  # fmt: skip
    assert result.groups["gpt-4o-mini"].shard_requests == [2, 1]


def test_by_endpoint(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_bytes(line(1, "gpt-4o-mini") + line(2, "text-embedding-3-small", "/v1/embeddings"))
    result = split_by(path, "endpoint", provider="openai")
    assert [p.name for p in result.paths] == ["batch.v1_chat_completions.jsonl", "batch.v1_embeddings.jsonl"]


def test_cli_split_by_model_and_an_invalid_file_writes_nothing(tmp_path):
    path = mixed(tmp_path)
    result = CliRunner().invoke(cli, ["split", str(path), "--by", "model", "-p", "openai"])
    assert result.exit_code == 0, result.output
    assert "by model: 6 requests into 3 files" in result.output
    assert "batch.gpt-4.1.jsonl  gpt-4.1  2 requests" in result.output
    broken = tmp_path / "broken" / "b.jsonl"
    broken.parent.mkdir()
    broken.write_bytes(path.read_bytes() + b"{not json\n")
    result = CliRunner().invoke(cli, ["split", str(broken), "--by", "model", "-p", "openai"])
    assert result.exit_code == 1 and "invalid-json" in result.output
    assert sorted(p.name for p in broken.parent.iterdir()) == ["b.jsonl"]


def test_a_group_named_as_the_input_is_refused_before_any_group_is_written(tmp_path):
    """`x.b.jsonl --by model -o x.jsonl`: model b's file would be the input itself; writing it first lost
    the other groups' requests (each group reads the input again), exit 0."""
    source = tmp_path / "x.b.jsonl"
    source.write_bytes(b"".join(line(i, "abc"[i % 3]) for i in range(6)))
    before = source.read_bytes()
    result = CliRunner().invoke(cli, ["split", str(source), "--by", "model", "-o", str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2 and "is an input of this command" in result.output, result.output
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.b.jsonl"]


def test_a_group_the_source_no_longer_has_is_removed_by_the_next_split(tmp_path):
    """A split again after a model left the source: its group file (and a group's shards) went on lying
    beside the new ones, and `submit batch.*.jsonl` sent requests no longer in the source."""
    path = mixed(tmp_path)
    split_by(path, "model", max_requests=2)
    assert (tmp_path / "batch.gpt-4o-mini-00002.jsonl").exists()
    kept = [line(i, m) for i, m in enumerate(MODELS) if m == "gpt-4.1"]
    path.write_bytes(b"".join(kept))
    (tmp_path / "batch.notes.jsonl").write_text("mine\n")  # named like a group, but no group: kept
    result = CliRunner().invoke(cli, ["split", str(path), "--by", "model", "--max-requests", "2"])
    assert result.exit_code == 0, result.output
    assert "removed: " in result.output and "not in" in result.output
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert left == ["batch.gpt-4.1.jsonl", "batch.jsonl", "batch.notes.jsonl"]
    assert (tmp_path / "batch.gpt-4.1.jsonl").read_bytes() == b"".join(kept)
