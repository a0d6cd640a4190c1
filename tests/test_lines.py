import io

import pytest

from batchkit.atomic import atomic_write
from batchkit.errors import InputError
from batchkit.lines import iter_lines, open_binary, read_objects


def read(data: bytes):
    findings, stats = [], {}
    objects = list(read_objects(io.BytesIO(data), findings.append, stats))
    return objects, findings, stats


def test_lf_crlf_and_missing_final_newline_give_the_same_objects():
    lf, _, _ = read(b'{"a":1}\n{"a":2}\n')
    crlf, _, _ = read(b'{"a":1}\r\n{"a":2}\r\n')
    bare, _, stats = read(b'{"a":1}\n{"a":2}')
    assert [o for _, o, _ in lf] == [o for _, o, _ in crlf] == [o for _, o, _ in bare] == [{"a": 1}, {"a": 2}]
    assert stats == {"lines": 2, "bytes": 15, "start": 8, "content": True}  # start: the last line's offset


def test_line_numbers_are_one_based_and_offsets_cumulative():
    lines = list(iter_lines(io.BytesIO(b"ab\r\ncd\nef")))
    assert lines == [(1, 4, b"ab"), (2, 7, b"cd"), (3, 9, b"ef")]


def test_reading_problems_are_reported_and_reading_goes_on():
    data = b'\xef\xbb\xbf{"a":1}\n\n{"a":\n\xff\xfe\n42\n{"a":2}\n'
    objects, findings, _ = read(data)
    assert [n for n, _, _ in objects] == [1, 6]
    assert [(f.code, f.line) for f in findings] == [
        ("byte-order-mark", 1),
        ("blank-line", 2),
        ("invalid-json", 3),
        ("invalid-encoding", 4),
        ("not-an-object", 5),
    ]
    assert "column" in findings[2].message


def test_a_pretty_printed_array_is_one_finding_not_a_cascade():
    _, findings, stats = read(b'[\n  {"a": 1},\n  {"a": 2}\n]\n')
    assert [(f.code, f.line) for f in findings] == [("json-array-file", None)]
    assert "batchkit fix" in findings[0].message
    assert stats["lines"] == 4


def test_indented_objects_one_after_another_are_one_finding_not_a_cascade():
    _, findings, stats = read(b'{\n  "a": {\n    "b": 1\n  }\n}\n{\n  "a": 2\n}\n')
    assert [(f.code, f.line) for f in findings] == [("json-objects-spread", None)]
    assert "jq ." in findings[0].message and "batchkit fix" in findings[0].message
    assert stats["lines"] == 8


def test_a_one_line_array_of_objects_says_how_to_fix_it():
    _, findings, _ = read(b'[{"a": 1}, {"a": 2}]\n')
    assert findings[0].code == "not-an-object"
    assert "array of 2 object" in findings[0].message


def test_empty_and_blank_only_files_have_no_content():
    for data in (b"", b"\n  \n"):
        objects, _, stats = read(data)
        assert objects == [] and stats["content"] is False


def test_missing_file_directory_and_zstd_file_are_input_errors(tmp_path):
    zst = tmp_path / "b.jsonl.zst"
    zst.write_bytes(b"\x28\xb5\x2f\xfd\x00\x00")
    for path, match in ((tmp_path / "nope.jsonl", "no such file"), (tmp_path, "directory"), (zst, "zstd")):
        with pytest.raises(InputError, match=match):
            with open_binary(path):
                pass


def test_atomic_write_leaves_nothing_on_failure_and_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    with atomic_write(target) as f:
        f.write(b"new\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_atomic_files_get_ordinary_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "new.jsonl") as f:
            f.write(b"x\n")
        assert (tmp_path / "new.jsonl").stat().st_mode & 0o777 == 0o644
        (tmp_path / "old.jsonl").write_bytes(b"")
        os.chmod(tmp_path / "old.jsonl", 0o600)
        with atomic_write(tmp_path / "old.jsonl") as f:
            f.write(b"y\n")
        assert (tmp_path / "old.jsonl").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(umask)


def test_open_binary_reads_a_gzip_file_as_its_data(tmp_path):
    import gzip

    from batchkit.formats import OPENAI, requests_of

    path = tmp_path / "b.jsonl.gz"
    line = b'{"custom_id": "a", "url": "/v1/embeddings", "body": {}}'
    path.write_bytes(gzip.compress(line + b"\n\n" + line.replace(b'"a"', b'"b"') + b"\n"))
    with open_binary(path) as f:
        assert f.read().startswith(b'{"custom_id": "a", ')
    assert [r.line for r in requests_of(path, OPENAI)] == [1, 3]


@pytest.mark.parametrize(
    "command",
    [
        ["validate", "{bad}"],
        ["estimate", "{bad}"],
        ["convert", "{bad}", "--to", "anthropic", "-o", "{out}"],
        ["split", "{bad}", "-o", "{out}"],
        ["merge", "{good}", "-r", "{bad}", "-o", "{out}"],
    ],
    ids=lambda c: c[0],
)
def test_damaged_gzip_data_is_one_clear_error_for_every_reader(tmp_path, command):
    """Gzip data cut short or damaged is found while it is read, by whichever command reads it: exit 2 and
    one line naming the file, never click's bare "Aborted!" (an EOFError) or a traceback."""
    from click.testing import CliRunner

    from batchkit.cli import cli

    bad = tmp_path / "cut.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00 cut short")
    good = tmp_path / "batch.jsonl"
    good.write_bytes(
        b'{"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}}\n'
    )
    names = {"bad": bad, "good": good, "out": tmp_path / "out.jsonl"}
    result = CliRunner().invoke(cli, [part.format(**names) for part in command])
    assert result.exit_code == 2, result.output
    assert "cut.jsonl.gz: the gzip data is damaged or cut short" in result.output
    assert "Aborted" not in result.output and not (tmp_path / "out.jsonl").exists()


def test_file_range_reads_only_its_bytes(tmp_path):
    from batchkit.lines import file_range

    path = tmp_path / "f"
    path.write_bytes(b"one\ntwo\nthree\n")
    with open(path, "rb") as f:
        part = file_range(f, 4, 11)
        assert part.read() == b"two\nthr"
        part.seek(0)
        assert part.readline() == b"two\n" and part.tell() == 4
