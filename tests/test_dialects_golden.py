"""Golden files for every dialect: each valid and broken file (and each conversion) gives exactly the
findings (code, line, path) in tests/golden/dialects/expected.json."""

import io
import json
from pathlib import Path

import pytest

from batchkit import validate_file
from batchkit.convert import convert_file
from batchkit.errors import ValidationFailed
from batchkit.findings import CODES

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "dialects"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())
VALIDATE = sorted(name for name, case in EXPECTED.items() if "convert" not in case)
CONVERT = sorted(name for name, case in EXPECTED.items() if "convert" in case)


@pytest.mark.parametrize("name", VALIDATE)
def test_golden_validation(name):
    case = EXPECTED[name]
    report = validate_file(ROOT / case["file"], case["provider"])
    assert [list(t) for t in report.codes()] == case["findings"]
    assert report.valid is (not any(CODES[c] == "error" for c, _, _ in case["findings"]))
    assert all(f.message for f in report.findings)


@pytest.mark.parametrize("name", VALIDATE)
def test_golden_validation_from_a_stream_that_cannot_seek(name):
    """Standard input cannot be rewound: the first line is peeked at instead."""
    case = EXPECTED[name]

    class Pipe(io.BufferedReader):
        def seekable(self):
            return False

    stream = Pipe(io.BytesIO((ROOT / case["file"]).read_bytes()))
    report = validate_file(stream, case["provider"])
    assert [list(t) for t in report.codes()] == case["findings"]


@pytest.mark.parametrize("name", CONVERT)
def test_golden_conversion(name, tmp_path):
    case = EXPECTED[name]
    options = dict(case["convert"])
    try:
        report = convert_file(
            ROOT / case["file"], tmp_path / "out.jsonl", options.pop("to"), **options
        ).conversion
    except ValidationFailed as e:
        report = e.conversion
    assert [list(t) for t in report.codes()] == case["findings"]


def test_valid_golden_files_are_named_valid_and_broken_ones_broken():
    for name in VALIDATE:
        findings = EXPECTED[name]["findings"]
        if name.endswith("-valid"):
            assert findings == []
        elif name.endswith("-broken"):
            assert any(CODES[c] == "error" for c, _, _ in findings)


def test_every_dialect_has_a_valid_and_a_broken_golden_file():
    from batchkit.formats import DIALECTS

    for dialect in set(DIALECTS) - {"openai"}:  # the OpenAI golden files are tests/golden/*.jsonl
        assert (GOLDEN / f"{dialect}-valid.jsonl").is_file()
        assert (GOLDEN / f"{dialect}-broken.jsonl").is_file()
