import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from readonly import read_only

from batchkit.batchfile import (
    ShardWriter,
    manifest_path,
    read_manifest,
    shard_path,
    split_file,
    write_batch,
    write_numbered,
)
from batchkit.errors import InputError, UsageError, ValidationFailed
from batchkit.lines import MAX_LINE_BYTES, dumps_line


def request(i: int, text: str = "hello") -> dict:
    return {
        "custom_id": f"request-{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "m", "messages": [{"role": "user", "content": f"{text} {i}"}]},
    }


def ids(paths) -> list[str]:
    return [json.loads(line)["custom_id"] for p in paths for line in p.read_text().splitlines()]


def test_shard_names():
    assert shard_path("out/batch.jsonl", 1).as_posix() == "out/batch-00001.jsonl"
    assert shard_path("batch", 12).as_posix() == "batch-00012"


def test_one_file_when_everything_fits(tmp_path):
    path = tmp_path / "b.jsonl"
    assert write_batch([request(i) for i in range(5)], path, max_requests=5) == [path]
    assert ids([path]) == [f"request-{i}" for i in range(5)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.jsonl.manifest.json", "b.jsonl"]


@pytest.mark.parametrize(
    ("count", "limit", "expected"), [(6, 3, [3, 3]), (7, 3, [3, 3, 1]), (4, 1, [1, 1, 1, 1])]
)
def test_sharding_by_count(tmp_path, count, limit, expected):
    result = write_numbered(
        enumerate((request(i) for i in range(count)), 1), tmp_path / "b.jsonl", max_requests=limit
    )
    assert result.shard_requests == expected
    assert [p.name for p in result.paths] == [f"b-{i:05d}.jsonl" for i in range(1, len(expected) + 1)]
    assert ids(result.paths) == [f"request-{i}" for i in range(count)]
    assert not (tmp_path / "b.jsonl").exists()


def test_sharding_by_bytes_exact_boundary(tmp_path):
    lines = [dumps_line(request(i)) for i in range(10)]
    size = len(lines[0])
    assert all(len(line) == size for line in lines)  # ids 0-9 have the same width
    result = write_numbered(enumerate(lines, 1), tmp_path / "b.jsonl", max_bytes=3 * size)
    assert result.shard_requests == [3, 3, 3, 1]
    assert [p.stat().st_size for p in result.paths] == [3 * size, 3 * size, 3 * size, size]
    result = write_numbered(enumerate(lines, 1), tmp_path / "c.jsonl", max_bytes=3 * size - 1)
    assert result.shard_requests == [2, 2, 2, 2, 2]
    assert b"".join(p.read_bytes() for p in result.paths) == b"".join(lines)


def test_provider_limits_apply_and_size_text_is_read(tmp_path):
    # openai: 50,000 requests per file; --max-bytes accepts "1kB".
    result = write_numbered(
        enumerate((request(i) for i in range(20)), 1), tmp_path / "b.jsonl", "openai", max_bytes="1kB"
    )
    assert all(size <= 1000 for size in result.shard_bytes) and len(result.paths) > 1
    assert sum(result.shard_requests) == 20


def test_a_line_larger_than_the_byte_limit_is_an_error_and_nothing_is_written(tmp_path):
    lines = [request(1), request(2, "x" * 500), request(3)]
    with pytest.raises(InputError, match="line 2 is .* more than the per-file limit"):
        write_batch(lines, tmp_path / "b.jsonl", max_bytes=300)
    assert list(tmp_path.iterdir()) == []


def test_invalid_batch_writes_nothing_unless_forced(tmp_path):
    bad = [request(1), {"custom_id": "x", "method": "GET", "url": "/v1/chat/completions", "body": {}}]
    with pytest.raises(ValidationFailed) as caught:
        write_batch(bad, tmp_path / "b.jsonl", max_requests=1)
    assert caught.value.report.summary.errors >= 1
    assert list(tmp_path.iterdir()) == []
    paths = write_batch(bad, tmp_path / "b.jsonl", max_requests=1, force=True)
    assert len(paths) == 2


def test_raw_lines_are_written_byte_for_byte_and_validated(tmp_path):
    raw = [
        b'{"custom_id": "a",  "method": "POST", "url": "/v1/chat/completions", '
        b'"body": {"model": "m", "messages": [{"role": "user", "content": "\\u00e9"}]}}',
        '{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}}\n',
    ]
    with pytest.raises(ValidationFailed) as caught:
        write_batch(raw, tmp_path / "b.jsonl")
    assert [(f.line, f.path) for f in caught.value.report.findings if f.is_error] == [(2, "/body/messages")]
    (path,) = write_batch(raw, tmp_path / "b.jsonl", force=True)
    assert path.read_bytes() == raw[0] + b"\n" + raw[1].encode()


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_stale_shards_of_an_earlier_run_are_removed(tmp_path):
    out = tmp_path / "b.jsonl"
    write_batch([request(i) for i in range(5)], out, max_requests=1)
    assert len(list(tmp_path.glob("b-*.jsonl"))) == 5
    (tmp_path / "b-notes.jsonl").write_text("keep me")
    assert write_batch([request(i) for i in range(4)], out, max_requests=2) == [
        shard_path(out, 1),
        shard_path(out, 2),
    ]
    assert names(tmp_path) == ["b-00001.jsonl", "b-00002.jsonl", "b-notes.jsonl"]
    assert write_batch([request(1)], out) == [out]
    assert names(tmp_path) == ["b-notes.jsonl", "b.jsonl"]


def test_files_merely_named_like_shards_are_never_removed(tmp_path):
    # A user's answers-20240.jsonl beside answers.jsonl once vanished with the stale shards.
    out = tmp_path / "answers.jsonl"
    theirs = tmp_path / "answers-20240.jsonl"
    theirs.write_text("the user's own file\n")
    result = write_numbered(enumerate((request(i) for i in range(5)), 1), out, max_requests=2)
    assert [p.name for p in result.paths] == [
        "answers-00001.jsonl",
        "answers-00002.jsonl",
        "answers-00003.jsonl",
    ]
    assert result.left == [theirs]
    result = write_numbered(enumerate([request(1)], 1), out)
    assert result.paths == [out] and result.left == [theirs]
    assert theirs.read_text() == "the user's own file\n"
    assert names(tmp_path) == ["answers-20240.jsonl", "answers.jsonl"]


def test_a_manifest_from_elsewhere_deletes_nothing(tmp_path):
    out = tmp_path / "b.jsonl"
    write_batch([request(i) for i in range(3)], out, max_requests=1)
    # Copied from another output, or hand-made: it names this folder's files but not this output.
    manifest_path(tmp_path / "c.jsonl").write_bytes(manifest_path(out).read_bytes())
    (tmp_path / "c-00002.jsonl").write_text("mine\n")
    assert write_batch([request(1)], tmp_path / "c.jsonl") == [tmp_path / "c.jsonl"]
    assert (tmp_path / "c-00002.jsonl").read_text() == "mine\n"
    # A manifest cannot point outside its output's shards.
    manifest_path(out).write_text(
        '{"kind": "batchkit-shards", "output": "b.jsonl", "files": [{"name": "../x"}, {"name": "b.jsonl"}]}'
    )
    assert read_manifest(out).names == set()


def test_a_shard_name_held_by_a_foreign_file_is_refused_before_writing(tmp_path):
    out = tmp_path / "b.jsonl"
    theirs = shard_path(out, 2)
    theirs.write_text("not a shard\n")
    with pytest.raises(InputError, match="b-00002.jsonl already exists and batchkit did not write it"):
        write_batch([request(i) for i in range(5)], out, max_requests=2)
    assert names(tmp_path) == ["b-00002.jsonl"] and theirs.read_text() == "not a shard\n"
    assert write_batch([request(i) for i in range(2)], out, max_requests=2) == [out]  # one file: no clash


def test_the_manifest_records_files_requests_and_bytes(tmp_path):
    out = tmp_path / "b.jsonl"
    result = write_numbered(enumerate((request(i) for i in range(5)), 1), out, max_requests=2)
    recorded = json.loads(manifest_path(out).read_text())
    assert recorded["output"] == "b.jsonl" and recorded["requests"] == 5
    assert recorded["bytes"] == sum(p.stat().st_size for p in result.paths)
    assert [(f["name"], f["requests"], f["bytes"]) for f in recorded["files"]] == [
        (p.name, n, p.stat().st_size) for p, n in zip(result.paths, [2, 2, 1], strict=True)
    ]


def test_a_read_only_folder_is_an_input_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    with read_only(folder), pytest.raises(InputError, match="cannot write b.jsonl there"):
        write_batch([request(1)], folder / "b.jsonl")
    assert list(folder.iterdir()) == []


def test_deterministic_bytes(tmp_path):
    first = write_batch([request(i) for i in range(9)], tmp_path / "a.jsonl", max_requests=4)
    second = write_batch([request(i) for i in range(9)], tmp_path / "b.jsonl", max_requests=4)
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]


def test_bad_limits_and_targets(tmp_path):
    with pytest.raises(UsageError):
        ShardWriter(tmp_path / "b.jsonl", max_requests=0)
    with pytest.raises(UsageError):
        ShardWriter("-")
    with pytest.raises(InputError, match="no such folder"):
        ShardWriter(tmp_path / "nope" / "b.jsonl")
    with pytest.raises(TypeError):
        write_batch([42], tmp_path / "b.jsonl")


def test_generated_files_have_ordinary_permissions(tmp_path):
    (path,) = write_batch([request(1)], tmp_path / "b.jsonl")
    assert path.stat().st_mode & 0o044  # readable by group/others under the usual umask


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=120), min_size=1, max_size=40),
    max_requests=st.one_of(st.none(), st.integers(min_value=1, max_value=10)),
    max_bytes=st.one_of(st.none(), st.integers(min_value=200, max_value=1500)),
)
def test_sharding_invariants(tmp_path_factory, sizes, max_requests, max_bytes):
    folder = tmp_path_factory.mktemp("shards")
    lines = [dumps_line(request(i, "y" * size)) for i, size in enumerate(sizes)]
    target = folder / "b.jsonl"
    if max_bytes is not None and max(map(len, lines)) > max_bytes:
        with pytest.raises(InputError):
            write_numbered(enumerate(lines, 1), target, max_requests=max_requests, max_bytes=max_bytes)
        assert list(folder.iterdir()) == []
        return
    result = write_numbered(
        enumerate(lines, 1), target, max_requests=max_requests, max_bytes=max_bytes, validate=False
    )
    data = [p.read_bytes() for p in result.paths]
    assert b"".join(data) == b"".join(lines)  # nothing lost, reordered or split
    for chunk in data:
        assert chunk.endswith(b"\n")
        assert max_requests is None or chunk.count(b"\n") <= max_requests
        assert max_bytes is None or len(chunk) <= max_bytes
    # Greedy: a shard is closed only when the next line would not fit in it.
    for chunk, following in zip(data, data[1:], strict=False):
        next_line = following.split(b"\n", 1)[0] + b"\n"
        assert (max_requests is not None and chunk.count(b"\n") == max_requests) or (
            max_bytes is not None and len(chunk) + len(next_line) > max_bytes
        )
    assert len(set(ids(result.paths))) == len(lines)
    assert (len(result.paths) == 1) == (result.paths == [folder / "b.jsonl"])


def test_split_file(tmp_path):
    source = tmp_path / "big.jsonl"
    source.write_bytes(
        b"\xef\xbb\xbf" + b"".join(dumps_line(request(i)) for i in range(7)).replace(b"\n", b"\r\n") + b"\n\n"
    )
    result = split_file(source, max_requests=3)
    assert [p.name for p in result.paths] == ["big-00001.jsonl", "big-00002.jsonl", "big-00003.jsonl"]
    assert ids(result.paths) == [f"request-{i}" for i in range(7)]
    assert result.paths[0].read_bytes().startswith(b'{"custom_id"')  # no byte-order mark carried over
    assert b"\r" not in b"".join(p.read_bytes() for p in result.paths)
    before = source.read_bytes()
    fits = split_file(source, max_requests=100)
    assert fits.paths == [] and fits.requests == 7
    assert source.read_bytes() == before
    copy = split_file(source, tmp_path / "copy.jsonl", max_requests=100)
    assert copy.paths == [tmp_path / "copy.jsonl"]


def test_split_refuses_an_invalid_file(tmp_path):
    source = tmp_path / "b.jsonl"
    source.write_text('{"custom_id": "a"}\nnot json\n')
    with pytest.raises(ValidationFailed) as caught:
        split_file(source, max_requests=1)
    assert {f.line for f in caught.value.report.findings} == {1, 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.jsonl"]


@pytest.mark.parametrize("force", [False, True])
def test_split_refuses_a_line_over_the_byte_limit_as_build_does(tmp_path, force):
    source = tmp_path / "b.jsonl"
    source.write_bytes(dumps_line(request(1, "x" * 200)) + dumps_line(request(2)))
    with pytest.raises(InputError, match="line 1 is 336 bytes, more than the per-file limit of 100 bytes"):
        split_file(source, tmp_path / "s.jsonl", max_bytes=100, force=force)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.jsonl"]


def test_split_never_loses_a_line_too_long_to_hold_even_when_forced(tmp_path):
    source = tmp_path / "b.jsonl"
    with open(source, "wb") as f:
        f.write(
            dumps_line(request(1)) + dumps_line(request(2, "y" * MAX_LINE_BYTES)) + dumps_line(request(3))
        )
    with pytest.raises(ValidationFailed) as refused:  # unforced: the finding, and nothing written
        split_file(source, tmp_path / "s.jsonl", max_requests=1)
    (finding,) = refused.value.report.findings
    assert (
        finding.code == "line-too-long"
        and finding.line == 2
        and "batchkit reads in one line" in finding.message
    )
    with pytest.raises(
        InputError, match="line 2 has .* bytes, more than the .* batchkit reads in one line: it cannot"
    ):
        split_file(source, tmp_path / "s.jsonl", max_requests=1, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.jsonl"]


def test_ints_wider_than_64_bits_are_findings_not_crashes(tmp_path):
    huge = request(1)
    huge["body"]["temperature"] = 2**70
    with pytest.raises(ValidationFailed) as caught:
        write_batch([huge], tmp_path / "b.jsonl")
    assert [(f.code, f.path) for f in caught.value.report.findings] == [("out-of-range", "/body/temperature")]
    huge["body"] = {**request(1)["body"], "max_tokens": 2**70}
    (path,) = write_batch([huge], tmp_path / "b.jsonl")
    assert json.loads(path.read_text())["body"]["max_tokens"] == 2**70
    with pytest.raises(TypeError):
        write_batch([{1: object()}], tmp_path / "c.jsonl")
