"""Support for the tests of submitting to Anthropic, Gemini and Mistral: each API's batches as the server
sees them, read with that provider's own SDK (so a test watches from the server's side), and a one-model
batch file in each API's line format made by `batchkit convert`."""

from __future__ import annotations

from pathlib import Path

from submitsupport import invoke, write_requests

NATIVE = ("anthropic", "gemini", "mistral")
MODEL = "m-echo"
# `batchkit convert --to X` writes the line each API takes (mistral: custom-body under Mistral's rules)
CREATE_ROUTE = {
    "anthropic": "POST /v1/messages/batches",
    "gemini": f"POST /v1beta/models/{MODEL}:batchGenerateContent",
    "mistral": "POST /v1/batch/jobs",
}


def native_file(tmp_path: Path, provider: str, count: int = 3, prefix: str = "q") -> Path:
    """An OpenAI batch file of `count` chat requests to MODEL, converted to `provider`'s line format."""
    source = write_requests(tmp_path / f"{prefix}-source.jsonl", count, models=(MODEL,), prefix=prefix,
                            max_tokens=50)  # fmt: skip
    target = tmp_path / f"{prefix}-{provider}.jsonl"
    converted = invoke("convert", source, "--to", provider, "-o", target)
    assert converted.returncode == 0, converted.stderr
    return target


def server_batches(provider: str, root_url: str) -> dict[str, dict]:
    """Every batch the server holds for this API, by id: {"state", "marker"} as the provider's SDK reads
    them (marker: the metadata or display name batchkit gave it, when the API keeps one)."""
    if provider == "anthropic":
        import anthropic

        client = anthropic.Anthropic(base_url=root_url, api_key="unused")
        return {b.id: {"state": b.processing_status, "marker": None}
                for b in client.messages.batches.list(limit=1000)}  # fmt: skip
    if provider == "gemini":
        from google import genai

        client = genai.Client(api_key="unused", http_options={"base_url": root_url + "/"})
        return {b.name: {"state": b.state.value, "marker": b.display_name}
                for b in client.batches.list(config={"page_size": 100})}  # fmt: skip
    from mistralai.client import Mistral

    client = Mistral(api_key="unused", server_url=root_url)
    jobs = client.batch.jobs.list(page_size=1000).data or []
    return {j.id: {"state": str(j.status), "marker": (j.metadata or {}).get("batchkit_sha256")} for j in jobs}


def answers(path: Path) -> dict[str, str]:
    """custom_id → answer of a merged CSV (every row must be ok)."""
    import csv

    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert {row["status"] for row in rows} == {"ok"}, rows
    return {row["custom_id"]: row["content"] for row in rows}
