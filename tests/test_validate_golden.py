"""Golden files: each sample and each finding code has the exact findings (code, line, path) it produces."""

import json
from pathlib import Path

import pytest

from batchkit import validate_file
from batchkit.findings import CODES

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
EXPECTED = json.loads((GOLDEN / "expected.json").read_text())


def case_options(case: dict) -> dict:
    return {k: case[k] for k in ("provider", "max_requests", "max_bytes") if k in case}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden(name):
    case = EXPECTED[name]
    path = ROOT / case["file"]
    report = validate_file(path, **case_options(case))
    assert [list(t) for t in report.codes()] == case["findings"]
    assert report.valid is (not any(CODES[c] == "error" for c, _, _ in case["findings"]))
    assert all(f.message for f in report.findings)


def test_every_code_has_a_golden_case():
    dialects = json.loads((GOLDEN / "dialects" / "expected.json").read_text())
    seen = {code for case in [*EXPECTED.values(), *dialects.values()] for code, _, _ in case["findings"]}
    # unknown-model is advice the commands add from the price data (tokens.advise_models), not a finding of
    # validate_file: tests/test_prices_and_models.py holds it
    assert set(CODES) - seen - {"schema", "unknown-model"} == set()


@pytest.mark.parametrize("provider", ["kluster", "openai", "azure", "anthropic", "generic"])
def test_seed_curl_example_under_every_provider(provider):
    report = validate_file(ROOT / "samples" / "kluster-curl-example.jsonl", provider)
    dupes = [(f.line, f.related_lines) for f in report.findings if f.code == "duplicate-custom-id"]
    assert dupes == [(2, (1,)), (3, (1,))]
    mixed = [f.line for f in report.findings if f.code == "mixed-model"]
    assert mixed == ([2, 3] if provider in ("openai", "azure") else [])
