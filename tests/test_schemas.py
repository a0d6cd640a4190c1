"""The JSON Schemas in schemas/: well-formed, faithful to the reference spec, and shaped so errors land where
the value was meant to go (discriminated unions by if/then on a const, type-keyed anyOf branches)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parents[1]
SCHEMA_DIR = REPO / "schemas"
SPEC = Path(__file__).resolve().parents[2] / "shared/reference/openai-openapi.yaml"
BASE_ID = "https://schemas.llm-batchkit.org/"
BODY_SCHEMAS = {
    "chat-completions": "CreateChatCompletionRequest",
    "embeddings": "CreateEmbeddingRequest",
    "completions": "CreateCompletionRequest",
}
OWN = [*BODY_SCHEMAS, "batch-output"]


def load(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


ALL = {
    p.name.removesuffix(".schema.json"): load(p.name.removesuffix(".schema.json"))
    for p in sorted(SCHEMA_DIR.glob("*.schema.json"))
}
REGISTRY = Registry().with_resources((s["$id"], DRAFT202012.create_resource(s)) for s in ALL.values()).crawl()
VALIDATORS = {name: Draft202012Validator(ALL[name], registry=REGISTRY) for name in OWN}
RS_VALIDATORS = {
    name: jsonschema_rs.validator_for(
        ALL[name], registry=jsonschema_rs.Registry([(s["$id"], s) for s in ALL.values()])
    )
    for name in OWN
}


def walk(node, path=()):
    """Every (path, dict) in a schema document."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))


# ---- well-formed ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALL))
def test_schema_is_valid_draft_2020_12(name):
    Draft202012Validator.check_schema(ALL[name])


@pytest.mark.parametrize("name", OWN)
def test_schema_header_and_titles(name):
    schema = ALL[name]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{BASE_ID}{name}.schema.json"
    assert schema["title"] and schema["description"]
    untitled = [key for key, sub in schema.get("$defs", {}).items() if not sub.get("title")]
    assert not untitled, f"$defs without a title: {untitled}"


@pytest.mark.parametrize("name", OWN)
def test_refs_are_local_and_resolve(name):
    schema = ALL[name]
    for path, node in walk(schema):
        if isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            assert ref.startswith("#/$defs/"), f"{path}: {ref} is not a local $defs ref"
            assert ref.removeprefix("#/$defs/") in schema["$defs"], f"{path}: {ref} does not resolve"


@pytest.mark.parametrize("name", OWN)
def test_no_format_keyword(name):
    # jsonschema and jsonschema_rs treat `format` differently; the schemas must not depend on it
    assert not [path for path, node in walk(ALL[name]) if isinstance(node.get("format"), str)]


@pytest.mark.parametrize("name", OWN)
def test_loads_in_jsonschema_rs(name):
    assert isinstance(RS_VALIDATORS[name], jsonschema_rs.Draft202012Validator)


@pytest.mark.parametrize("name", OWN)
def test_discriminator_enums_list_exactly_their_branches(name):
    """A union's enum and its if/then branches must name the same values, or a value passes unchecked."""
    unions = 0
    for path, node in walk(ALL[name]):
        branches = [b for b in node.get("allOf", []) if isinstance(b, dict) and "if" in b and "then" in b]
        consts = {}
        for branch in branches:
            for key, sub in branch["if"].get("properties", {}).items():
                if "const" in sub:
                    assert key in branch["if"].get("required", []), f"{path}: if on {key} must require it"
                    assert branch["if"].get("type") == "object", f"{path}: if must say type object"
                    consts.setdefault(key, []).append(sub["const"])
        for key, values in consts.items():
            unions += 1
            assert node["properties"][key]["enum"] == values, path
            assert key in node["required"], path
    if name == "chat-completions":
        assert unions >= 8


@pytest.mark.parametrize("name", OWN)
def test_required_names_are_declared(name):
    for path, node in walk(ALL[name]):
        if "properties" in node and isinstance(node.get("required"), list) and "if" not in path[-1:]:
            missing = [key for key in node["required"] if key not in node["properties"]]
            assert not missing, f"{path}: required but not declared: {missing}"


def test_bodies_stay_open():
    """Open-weight providers accept extra fields; the validator warns about them, the schema must not reject."""
    for name in OWN:
        for path, node in walk(ALL[name]):
            assert node.get("additionalProperties") is not False, f"{name} {path}"


# ---- faithful to the reference spec ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec():
    if not SPEC.is_file():
        pytest.skip(f"reference spec not found at {SPEC}")
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)["components"]["schemas"]


def spec_resolve(components, node):
    while isinstance(node, dict) and "$ref" in node:
        node = components[node["$ref"].rsplit("/", 1)[-1]]
    return node


def spec_properties(components, name) -> dict:
    """The properties of a spec schema, following its allOf chain."""
    out = {}

    def collect(node):
        node = spec_resolve(components, node)
        for sub in node.get("allOf", []):
            collect(sub)
        out.update(node.get("properties", {}))

    collect(components[name])
    return out


def spec_constraints(components, node, seen=None):
    """Enum values and numeric bounds a spec property states at its top level (through $ref/anyOf/oneOf).

    An enum next to a plain-string alternative (model ids, voices) is advice, not a rule: reported as None.
    """
    node = spec_resolve(components, node)
    enums, bounds, open_string = set(), {}, False
    for branch in [node, *node.get("anyOf", []), *node.get("oneOf", [])]:
        branch = spec_resolve(components, branch)
        if branch is not node and ("anyOf" in branch or "oneOf" in branch):
            sub_enums, sub_bounds = spec_constraints(components, branch)
            open_string |= sub_enums is None
            enums |= sub_enums or set()
            bounds |= sub_bounds
            continue
        if "enum" in branch:
            enums |= set(branch["enum"]) - {None}
        elif branch.get("type") == "string":
            open_string = True
        for key in ("minimum", "maximum"):
            if key in branch:
                bounds[key] = branch[key]
    return (None if open_string and enums else enums), bounds


def our_constraints(schema, node):
    """The same facts for one of our properties."""
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    enums, bounds = set(), {}
    for branch in [node, *node.get("anyOf", [])]:
        if "$ref" in branch:
            continue
        enums |= set(branch.get("enum", [])) | ({branch["const"]} if "const" in branch else set())
        for key in ("minimum", "maximum"):
            if key in branch:
                bounds[key] = branch[key]
    return enums - {None}, bounds


@pytest.mark.parametrize("name", sorted(BODY_SCHEMAS))
def test_property_names_match_the_spec(spec, name):
    expected = set(spec_properties(spec, BODY_SCHEMAS[name]))
    assert set(ALL[name]["properties"]) == expected


@pytest.mark.parametrize("name", sorted(BODY_SCHEMAS))
def test_required_matches_the_spec(spec, name):
    required = set()

    def collect(node):
        node = spec_resolve(spec, node)
        for sub in node.get("allOf", []):
            collect(sub)
        required.update(node.get("required", []))

    collect(spec[BODY_SCHEMAS[name]])
    assert set(ALL[name]["required"]) == required


@pytest.mark.parametrize("name", sorted(BODY_SCHEMAS))
def test_enums_and_bounds_agree_with_the_spec(spec, name):
    """Every enum the spec states is ours exactly; our bounds are the spec's or tighter (servers' implicit ones)."""
    ours = ALL[name]
    for prop, spec_node in spec_properties(spec, BODY_SCHEMAS[name]).items():
        spec_enum, spec_bounds = spec_constraints(spec, spec_node)
        our_enum, our_bounds = our_constraints(ours, ours["properties"][prop])
        if spec_enum:
            assert our_enum == spec_enum, prop
        if "minimum" in spec_bounds:
            assert our_bounds.get("minimum", float("-inf")) >= spec_bounds["minimum"], prop
        if "maximum" in spec_bounds:
            assert our_bounds.get("maximum", float("inf")) <= spec_bounds["maximum"], prop


def test_message_roles_and_content_parts_match_the_spec(spec):
    roles = []
    for branch in spec["ChatCompletionRequestMessage"]["oneOf"]:
        roles += spec_resolve(spec, branch)["properties"]["role"]["enum"]
    chat = ALL["chat-completions"]
    assert set(chat["$defs"]["message"]["properties"]["role"]["enum"]) == set(roles)

    def part_types(component):
        return {spec_resolve(spec, b)["properties"]["type"]["enum"][0] for b in spec[component]["oneOf"]}

    for ours, component in [
        ("textOnlyContentPart", "ChatCompletionRequestSystemMessageContentPart"),
        ("textOnlyContentPart", "ChatCompletionRequestToolMessageContentPart"),
        ("userContentPart", "ChatCompletionRequestUserMessageContentPart"),
        ("assistantContentPart", "ChatCompletionRequestAssistantMessageContentPart"),
    ]:
        assert set(chat["$defs"][ours]["properties"]["type"]["enum"]) == part_types(component), ours


# ---- valid bodies ---------------------------------------------------------------------------------------------

USER = {"role": "user", "content": "Hello"}
SEED = [
    {
        "model": "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "max_tokens": 1000,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of Argentina?"},
        ],
    },
    {
        "model": "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "max_tokens": 1000,
        "messages": [
            {"role": "system", "content": "You are an experienced maths tutor."},
            {"role": "user", "content": "Explain the Pythagorean theorem to a 10 year old child"},
        ],
    },
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "strict": True,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
VALID = [
    ("chat-completions", SEED[0]),
    ("chat-completions", SEED[1]),
    (
        "chat-completions",
        {  # tools, a tool round trip, a forced function
            "model": "gpt-4o",
            "tools": [WEATHER_TOOL],
            "parallel_tool_calls": False,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
            ],
        },
    ),
    (
        "chat-completions",
        {  # custom tools with a grammar, allowed_tools choice
            "model": "gpt-5",
            "tool_choice": {
                "type": "allowed_tools",
                "allowed_tools": {"mode": "auto", "tools": [WEATHER_TOOL]},
            },
            "tools": [
                WEATHER_TOOL,
                {
                    "type": "custom",
                    "custom": {
                        "name": "sql",
                        "format": {
                            "type": "grammar",
                            "grammar": {"definition": "start: 'x'", "syntax": "lark"},
                        },
                    },
                },
            ],
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c2", "type": "custom", "custom": {"name": "sql", "input": "x"}}],
                },
            ],
        },
    ),
    (
        "chat-completions",
        {  # images and files
            "model": "gpt-4o",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this image?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/cat.png", "detail": "low"},
                        },
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        {"type": "file", "file": {"file_id": "file-abc"}},
                        {
                            "type": "file",
                            "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBER"},
                        },
                    ],
                }
            ],
        },
    ),
    (
        "chat-completions",
        {  # structured outputs
            "model": "gpt-4o-mini",
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "city-answer_1",
                    "strict": True,
                    "schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            },
        },
    ),
    ("chat-completions", {"model": "m", "messages": [USER], "response_format": {"type": "json_object"}}),
    (
        "chat-completions",
        {  # audio in and out
            "model": "gpt-4o-audio-preview",
            "modalities": ["text", "audio"],
            "audio": {"voice": "alloy", "format": "wav"},
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}}
                    ],
                },
                {"role": "assistant", "audio": {"id": "audio_1"}},
                {"role": "user", "content": "again"},
            ],
        },
    ),
    (
        "chat-completions",
        {  # other roles and part kinds
            "model": "o3",
            "reasoning_effort": "high",
            "max_completion_tokens": 1,
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "system", "content": "x", "name": "sys"},
                USER,
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
                {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
                {"role": "function", "name": "f", "content": None},
            ],
        },
    ),
    (
        "chat-completions",
        {  # every knob at an edge of its range
            "model": "m",
            "messages": [USER],
            "temperature": 2,
            "top_p": 0,
            "n": 128,
            "frequency_penalty": -2,
            "presence_penalty": 2,
            "stop": ["a", "b", "c", "d"],
            "logit_bias": {"50256": -100, "1": 100},
            "logprobs": True,
            "top_logprobs": 20,
            "seed": -9223372036854775808,
            "max_tokens": 1,
            "metadata": {f"k{i}": "v" for i in range(16)},
            "service_tier": "flex",
            "verbosity": "low",
            "store": True,
            "user": "u",
            "safety_identifier": "x" * 64,
            "prompt_cache_key": "k",
            "prompt_cache_retention": "24h",
            "prompt_cache_options": {"ttl": "30m", "mode": "explicit"},
            "prediction": {"type": "content", "content": "old text"},
            "stream": False,
            "stream_options": {"include_usage": True},
            "function_call": "auto",
            "functions": [{"name": "f", "parameters": {"type": "object"}}],
            "web_search_options": {
                "search_context_size": "high",
                "user_location": {"type": "approximate", "approximate": {"country": "FR"}},
            },
            "moderation": {
                "model": "omni-moderation-latest",
                "policy": {"input": {"mode": "block"}, "output": None},
            },
        },
    ),
    (
        "chat-completions",
        {  # null wherever the spec allows it
            "model": "m",
            "messages": [USER],
            "temperature": None,
            "top_p": None,
            "n": None,
            "stop": None,
            "logit_bias": None,
            "max_tokens": None,
            "max_completion_tokens": None,
            "metadata": None,
            "seed": None,
            "reasoning_effort": None,
            "service_tier": None,
            "audio": None,
            "prediction": None,
            "modalities": None,
            "stream_options": None,
            "top_logprobs": None,
            "logprobs": None,
            "safety_identifier": None,
        },
    ),
    (
        "chat-completions",
        {  # open-weight extras and extra fields inside messages are tolerated
            "model": "Qwen/Qwen3-8B",
            "messages": [{"role": "user", "content": "hi", "reasoning_content": ""}],
            "top_k": 40,
            "min_p": 0.05,
            "repetition_penalty": 1.1,
            "stop": "###",
        },
    ),
    ("embeddings", {"model": "text-embedding-3-small", "input": "The quick brown fox"}),
    (
        "embeddings",
        {
            "model": "text-embedding-3-small",
            "input": ["a", "b"],
            "encoding_format": "base64",
            "dimensions": 256,
            "user": "u",
        },
    ),
    ("embeddings", {"model": "m", "input": [1212, 318, 257]}),
    ("embeddings", {"model": "m", "input": [[1212, 318], [257]]}),
    (
        "completions",
        {
            "model": "gpt-3.5-turbo-instruct",
            "prompt": "Say this is a test",
            "max_tokens": 7,
            "temperature": 0,
            "echo": True,
            "logprobs": 5,
            "best_of": 2,
            "n": 1,
            "suffix": None,
        },
    ),
    ("completions", {"model": "m", "prompt": ["a", ""], "max_tokens": 0, "echo": True, "stop": "\n"}),
    ("completions", {"model": "m", "prompt": [[1, 2], [3]], "top_k": 5}),
    ("completions", {"model": "m", "prompt": None}),
    (
        "batch-output",
        {
            "id": "batch_req_1",
            "custom_id": "request-1",
            "error": None,
            "response": {
                "status_code": 200,
                "request_id": "req_1",
                "body": {"id": "chatcmpl-1", "object": "chat.completion"},
            },
        },
    ),
    (
        "batch-output",
        {
            "id": "batch_req_2",
            "custom_id": "request-2",
            "response": {
                "status_code": 400,
                "request_id": "req_2",
                "body": {
                    "error": {
                        "message": "bad",
                        "type": "invalid_request_error",
                        "param": "max_tokens",
                        "code": None,
                    }
                },
            },
            "error": None,
        },
    ),
    (
        "batch-output",
        {
            "id": "batch_req_3",
            "custom_id": "r3",
            "response": None,
            "error": {"code": "batch_expired", "message": "This request could not be executed."},
        },
    ),
    (
        "batch-output",
        {
            "id": "vllm-1",
            "custom_id": "r4",
            "error": "Request failed: model not found",
            "response": {"status_code": 400, "request_id": "vllm-batch-1", "body": None},
        },
    ),
    (
        "batch-output",
        {
            "id": "vllm-2",
            "custom_id": "r5",
            "response": {"status_code": 400, "request_id": "x"},
            "error": {"error": {"message": "m", "type": "BadRequestError", "param": None, "code": 400}},
            "usage": None,
        },
    ),
]


@pytest.mark.parametrize(("name", "body"), VALID, ids=[f"{n}-{i}" for i, (n, _) in enumerate(VALID)])
def test_valid_bodies(name, body):
    errors = [(list(e.absolute_path), e.message) for e in VALIDATORS[name].iter_errors(body)]
    assert errors == []
    assert RS_VALIDATORS[name].is_valid(body)


# ---- invalid bodies: one error, at the place the value was meant to go ------------------------------------------


def chat(**fields):
    return {"model": "m", "messages": [USER], **fields}


def user(*parts):
    return {"model": "m", "messages": [{"role": "user", "content": list(parts)}]}


INVALID = [
    # (schema, body, path of the error, keyword)
    ("chat-completions", chat(temperature=3), ["temperature"], "maximum"),
    ("chat-completions", chat(temperature="hot"), ["temperature"], "type"),
    ("chat-completions", chat(max_tokens=0), ["max_tokens"], "minimum"),
    ("chat-completions", chat(max_completion_tokens=0), ["max_completion_tokens"], "minimum"),
    ("chat-completions", chat(max_tokens=1.5), ["max_tokens"], "type"),
    ("chat-completions", chat(stop=["a", "b", "c", "d", "e"]), ["stop"], "maxItems"),
    ("chat-completions", chat(stop=[]), ["stop"], "minItems"),
    ("chat-completions", chat(stop=["a", 1]), ["stop", 1], "type"),
    ("chat-completions", chat(logit_bias={"50256": 200}), ["logit_bias", "50256"], "maximum"),
    ("chat-completions", chat(logit_bias={"50256": 0.5}), ["logit_bias", "50256"], "type"),
    ("chat-completions", chat(logit_bias={"hello": 1}), ["logit_bias"], "pattern"),
    ("chat-completions", chat(top_logprobs=21, logprobs=True), ["top_logprobs"], "maximum"),
    ("chat-completions", chat(top_logprobs=2), [], "required"),
    ("chat-completions", chat(top_logprobs=2, logprobs=False), ["logprobs"], "const"),
    ("chat-completions", chat(modalities=["text", "audio"]), [], "required"),
    ("chat-completions", chat(top_p=1.5), ["top_p"], "maximum"),
    ("chat-completions", chat(n=0), ["n"], "minimum"),
    ("chat-completions", chat(n=129), ["n"], "maximum"),
    ("chat-completions", chat(presence_penalty=-2.5), ["presence_penalty"], "minimum"),
    ("chat-completions", chat(reasoning_effort="extreme"), ["reasoning_effort"], "enum"),
    ("chat-completions", chat(metadata={f"k{i}": "v" for i in range(17)}), ["metadata"], "maxProperties"),
    ("chat-completions", chat(metadata={"k": 1}), ["metadata", "k"], "type"),
    ("chat-completions", chat(model=""), ["model"], "minLength"),
    ("chat-completions", chat(messages=[]), ["messages"], "minItems"),
    ("chat-completions", {"model": "m"}, [], "required"),
    (
        "chat-completions",
        chat(messages=[{"role": "robot", "content": "hi"}]),
        ["messages", 0, "role"],
        "enum",
    ),
    ("chat-completions", chat(messages=["hi"]), ["messages", 0], "type"),
    ("chat-completions", chat(messages=[{"content": "hi"}]), ["messages", 0], "required"),
    ("chat-completions", chat(messages=[{"role": "user"}]), ["messages", 0], "required"),
    ("chat-completions", chat(messages=[{"role": "user", "content": 5}]), ["messages", 0, "content"], "type"),
    (
        "chat-completions",
        chat(messages=[{"role": "user", "content": []}]),
        ["messages", 0, "content"],
        "minItems",
    ),
    ("chat-completions", chat(messages=[{"role": "assistant"}]), ["messages", 0], "required"),
    (
        "chat-completions",
        chat(messages=[USER, {"role": "tool", "content": "x"}]),
        ["messages", 1],
        "required",
    ),
    (
        "chat-completions",
        user({"type": "image_url", "image_url": {"url": "u", "detail": "ultra"}}),
        ["messages", 0, "content", 0, "image_url", "detail"],
        "enum",
    ),
    (
        "chat-completions",
        user({"type": "image_url", "image_url": "https://x"}),
        ["messages", 0, "content", 0, "image_url"],
        "type",
    ),
    (
        "chat-completions",
        user({"type": "input_audio", "input_audio": {"data": "x", "format": "ogg"}}),
        ["messages", 0, "content", 0, "input_audio", "format"],
        "enum",
    ),
    ("chat-completions", user({"type": "video", "video": {}}), ["messages", 0, "content", 0, "type"], "enum"),
    ("chat-completions", user({"text": "no type"}), ["messages", 0, "content", 0], "required"),
    ("chat-completions", user({"type": "text"}), ["messages", 0, "content", 0], "required"),
    (
        "chat-completions",
        chat(messages=[{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]),
        ["messages", 0, "content", 0, "type"],
        "enum",
    ),
    (
        "chat-completions",
        chat(messages=[{"role": "assistant", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]),
        ["messages", 0, "content", 0, "type"],
        "enum",
    ),
    (
        "chat-completions",
        chat(
            messages=[
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}
                    ],
                }
            ]
        ),
        ["messages", 0, "tool_calls", 0, "function", "arguments"],
        "type",
    ),
    ("chat-completions", chat(response_format={"type": "xml"}), ["response_format", "type"], "enum"),
    ("chat-completions", chat(response_format={"type": "json_schema"}), ["response_format"], "required"),
    (
        "chat-completions",
        chat(response_format={"type": "json_schema", "json_schema": {"name": "my schema"}}),
        ["response_format", "json_schema", "name"],
        "pattern",
    ),
    (
        "chat-completions",
        chat(response_format={"type": "json_schema", "json_schema": {"name": "x" * 65}}),
        ["response_format", "json_schema", "name"],
        "maxLength",
    ),
    ("chat-completions", chat(tools=[{"type": "retrieval"}]), ["tools", 0, "type"], "enum"),
    (
        "chat-completions",
        chat(tools=[{"type": "function", "function": {"name": "get weather"}}]),
        ["tools", 0, "function", "name"],
        "pattern",
    ),
    (
        "chat-completions",
        chat(tools=[{"type": "function", "function": {"name": "f", "parameters": "{}"}}]),
        ["tools", 0, "function", "parameters"],
        "type",
    ),
    ("chat-completions", chat(tool_choice="any"), ["tool_choice"], "enum"),
    ("chat-completions", chat(tool_choice={"type": "function"}), ["tool_choice"], "required"),
    ("chat-completions", chat(tool_choice={"type": "tool", "name": "f"}), ["tool_choice", "type"], "enum"),
    ("chat-completions", chat(function_call="required"), ["function_call"], "enum"),
    ("chat-completions", chat(stream="yes"), ["stream"], "type"),
    ("embeddings", {"model": "m", "input": ""}, ["input"], "minLength"),
    ("embeddings", {"model": "m", "input": []}, ["input"], "minItems"),
    ("embeddings", {"model": "m", "input": ["a", 1]}, ["input", 1], "type"),
    ("embeddings", {"model": "m", "input": [1, "a"]}, ["input", 1], "type"),
    ("embeddings", {"model": "m", "input": [[1], []]}, ["input", 1], "minItems"),
    ("embeddings", {"model": "m", "input": ["x"] * 2049}, ["input"], "maxItems"),
    ("embeddings", {"model": "m", "input": 5}, ["input"], "type"),
    ("embeddings", {"model": "m", "input": "x", "encoding_format": "hex"}, ["encoding_format"], "enum"),
    ("embeddings", {"model": "m", "input": "x", "dimensions": 0}, ["dimensions"], "minimum"),
    ("embeddings", {"input": "x"}, [], "required"),
    ("completions", {"model": "m", "prompt": "x", "logprobs": 6}, ["logprobs"], "maximum"),
    ("completions", {"model": "m", "prompt": "x", "best_of": 21}, ["best_of"], "maximum"),
    ("completions", {"model": "m", "prompt": "x", "max_tokens": -1}, ["max_tokens"], "minimum"),
    ("completions", {"model": "m", "prompt": "x", "stop": ["1", "2", "3", "4", "5"]}, ["stop"], "maxItems"),
    ("completions", {"model": "m", "prompt": {"text": "x"}}, ["prompt"], "type"),
    ("completions", {"model": "m"}, [], "required"),
    ("batch-output", {"id": "x", "response": None, "error": None}, [], "required"),
    (
        "batch-output",
        {"custom_id": "a", "response": {"status_code": "200"}},
        ["response", "status_code"],
        "type",
    ),
    ("batch-output", {"custom_id": "a", "response": {"request_id": "r"}}, ["response"], "required"),
    ("batch-output", {"custom_id": "a", "error": {"code": 1.5, "message": "m"}}, ["error", "code"], "type"),
    ("batch-output", {"custom_id": "a", "error": 42}, ["error"], "type"),
]


def meant(error):
    """The error inside the alternative the value was meant for: the anyOf branch whose type it has."""
    while error.validator in ("anyOf", "oneOf") and error.context:
        branches = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        candidates = [
            errs
            for errs in branches.values()
            if not any(e.validator == "type" and not e.relative_path for e in errs)
        ]
        if not candidates:
            return error  # the value has none of the types offered: the anyOf itself is the error
        (errs,) = candidates  # the branches start with distinct types, so at most one is meant
        assert len(errs) == 1, [e.message for e in errs]
        error = errs[0]
    return error


@pytest.mark.parametrize(
    ("name", "body", "path", "keyword"),
    INVALID,
    ids=[f"{n}-{'/'.join(map(str, p))}-{k}" for n, _, p, k in INVALID],
)
def test_invalid_bodies(name, body, path, keyword):
    errors = list(VALIDATORS[name].iter_errors(body))
    assert len(errors) == 1, [(list(e.absolute_path), e.validator, e.message) for e in errors]
    error = meant(errors[0])
    # an anyOf none of whose branches has the value's type is a type error (as the validator reports it)
    actual = "type" if error.validator in ("anyOf", "oneOf") else error.validator
    assert (list(error.absolute_path), actual) == (path, keyword)
    assert not RS_VALIDATORS[name].is_valid(body)
    assert best_match(VALIDATORS[name].iter_errors(body)) is not None


def test_unknown_role_is_exactly_one_enum_error():
    body = chat(messages=[{"role": "robot", "content": [{"type": "bogus"}], "tool_call_id": 5}])
    (error,) = VALIDATORS["chat-completions"].iter_errors(body)
    assert (error.json_path, error.validator, error.context) == ("$.messages[0].role", "enum", [])
    assert best_match([error]).json_path == "$.messages[0].role"


def test_bad_user_message_reports_only_user_branch_errors():
    body = chat(messages=[{"role": "user", "content": [{"type": "refusal", "refusal": "no"}]}])
    (error,) = VALIDATORS["chat-completions"].iter_errors(body)
    inner = meant(error)
    assert (inner.json_path, inner.validator) == ("$.messages[0].content[0].type", "enum")
    assert inner.validator_value == ["text", "image_url", "input_audio", "file"]


def test_every_problem_in_a_body_is_reported():
    body = chat(
        temperature=3,
        max_tokens=0,
        stop=["a"] * 5,
        top_logprobs=21,
        logprobs=True,
        messages=[{"role": "robot", "content": "x"}, {"role": "user"}],
    )
    found = sorted(
        (meant(e).json_path, meant(e).validator) for e in VALIDATORS["chat-completions"].iter_errors(body)
    )
    assert found == [
        ("$.max_tokens", "minimum"),
        ("$.messages[0].role", "enum"),
        ("$.messages[1]", "required"),
        ("$.stop", "maxItems"),
        ("$.temperature", "maximum"),
        ("$.top_logprobs", "maximum"),
    ]


@pytest.mark.parametrize("name", OWN)
def test_properties_have_descriptions(name):
    schema = ALL[name]
    undocumented = [
        key
        for key, sub in schema["properties"].items()
        if not (
            sub.get("description")
            or ("$ref" in sub and schema["$defs"][sub["$ref"].removeprefix("#/$defs/")].get("description"))
        )
    ]
    assert not undocumented


# ---- shape rules the validator's explanations rely on --------------------------------------------------------


def root_types(schema, node) -> set[str]:
    """The JSON types a branch accepts at its root (following local $refs); empty when it does not say."""
    while "$ref" in node and "type" not in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    types = node.get("type", [])
    types = set(types if isinstance(types, list) else [types])
    return types | {"integer"} if "number" in types else types


@pytest.mark.parametrize("name", OWN)
def test_alternatives_start_with_distinct_types(name):
    """Each anyOf branch states its type, and no two accept the same type: the value's type picks one branch."""
    schema = ALL[name]
    for path, node in walk(schema):
        if "anyOf" in node and "properties" not in path[-1:]:
            branch_types = [root_types(schema, branch) for branch in node["anyOf"]]
            assert all(branch_types), f"{path}: a branch has no type"
            for i, a in enumerate(branch_types):
                for b in branch_types[i + 1 :]:
                    assert not a & b, f"{path}: branches share {a & b}"
        assert "oneOf" not in node or "properties" in path[-1:], f"{path}: use anyOf with distinct types"


TOKENS = [
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
    "robot",
    "text",
    "image_url",
    "input_audio",
    "file",
    "refusal",
    "json_schema",
    "json_object",
    "auto",
    "low",
    "none",
    "required",
    "x y",
]
KEYS = [
    "role",
    "content",
    "type",
    "text",
    "name",
    "image_url",
    "url",
    "detail",
    "input_audio",
    "data",
    "format",
    "function",
    "arguments",
    "id",
    "tool_calls",
    "tool_call_id",
    "json_schema",
    "refusal",
    "file",
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-300, 300)
    | st.floats(-1e3, 1e3)
    | st.sampled_from(TOKENS)
    | st.text(max_size=3),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=3), children, max_size=5)
    ),
    max_leaves=15,
)
CHAT_FIELDS = sorted(ALL["chat-completions"]["properties"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    messages=st.lists(json_values, max_size=3),
    fields=st.dictionaries(st.sampled_from(CHAT_FIELDS), json_values, max_size=3),
)
def test_both_validators_agree(messages, fields):
    """batchkit decides validity with jsonschema_rs and explains with python-jsonschema: they must agree."""
    body = {"model": "m", "messages": [USER, *messages], **fields}
    errors = list(VALIDATORS["chat-completions"].iter_errors(body))
    assert RS_VALIDATORS["chat-completions"].is_valid(body) == (not errors)


@pytest.mark.parametrize(
    "pattern, text, matches",
    [
        ("^[a-z]+$", "abc", True),
        ("^[a-z]+$", "abc\n", False),
        ("^[$]+$", "$$", True),
        (r"^a\$$", "a$", True),
        (r"^a\$$", "a$\n", False),
        ("^(x|y$)", "y\n", False),
    ],
)
def test_patterns_mean_what_ecma_262_means(pattern, text, matches):
    import re

    from batchkit.schemas import python_pattern

    assert bool(re.search(python_pattern(pattern), text)) is matches
