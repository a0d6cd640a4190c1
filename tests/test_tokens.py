"""batchkit.tokens: counts pinned to OpenAI's published examples, prices as data, estimates per model."""

import json

import orjson
import pytest

from batchkit import estimate
from batchkit.errors import InputError
from batchkit.tokens import counter_for, encoding_for_model, load_prices, read_prompt
from batchkit.tokens.lengths import Lengths

# The OpenAI cookbook "How to count tokens with tiktoken", section 5 (comparing encodings).
COOKBOOK_STRINGS = [
    ("tiktoken is great!", "cl100k_base", 6),
    ("antidisestablishmentarianism", "cl100k_base", 6),
    ("antidisestablishmentarianism", "o200k_base", 6),
    ("2 + 2 = 4", "cl100k_base", 7),
    ("2 + 2 = 4", "o200k_base", 7),
    ("お誕生日おめでとう", "cl100k_base", 9),
    ("お誕生日おめでとう", "o200k_base", 8),
]
# Section 6: its example messages, which the API itself counted as 129 (gpt-3.5-turbo, gpt-4) and 124
# (gpt-4o, gpt-4o-mini) prompt tokens.
COOKBOOK_MESSAGES = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
]  # fmt: skip
COOKBOOK_CHAT_COUNTS = {
    "gpt-3.5-turbo": 129,
    "gpt-4-0613": 129,
    "gpt-4": 129,
    "gpt-4o": 124,
    "gpt-4o-mini": 124,
}


def write_batch(path, bodies, url="/v1/chat/completions"):
    with open(path, "wb") as f:
        for i, body in enumerate(bodies):
            f.write(orjson.dumps({"custom_id": f"r{i}", "method": "POST", "url": url, "body": body}) + b"\n")
    return path


def groups(result):
    return {m["model"]: m for f in result.to_dict()["files"] for m in f["models"]}


@pytest.mark.parametrize(("text", "encoding", "expected"), COOKBOOK_STRINGS)
def test_counts_equal_the_cookbook(text, encoding, expected):
    model = "gpt-4" if encoding == "cl100k_base" else "gpt-4o"
    counter = counter_for(model)
    assert (counter.name, counter.estimated) == (encoding, False)
    assert counter.count(text) == expected


@pytest.mark.parametrize(
    ("model", "encoding"),
    [("gpt-4o-mini-2024-07-18", "o200k_base"), ("gpt-4.1-nano", "o200k_base"), ("gpt-5", "o200k_base"),
     ("gpt-5-mini", "o200k_base"), ("o3-mini", "o200k_base"), ("o1", "o200k_base"), ("gpt-4.5-preview", "o200k_base"),
     ("ft:gpt-4o-mini:org::abc", "o200k_base"), ("gpt-4-turbo", "cl100k_base"), ("gpt-4-0613", "cl100k_base"),
     ("gpt-3.5-turbo-0125", "cl100k_base"), ("gpt-35-turbo", "cl100k_base"), ("text-embedding-3-small", "cl100k_base"),
     ("text-embedding-ada-002", "cl100k_base"), ("meta-llama/Llama-3.1-8B-Instruct", None), ("gpt-oss", None)],
)  # fmt: skip
def test_encoding_per_model_as_in_tiktokens_table(model, encoding):
    assert encoding_for_model(model) == encoding


@pytest.mark.parametrize(("model", "expected"), COOKBOOK_CHAT_COUNTS.items())
def test_chat_overhead_matches_openais_counts_of_the_cookbook_messages(tmp_path, model, expected):
    path = write_batch(
        tmp_path / "b.jsonl", [{"model": model, "messages": COOKBOOK_MESSAGES, "max_tokens": 1}]
    )
    group = groups(estimate(path, provider="openai"))[model]
    assert (group["prompt_tokens"], group["estimated"]) == (expected, False)


def test_a_text_over_the_counters_limit_is_counted_whole():
    counter = counter_for("gpt-4o")
    text = " ".join(["word"] * 300_000)  # 1.5M characters: "word" then 299,999 × " word"
    assert counter.count(text) == 300_000


def test_mixed_models_are_counted_and_priced_each_on_its_own(tmp_path):
    bodies = [
        {"model": m, "messages": COOKBOOK_MESSAGES, "max_tokens": 100} for m in ("gpt-4o", "gpt-4", "gpt-4o")
    ]
    bodies.append({"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": COOKBOOK_MESSAGES})
    result = estimate(write_batch(tmp_path / "b.jsonl", bodies), provider="openai")
    g = groups(result)
    assert [(m, g[m]["requests"], g[m]["prompt_tokens"]) for m in g] == [
        ("gpt-4o", 2, 248), ("gpt-4", 1, 129), ("meta-llama/Llama-3.1-8B-Instruct", 1, 124)]  # fmt: skip
    assert g["gpt-4o"]["tokenizer"] == "o200k_base" and g["gpt-4"]["tokenizer"] == "cl100k_base"
    # gpt-4o: $2.50 in, $10 out per 1M, half off in a batch; ceiling 2 × 100.
    assert g["gpt-4o"]["cost"]["low"] == pytest.approx(248 * 2.50 / 1e6 * 0.5)
    assert g["gpt-4o"]["cost"]["high"] == pytest.approx((248 * 2.50 + 200 * 10) / 1e6 * 0.5)
    llama = g["meta-llama/Llama-3.1-8B-Instruct"]
    assert llama["estimated"] is True and llama["tokenizer"] == "o200k_base"
    assert llama["requests_without_max"] == 1 and llama["output_ceiling"] == 4096
    totals = result.totals()
    assert totals["requests"] == 4 and totals["estimated"] is True
    assert totals["unpriced_models"] == ["meta-llama/Llama-3.1-8B-Instruct"]


def test_an_unknown_model_is_never_priced_at_zero(tmp_path):
    path = write_batch(tmp_path / "b.jsonl", [{"model": "brand-new-model", "messages": COOKBOOK_MESSAGES}])
    group = groups(estimate(path, provider="openai"))["brand-new-model"]
    assert group["prompt_tokens"] == 124 and group["price"] is None and group["cost"] is None
    # A provider with no prices at all: tokens still counted, no cost invented.
    group = groups(estimate(path, provider="kluster"))["brand-new-model"]
    assert group["cost"] is None
    assert estimate(path, provider="kluster").totals()["cost"] == {}


def test_a_prices_file_replaces_and_adds_entries(tmp_path):
    prices = tmp_path / "prices.json"
    entry = {
        "provider": "openai",
        "currency": "EUR",
        "date": "2026-01-01",
        "source": "our contract",
        "batch_discount": 0.25,
    }
    prices.write_text(json.dumps({"prices": [
        {**entry, "model": "gpt-4o", "input": 1.0, "output": 4.0},
        {**entry, "model": "brand-new-model", "input": 2.0, "output": 8.0},
    ]}))  # fmt: skip
    bodies = [
        {"model": m, "messages": COOKBOOK_MESSAGES, "max_tokens": 10} for m in ("gpt-4o", "brand-new-model")
    ]
    g = groups(estimate(write_batch(tmp_path / "b.jsonl", bodies), provider="openai", prices=prices))
    assert g["gpt-4o"]["cost"] == {
        "low": pytest.approx(124 * 1.0 / 1e6 * 0.75),
        "high": pytest.approx((124 * 1.0 + 10 * 4.0) / 1e6 * 0.75),
        "currency": "EUR",
        "estimated": False,
    }
    assert g["brand-new-model"]["price"]["source"] == "our contract"
    assert g["brand-new-model"]["cost"]["estimated"] is True  # its tokens are estimated
    assert load_prices()[("openai", "gpt-4o")].input == 2.5  # the shipped table is untouched


@pytest.mark.parametrize(
    ("doc", "message"),
    [("not json", "not valid JSON"), ('{"models": []}', '"prices" list'),
     ('{"prices": [{"provider": "openai", "model": "m", "input": -1, "output": 1, "batch_discount": 0.5, '
      '"currency": "USD", "date": "d", "source": "s"}]}', "`input` must be a number ≥ 0"),
     ('{"prices": [{"provider": "openai", "model": "m", "input": 1, "output": 1, "batch_discount": 0.5}]}',
      "`currency` must be a non-empty string")],
)  # fmt: skip
def test_a_bad_prices_file_is_a_clear_error(tmp_path, doc, message):
    prices = tmp_path / "prices.json"
    prices.write_text(doc)
    with pytest.raises(InputError, match=message):
        load_prices(prices)


def test_every_shipped_price_names_its_date_and_source():
    table = load_prices()
    assert ("openai", "gpt-4o-mini") in table
    for price in table.values():
        assert price.date and price.source.startswith("https://") and 0 <= price.batch_discount <= 1


def test_embeddings_and_completions_bodies(tmp_path):
    emb = write_batch(tmp_path / "e.jsonl", [
        {"model": "text-embedding-3-small", "input": ["tiktoken is great!", "2 + 2 = 4"]},
        {"model": "text-embedding-3-small", "input": [[1, 2, 3], [4, 5]]},
        {"model": "text-embedding-3-small", "input": "tiktoken is great!"},
    ], url="/v1/embeddings")  # fmt: skip
    g = groups(estimate(emb, provider="openai"))["text-embedding-3-small"]
    assert (g["prompt_tokens"], g["output_ceiling"], g["estimated"]) == (6 + 7 + 5 + 6, 0, False)
    assert g["cost"]["high"] == g["cost"]["low"] == pytest.approx(24 * 0.02 / 1e6 * 0.5)
    comp = write_batch(tmp_path / "c.jsonl", [
        {"model": "gpt-3.5-turbo-instruct", "prompt": "tiktoken is great!"},
        {"model": "gpt-3.5-turbo-instruct", "prompt": ["2 + 2 = 4"], "max_tokens": 50, "n": 2},
    ], url="/v1/completions")  # fmt: skip
    g = groups(estimate(comp, provider="openai"))["gpt-3.5-turbo-instruct"]
    # No max_tokens: the completions API's own default of 16.
    assert (g["prompt_tokens"], g["output_ceiling"], g["requests_without_max"]) == (13, 16 + 100, 0)


def test_responses_bodies_are_counted_and_marked_estimated():
    prompt = read_prompt("/v1/responses", {
        "model": "gpt-4o", "instructions": "tiktoken is great!", "input": "2 + 2 = 4", "max_output_tokens": 7})  # fmt: skip
    assert prompt.texts == ["system", "tiktoken is great!", "user", "2 + 2 = 4"]
    assert (prompt.fixed, prompt.estimated, prompt.max_output) == (3 + 3 + 3, True, 7)


def test_images_audio_and_files_are_flagged_not_counted(tmp_path):
    content = [
        {"type": "text", "text": "tiktoken is great!"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
        {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-1"}},
    ]
    path = write_batch(
        tmp_path / "b.jsonl", [{"model": "gpt-4o", "messages": [{"role": "user", "content": content}]}]
    )
    g = groups(estimate(path, provider="openai"))["gpt-4o"]
    assert g["not_counted"] == {"audio": 1, "file": 1, "image": 1}
    assert g["prompt_tokens"] == 3 + 1 + 6 + 3  # message, "user", the text, reply priming


def test_tools_and_tool_calls_are_counted_as_json_and_marked_estimated():
    body = {"model": "gpt-4o", "messages": [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}  # fmt: skip
    prompt = read_prompt("/v1/chat/completions", body)
    assert prompt.estimated and "c1" in prompt.texts and any('"name":"f"' in t for t in prompt.texts)


def test_a_broken_line_is_a_finding_and_the_rest_is_counted(tmp_path):
    path = write_batch(tmp_path / "b.jsonl", [{"model": "gpt-4", "messages": COOKBOOK_MESSAGES}] * 2)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + b'{"custom_id": "x", "body": \n' + b"[1]\n" + lines[1])
    result = estimate(path, provider="openai")
    f = result.to_dict()["files"][0]
    assert not result.ok and f["unreadable_lines"] == 2
    assert [(x["line"], x["code"]) for x in f["findings"]] == [(2, "invalid-json"), (3, "not-an-object")]
    assert groups(result)["gpt-4"]["prompt_tokens"] == 2 * 129


def test_a_tokenizer_json_counts_open_weight_models_exactly(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "tiktoken": 1, "is": 2, "great": 3, "!": 4, "user": 5, "system": 6}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    bodies = [{"model": "my-llama", "messages": [{"role": "user", "content": "tiktoken is great! really"}]},
              {"model": "gpt-4o", "messages": [{"role": "user", "content": "tiktoken is great!"}]}]  # fmt: skip
    g = groups(estimate(write_batch(tmp_path / "b.jsonl", bodies), tokenizer=tmp_path / "tokenizer.json"))
    # "user" 1 + "tiktoken is great ! really" 5 + 3 per message + 3 priming
    assert (g["my-llama"]["prompt_tokens"], g["my-llama"]["estimated"]) == (12, False)
    assert g["my-llama"]["tokenizer"] == "tokenizer.json"
    assert (g["gpt-4o"]["tokenizer"], g["gpt-4o"]["prompt_tokens"]) == ("o200k_base", 1 + 6 + 6)
    with pytest.raises(InputError, match="no such tokenizer file"):
        estimate(write_batch(tmp_path / "b.jsonl", bodies), tokenizer=tmp_path / "missing.json")


def test_prompt_length_distribution():
    lengths = Lengths()
    for n in [10] * 10 + [20] * 9 + [100]:
        lengths.add(n)
    d = lengths.to_dict()
    assert (d["min"], d["median"], d["p95"], d["max"]) == (10, 10, 20, 100)
    assert sum(b["requests"] for b in d["histogram"]) == 20
    assert d["histogram"][0] == {"from": 10, "to": 21, "requests": 19}
    assert d["histogram"][-1]["to"] == 100 and d["histogram"][-1]["requests"] == 1
    assert Lengths().to_dict() is None


def png(width, height):
    """A complete 1-bit greyscale PNG of that size (all black)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = (b"\x00" + bytes((width + 7) // 8)) * height
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def data_url(data, kind="png"):
    import base64

    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


def image_request(model, url, detail=None):
    image = {"url": url} if detail is None else {"url": url, "detail": detail}
    return {
        "model": model,
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": image}]}],
    }


# OpenAI's vision guide, "Calculating costs": 1024×1024 high → 765, 2048×4096 high → 1105, any size low → 85.
@pytest.mark.parametrize(
    ("model", "size", "detail", "image", "estimated"),
    [("gpt-4o", (1024, 1024), "high", 765, False), ("gpt-4o-2024-08-06", (2048, 4096), "high", 1105, False),
     ("gpt-4o", (4096, 8192), "low", 85, False), ("gpt-4o", (1024, 1024), None, 765, True),
     ("gpt-4o-mini", (300, 200), "low", 2833, False), ("gpt-4o-mini", (300, 200), "high", 2833 + 5667, False)],
)  # fmt: skip
def test_inline_images_are_counted_by_the_tile_rule(tmp_path, model, size, detail, image, estimated):
    path = write_batch(tmp_path / "b.jsonl", [image_request(model, data_url(png(*size)), detail)])
    g = groups(estimate(path, provider="openai"))[model]
    assert (g["prompt_tokens"], g["estimated"], g["not_counted"]) == (3 + 1 + image + 3, estimated, {})


def test_image_sizes_from_jpeg_gif_and_webp_headers():
    import struct

    from batchkit.tokens.images import data_url_size

    jpeg = b"\xff\xd8" + b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + bytes(9)
    jpeg += b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 480, 640, 3) + bytes(9)
    gif = b"GIF89a" + struct.pack("<HH", 320, 200) + bytes(7)
    webp = b"RIFF" + struct.pack("<I", 22) + b"WEBPVP8X" + struct.pack("<I", 10) + bytes(4)
    webp += (799).to_bytes(3, "little") + (599).to_bytes(3, "little")
    assert data_url_size(data_url(jpeg, "jpeg")) == (640, 480)
    assert data_url_size(data_url(gif, "gif")) == (320, 200)
    assert data_url_size(data_url(webp, "webp")) == (800, 600)
    assert data_url_size("data:image/png;base64,not-base64!") is None
    assert data_url_size("https://example.com/cat.png") is None


def test_images_whose_size_or_rule_is_unknown_are_flagged(tmp_path):
    bodies = [image_request("gpt-4o", "https://example.com/cat.png", "high"),
              image_request("gpt-5", data_url(png(64, 64)), "high")]  # fmt: skip
    g = groups(estimate(write_batch(tmp_path / "b.jsonl", bodies), provider="openai"))
    assert g["gpt-4o"]["not_counted"] == {"image": 1} and g["gpt-4o"]["prompt_tokens"] == 3 + 1 + 3
    assert g["gpt-5"]["not_counted"] == {"image": 1}


# Section 7 of the cookbook: these tools and messages, counted by the API as 101 (gpt-4o, gpt-4o-mini) and
# 105 (gpt-3.5-turbo, gpt-4) prompt tokens.
COOKBOOK_TOOLS = [{"type": "function", "function": {
    "name": "get_current_weather", "description": "Get the current weather in a given location",
    "parameters": {"type": "object", "properties": {
        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
        "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]}},
        "required": ["location"]}}}]  # fmt: skip
COOKBOOK_TOOL_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("model", "expected"), [("gpt-4o", 101), ("gpt-4o-mini", 101), ("gpt-3.5-turbo", 105), ("gpt-4", 105)]
)
def test_function_tools_match_the_cookbooks_api_counts(tmp_path, model, expected):
    body = {"model": model, "messages": COOKBOOK_TOOL_MESSAGES, "tools": COOKBOOK_TOOLS}
    g = groups(estimate(write_batch(tmp_path / "b.jsonl", [body]), provider="openai"))[model]
    assert (g["prompt_tokens"], g["estimated"]) == (expected, False)


def test_tools_the_rule_does_not_cover_are_counted_as_json_and_estimated():
    nested = [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {
        "type": "object", "properties": {"items": {"type": "array", "description": "x", "items": {"type": "string"}}}}}}]  # fmt: skip
    prompt = read_prompt("/v1/chat/completions", {"model": "gpt-4o", "messages": [], "tools": nested})
    assert prompt.estimated and any('"items"' in t for t in prompt.texts)


def test_an_endpoint_without_a_reader_is_flagged_not_counted(tmp_path):
    path = write_batch(
        tmp_path / "b.jsonl", [{"model": "omni-moderation-latest", "input": "hello"}], url="/v1/moderations"
    )
    g = groups(estimate(path, provider="openai"))["omni-moderation-latest"]
    assert (g["prompt_tokens"], g["output_ceiling"], g["not_counted"]) == (0, 0, {"endpoint": 1})


def test_every_exported_name_is_imported_on_first_use():
    import batchkit.tokens as tokens

    assert sorted(tokens.__all__) == sorted(tokens._EXPORTS)
    assert all(getattr(tokens, name) is not None for name in tokens.__all__)
    assert callable(tokens.estimate)  # the function, not the module `estimates` beside it


HOSTILE = [None, True, 2.5, "x", [], [1], {}, {"a": [1]}]


@pytest.mark.parametrize("value", HOSTILE, ids=repr)
def test_values_of_any_type_are_counted_never_an_exception(tmp_path, value):
    """estimate reads lines without validating them: a message's content, a part's type or a block of any
    JSON type is counted as what it is (its JSON text), in every format it reads."""
    lines = [
        {"custom_id": "c", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": value, "text": 1}]}]}},
        {"custom_id": "r", "method": "POST", "url": "/v1/responses",
         "body": {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": value}]}]}},
        {"custom_id": "a", "params": {"model": "claude-opus-4-6", "max_tokens": 8,
         "messages": [{"role": "user", "content": value}, {"role": "assistant", "content": value}]}},
        {"custom_id": "m", "params": {"model": "claude-opus-4-6", "max_tokens": 8, "messages": value}},
    ]  # fmt: skip
    for i, line in enumerate(lines):
        path = tmp_path / f"{i}.jsonl"
        path.write_bytes(orjson.dumps(line) + b"\n")
        f = estimate(path).to_dict()["files"][0]
        assert f["requests"] == 1 and f["unreadable_lines"] == 0
