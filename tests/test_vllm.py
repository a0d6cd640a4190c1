"""vLLM's own batch endpoints (--provider vllm): score, rerank (also unprefixed), audio transcriptions and
translations with a `file_url`, as vLLM's run_batch tests write them (tests/entrypoints/openai/
test_run_batch.py). Validated against the bodies vLLM's protocol types take, run through `batchkit run`
against real servers on 127.0.0.1 (`batchkit serve` echo, and `serve --backend upstream` in front of a
recording server), executed as a batch by `batchkit serve`, and merged."""

from __future__ import annotations

import contextlib
import csv
import http.server
import json
import os
import subprocess
import sys
import threading

import httpx
import openai
import orjson
import pytest
from polling import poll
from serverutil import running_server
from test_fastpath import fast, reference

from batchkit.providers import PROVIDERS

CLI = [sys.executable, "-m", "batchkit"]
MODEL = "batchkit-echo"
DOCUMENTS = ["The capital of Brazil is Brasilia.", "The capital of France is Paris."]
QUESTION = "What is the capital of France?"
# vLLM's MINIMAL_WAV_BASE64: a WAV header with no frames
WAV = "data:audio/wav;base64,UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA="


def line(custom_id: str, url: str, **body) -> dict:
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": {"model": MODEL, **body}}


# What vLLM's run_batch tests send, one line per endpoint and spelling.
VALID = [
    line("chat", "/v1/chat/completions", messages=[{"role": "user", "content": "Hello world!"}], max_tokens=1000),
    line("embed", "/v1/embeddings", input="You are a helpful assistant."),
    line("score-1", "/score", queries=QUESTION, documents=DOCUMENTS),
    line("score-2", "/v1/score", text_1=QUESTION, text_2=DOCUMENTS[1]),
    line("rerank-1", "/rerank", query=QUESTION, documents=DOCUMENTS),
    line("rerank-2", "/v1/rerank", query=QUESTION, documents=DOCUMENTS, top_n=1),
    line("transcribe", "/v1/audio/transcriptions", file_url=WAV, response_format="json"),
    line("translate", "/v1/audio/translations", file_url="https://example.org/mary_had_lamb.ogg",
         response_format="text", language="it", to_language="en", temperature=0.0,
         prompt="Mary had a little lamb"),
]  # fmt: skip

# Each broken line, and the (line, code, path) it is reported with.
BROKEN = [
    (line("s1", "/score", text_1=QUESTION), "missing-field", "/body/text_2"),
    (line("s2", "/v1/score", queries=QUESTION, documents=[]), "invalid-length", "/body/documents"),
    (line("s3", "/v1/score", queries=QUESTION, documents=[{"content": [{"type": "audio"}]}]),
     "invalid-value", "/body/documents/0/content/0/type"),
    (line("r1", "/rerank", documents=DOCUMENTS), "missing-field", "/body/query"),
    (line("r2", "/v1/rerank", query=QUESTION, documents=DOCUMENTS, top_n="1"), "wrong-type", "/body/top_n"),
    (line("r3", "/v2/rerank", query=QUESTION, documents=DOCUMENTS), "unsupported-endpoint", "/url"),
    (line("t1", "/v1/audio/transcriptions", file="x.wav", file_url=WAV), "unsupported-field", "/body/file"),
    (line("t2", "/v1/audio/transcriptions", file_url="ftp://host/a.wav"), "invalid-value", "/body/file_url"),
    (line("t3", "/v1/audio/transcriptions", file_url=WAV, stream_include_usage=True),
     "stream-options-without-stream", "/body/stream_include_usage"),
    (line("t4", "/v1/audio/translations", file_url=WAV, response_format="mp3"),
     "invalid-value", "/body/response_format"),
    (line("t5", "/v1/audio/translations", file_url=WAV, stream=True), "streaming-unsupported", "/body/stream"),
    (line("t6", "/v1/audio/transcriptions", prompt="no audio"), "missing-field", "/body/file_url"),
]  # fmt: skip


def jsonl(lines) -> bytes:
    return b"".join(orjson.dumps(obj) + b"\n" for obj in lines)


def write(path, lines):
    path.write_bytes(jsonl(lines))
    return path


def read_lines(path) -> list[dict]:
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines()]


def cli(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def findings(path, provider: str) -> tuple[int, list[tuple[int, str, str]], list[dict]]:
    result = cli("validate", path, "--provider", provider, "--format", "json")
    found = json.loads(result.stdout)["findings"]
    return result.returncode, [(f["line"], f["code"], f["path"]) for f in found], found


# ---- validating -----------------------------------------------------------------------------------------


def test_vllm_run_batch_lines_are_valid_for_vllm(tmp_path):
    code, found, _ = findings(write(tmp_path / "v.jsonl", VALID), "vllm")
    assert (code, found) == (0, [])


def test_each_broken_line_is_reported_where_it_is(tmp_path):
    path = write(tmp_path / "broken.jsonl", [obj for obj, _, _ in BROKEN])
    code, found, raw = findings(path, "vllm")
    assert code == 1
    assert found == [(n, c, p) for n, (_, c, p) in enumerate(BROKEN, 1)]
    messages = {f["path"]: f["message"] for f in raw}
    assert "vLLM refuses `file`" in messages["/body/file"]
    assert "did you mean /rerank?" in messages["/url"]


def test_fast_and_reference_paths_agree_on_vllm_lines():
    data = jsonl([*VALID, *(obj for obj, _, _ in BROKEN)])
    for provider in ("vllm", "generic", "local"):
        assert fast(data, provider) == reference(data, provider)


def test_score_lines_of_every_shape_decode_on_the_fast_path_or_agree_on_the_reference_path():
    from batchkit.validate.fastpath import line_decoder

    decode, urls, _ = line_decoder()
    assert urls[type(decode(orjson.dumps(VALID[2])))] == "/score"  # queries + documents: the fast path
    shapes = [{"queries": "q", "items": ["a"]}, {"data_1": ["a", "b"], "data_2": ["c", "d"]},
              {"text_1": "q", "text_2": {"content": [{"type": "text", "text": "t"}]}}]  # fmt: skip
    data = jsonl([line(f"s{i}", "/v1/score", **shape) for i, shape in enumerate(shapes)])
    assert fast(data, "vllm") == reference(data, "vllm")
    assert fast(data, "vllm")["summary"]["errors"] == 0


def test_other_providers_refuse_vllm_urls_and_generic_now_checks_their_bodies(tmp_path):
    path = write(tmp_path / "v.jsonl", [VALID[2], VALID[3]])
    code, found, _ = findings(path, "openai")
    assert code == 1 and ("unsupported-endpoint" in {c for _, c, _ in found})
    code, found, _ = findings(write(tmp_path / "b.jsonl", [BROKEN[0][0]]), "generic")
    assert (code, found) == (1, [(1, "missing-field", "/body/text_2")])


def test_an_unknown_field_of_a_vllm_body_is_a_warning_that_names_the_vllm_schema(tmp_path):
    path = write(tmp_path / "v.jsonl", [line("r", "/v1/rerank", query="q", documents=["d"], top_k=3)])
    code, found, raw = findings(path, "vllm")
    assert (code, found) == (0, [(1, "unknown-field", "/body/top_k")])
    assert raw[0]["message"].startswith("`top_k` is not a known vllm-rerank field")
    assert "did you mean `top_n`?" in raw[0]["message"]


# ---- running and merging ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def echo(tmp_path_factory):
    with running_server(data_dir=tmp_path_factory.mktemp("vllm-echo")) as server:
        yield server


def merged_rows(source, output, tmp_path) -> dict[str, dict]:
    table = tmp_path / "merged.csv"
    result = cli("merge", source, "-r", output, "-o", table)
    assert result.returncode == 0, result.stderr
    with table.open(newline="") as f:
        return {row["custom_id"]: row for row in csv.DictReader(f)}


def test_run_sends_each_vllm_url_and_merge_gives_scores_and_text(echo, tmp_path):
    source = write(tmp_path / "v.jsonl", VALID)
    output = tmp_path / "out.jsonl"
    result = cli("run", source, "--provider", "vllm", "--base-url", echo.base_url, "-o", output)
    assert result.returncode == 0, result.stderr
    bodies = {obj["custom_id"]: obj["response"]["body"] for obj in read_lines(output)}
    assert [d["score"] for d in bodies["score-1"]["data"]] == [0.5, 0.714286]
    assert bodies["score-1"]["object"] == "list" and bodies["score-1"]["usage"]["completion_tokens"] == 0
    assert [r["index"] for r in bodies["rerank-1"]["results"]] == [1, 0]  # the best document first
    assert bodies["rerank-1"]["results"][0]["document"] == {"text": DOCUMENTS[1]}
    assert [r["index"] for r in bodies["rerank-2"]["results"]] == [1]  # top_n
    assert bodies["transcribe"] == {"text": "44 bytes of audio", "usage": {"type": "duration", "seconds": 0}}
    assert bodies["translate"] == {"text": "Mary had a little lamb"}

    rows = merged_rows(source, output, tmp_path)
    assert {row["status"] for row in rows.values()} == {"ok"}
    assert rows["score-1"]["content"] == "[0.5,0.714286]"  # a score per document, in input order
    assert rows["score-2"]["content"] == "0.714286"  # one pair: the number itself
    assert rows["rerank-1"]["content"] == "[0.5,0.714286]"  # the same order, not the ranking's
    assert rows["rerank-2"]["content"] == "[null,0.714286]"  # top_n left the first document out
    assert (rows["score-1"]["prompt_tokens"], rows["score-1"]["total_tokens"]) == ("24", "24")
    assert rows["transcribe"]["content"] == "44 bytes of audio"
    assert rows["translate"]["content"] == "Mary had a little lamb"
    assert rows["chat"]["content"] == "Hello world!"
    assert rows["score-1"]["embedding"] == ""  # scores are no embeddings


def test_run_without_provider_vllm_refuses_unprefixed_urls_and_sends_nothing(echo, tmp_path):
    source = write(tmp_path / "v.jsonl", VALID)
    output = tmp_path / "out.jsonl"
    result = cli("run", source, "--base-url", echo.base_url, "-o", output)
    assert result.returncode == 1
    assert "local does not accept url '/score'; did you mean /v1/score?" in result.stderr
    assert not output.exists() and not output.with_name("out.jsonl.part").exists()


def test_the_echo_refuses_what_vllm_refuses_when_it_runs(echo):
    uneven = {"model": MODEL, "text_1": ["a", "b"], "text_2": ["a", "b", "c"]}
    response = httpx.post(echo.base_url + "/score", json=uneven)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Input lengths must be either 1:1, 1:N or N:N"
    bad_audio = {"model": MODEL, "file_url": "data:audio/wav;base64,@@@"}
    response = httpx.post(echo.base_url + "/audio/transcriptions", json=bad_audio)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("Failed to process transcription:")
    response = httpx.post(echo.base_url + "/rerank", json={"model": MODEL, "query": "q"})
    assert (response.status_code, response.json()["error"]["param"]) == (400, "documents")


class _Recording(http.server.BaseHTTPRequestHandler):
    """An upstream that answers every POST as vLLM's score endpoint would and keeps what it was sent."""

    received: list[tuple[str, dict]] = []

    def log_message(self, *args) -> None:
        pass

    def _answer(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer({"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.path, body))
        usage = {"prompt_tokens": 7, "total_tokens": 7}
        if self.path.endswith("/rerank"):
            results = [{"index": 0, "document": {"text": "d"}, "relevance_score": 0.25}]
            self._answer({"id": "rerank-1", "model": body["model"], "usage": usage, "results": results})
        elif self.path.endswith("/score"):
            data = [{"index": 0, "object": "score", "score": 0.75}]
            self._answer({"id": "score-1", "object": "list", "created": 1, "model": body["model"],
                          "data": data, "usage": usage})  # fmt: skip
        else:
            self._answer({"text": f"heard {body['file_url'][:5]}"})


@contextlib.contextmanager
def recording_upstream():
    _Recording.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", _Recording.received
    finally:
        server.shutdown()
        server.server_close()


def test_serve_upstream_passes_vllm_requests_through_unchanged(tmp_path):
    lines = [VALID[2], VALID[3], VALID[4], VALID[6]]
    source = write(tmp_path / "v.jsonl", lines)
    output = tmp_path / "out.jsonl"
    with (
        recording_upstream() as (upstream, received),
        running_server(
            "--backend", "upstream", "--upstream-url", upstream, data_dir=tmp_path / "proxy"
        ) as proxy,
    ):
        result = cli("run", source, "--provider", "vllm", "--base-url", proxy.base_url, "-o", output)
        assert result.returncode == 0, result.stderr
    by_path = sorted((path, body["model"], sorted(body)) for path, body in received)
    assert by_path == sorted(
        [("/v1/score", MODEL, sorted(VALID[2]["body"])), ("/v1/score", MODEL, sorted(VALID[3]["body"])),
         ("/v1/rerank", MODEL, sorted(VALID[4]["body"])),
         ("/v1/audio/transcriptions", MODEL, sorted(VALID[6]["body"]))]
    )  # fmt: skip
    assert sorted(body for _, body in received if "queries" in body) == [VALID[2]["body"]]
    rows = merged_rows(source, output, tmp_path)
    assert [rows[obj["custom_id"]]["content"] for obj in lines] == ["0.75", "0.75", "0.25", "heard data:"]


def test_serve_runs_a_batch_of_each_vllm_endpoint(echo, tmp_path):
    client = openai.OpenAI(base_url=echo.base_url, api_key="unused")
    for endpoint in ("/v1/score", "/v1/rerank", "/v1/audio/transcriptions", "/v1/audio/translations"):
        lines = [obj for obj in VALID if obj["url"] == endpoint]
        uploaded = client.files.create(file=("b.jsonl", jsonl(lines)), purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint=endpoint, completion_window="24h")

        def ended(batch_id=batch.id):
            found = client.batches.retrieve(batch_id)
            return found if found.status in ("completed", "failed") else None

        done = poll(ended, timeout=30, what=f"the {endpoint} batch")
        assert (done.status, done.request_counts.completed) == ("completed", len(lines)), done.errors
        answers = [
            orjson.loads(raw) for raw in client.files.content(done.output_file_id).content.splitlines()
        ]
        assert [a["custom_id"] for a in answers] == [obj["custom_id"] for obj in lines]
        assert all(a["response"]["status_code"] == 200 for a in answers)


# ---- providers without a batch API batchkit speaks ------------------------------------------------------


def test_vllm_is_refused_by_submit_with_the_commands_that_run_it():
    message = PROVIDERS["vllm"].no_batch_api
    assert "`vllm run-batch -i FILE -o OUTPUT --model MODEL`" in message
    assert "`batchkit run FILE --provider vllm --base-url http://HOST:8000/v1 -o OUTPUT`" in message


def test_fireworks_refusal_names_each_firectl_step_and_merge_reads_its_output_lines(tmp_path):
    message = PROVIDERS["fireworks"].no_batch_api
    for step in ("`firectl create dataset DATASET FILE`", "`firectl create batch-inference-job --model MODEL",
                 "`firectl get batch-inference-job JOB`", "`firectl download dataset OUTPUT --output-dir DIR`",
                 "`batchkit merge FILE -r RESULTS -o merged.csv`"):  # fmt: skip
        assert step in message
    # A Fireworks line and the shape of its answers in BIJOutputSet.jsonl: the chat completion itself under
    # `response`, no status code around it.
    source = write(tmp_path / "fw.jsonl", [{"custom_id": "req-1", "body": {"messages": [
        {"role": "user", "content": "What is 2+2?"}], "max_tokens": 20}}])  # fmt: skip
    answer = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1788062136,
              "model": "accounts/fireworks/models/llama-v3p1-8b-instruct",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"}, "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 47, "total_tokens": 49, "completion_tokens": 2}}  # fmt: skip
    results = write(tmp_path / "BIJOutputSet.jsonl", [{"custom_id": "req-1", "response": answer}])
    rows = merged_rows(source, results, tmp_path)
    row = rows["req-1"]
    assert (row["status"], row["content"], row["finish_reason"]) == ("ok", "4", "stop")
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == ("47", "2", "49")
    assert row["model"] == "accounts/fireworks/models/llama-v3p1-8b-instruct"
    assert os.path.getsize(tmp_path / "merged.csv") > 0
