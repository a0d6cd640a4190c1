"""The Responses, moderations, image generation and video body schemas: well-formed, faithful to the reference
spec, errors in the intended branch, the fast path identical to the reference path, and Responses results
read back."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema_rs
import msgspec
import orjson
import pytest
import test_schemas as base
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from test_fastpath import fast, reference

import batchkit
from batchkit import schemas
from batchkit.validate import validate_request
from batchkit.validate.explain import KEYWORD_CODES, pointer
from batchkit.validate.fastpath import line_decoder

# body schema → the spec component it follows
BODY_SCHEMAS = {
    "responses": "CreateResponse",
    "moderations": "CreateModerationRequest",
    "image-generations": "CreateImageRequest",
    "videos": "CreateVideoJsonBody",
}
URLS = {
    "responses": "/v1/responses",
    "moderations": "/v1/moderations",
    "image-generations": "/v1/images/generations",
    "videos": "/v1/videos",
}
NAMES = sorted(BODY_SCHEMAS)
ALL = base.ALL
VALIDATORS = {name: Draft202012Validator(ALL[name], registry=base.REGISTRY) for name in NAMES}
RS_REGISTRY = jsonschema_rs.Registry([(s["$id"], s) for s in ALL.values()])
RS_VALIDATORS = {name: jsonschema_rs.validator_for(ALL[name], registry=RS_REGISTRY) for name in NAMES}
# An input item may leave out its `type` (then it is a message, or an item reference): the one union whose
# discriminator is optional, and which also accepts `type: null`.
OPTIONAL_TAG = {("responses", ("$defs", "item"))}


def find_spec() -> Path | None:
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "reference" / "openai-openapi.yaml"
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def spec():
    path = find_spec()
    if path is None:
        pytest.skip("reference spec openai-openapi.yaml not found")
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)["components"]["schemas"]


# ---- wired in and well-formed ---------------------------------------------------------------------------------


def test_request_schema_picks_each_body_by_url():
    bodies = schemas.body_schemas()
    for name, url in URLS.items():
        assert bodies[url] == name
        assert bodies[url.removeprefix("/v1")] == name


def test_every_new_endpoint_has_a_fast_decoder():
    _, urls, _ = line_decoder()
    assert set(URLS.values()) <= set(urls.values())


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_well_formed(name):
    Draft202012Validator.check_schema(ALL[name])
    assert isinstance(RS_VALIDATORS[name], jsonschema_rs.Draft202012Validator)
    base.test_schema_header_and_titles(name)
    base.test_refs_are_local_and_resolve(name)
    base.test_no_format_keyword(name)
    base.test_required_names_are_declared(name)
    base.test_properties_have_descriptions(name)
    base.test_alternatives_start_with_distinct_types(name)


@pytest.mark.parametrize("name", NAMES)
def test_bodies_stay_open(name):
    for path, node in base.walk(ALL[name]):
        assert node.get("additionalProperties") is not False, path


@pytest.mark.parametrize("name", NAMES)
def test_discriminator_enums_list_exactly_their_branches(name):
    """A union's enum and its if/then branches name the same values, or a value would pass unchecked."""
    for path, node in base.walk(ALL[name]):
        consts: dict[str, list] = {}
        for branch in node.get("allOf", []):
            condition = branch["if"]
            for key, sub in condition.get("properties", {}).items():
                assert condition.get("type") == "object" and key in condition.get("required", []), path
                consts.setdefault(key, []).append(sub["const"])
        for key, values in consts.items():
            if (name, path) in OPTIONAL_TAG:
                assert node["properties"][key]["enum"] == [*values, None], path
                assert "then" in node and "required" not in node, path
            else:
                assert node["properties"][key]["enum"] == values, path
                assert key in node["required"], path


# ---- faithful to the reference spec ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_property_names_match_the_spec(spec, name):
    assert set(ALL[name]["properties"]) == set(base.spec_properties(spec, BODY_SCHEMAS[name]))


@pytest.mark.parametrize("name", NAMES)
def test_required_matches_the_spec(spec, name):
    required = set()

    def collect(node):
        node = base.spec_resolve(spec, node)
        for sub in node.get("allOf", []):
            collect(sub)
        required.update(node.get("required", []))

    collect(spec[BODY_SCHEMAS[name]])
    assert set(ALL[name].get("required", [])) == required


# Where a bound is deliberately looser than the spec's, and why.
LOOSER = {
    # OpenAI asks for at least 16; open-weight servers serving /v1/responses take any positive count.
    ("responses", "max_output_tokens", "minimum"): (16, 1),
}


@pytest.mark.parametrize("name", NAMES)
def test_enums_and_bounds_agree_with_the_spec(spec, name):
    """Every enum the spec states is ours exactly; our bounds are the spec's or tighter, except as listed."""
    ours = ALL[name]
    for prop, spec_node in base.spec_properties(spec, BODY_SCHEMAS[name]).items():
        spec_enum, spec_bounds = base.spec_constraints(spec, spec_node)
        our_enum, our_bounds = base.our_constraints(ours, ours["properties"][prop])
        if spec_enum:
            assert our_enum == spec_enum, prop
        for key, tighter in (("minimum", float.__ge__), ("maximum", float.__le__)):
            if key not in spec_bounds:
                continue
            if (name, prop, key) in LOOSER:
                assert (spec_bounds[key], our_bounds[key]) == LOOSER[name, prop, key]
                continue
            default = float("-inf") if key == "minimum" else float("inf")
            assert tighter(float(our_bounds.get(key, default)), float(spec_bounds[key])), prop


def spec_union_types(spec, component) -> list:
    """The discriminator values of a spec union, flattening nested unions, in order."""
    node = base.spec_resolve(spec, spec[component])
    out = []
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        target = base.spec_resolve(spec, branch)
        if "properties" not in target and ("oneOf" in target or "anyOf" in target):
            name = branch["$ref"].rsplit("/", 1)[-1]
            out += spec_union_types(spec, name)
            continue
        kind = target.get("properties", {}).get("type", {})
        out += kind.get("enum") or [v for alt in kind.get("anyOf", []) for v in alt.get("enum", [])]
    return list(dict.fromkeys(out))


def our_defs(name):
    return ALL[name]["$defs"]


@pytest.mark.parametrize(
    ("ours", "components"),
    [
        ("item", ["InputItem"]),
        ("inputContentPart", ["InputContent"]),
        ("functionOutputPart", ["InputContent"]),
        ("assistantContentPart", ["InputContent", "OutputMessageContent"]),
        ("tool", ["Tool"]),
        ("toolChoiceObject", ["ToolChoiceParam"]),
    ],
)
def test_responses_unions_cover_the_spec(spec, ours, components):
    expected = {value for c in components for value in spec_union_types(spec, c)}
    values = set(our_defs("responses")[ours]["properties"]["type"]["enum"]) - {None}
    assert values == expected


def test_responses_message_roles_and_text_formats_match_the_spec(spec):
    defs = our_defs("responses")
    roles = set()
    for component in ("EasyInputMessage", "InputMessage", "OutputMessage"):
        roles |= set(spec[component]["properties"]["role"]["enum"])
    assert set(defs["message"]["properties"]["role"]["enum"]) == roles
    formats = {
        base.spec_resolve(spec, b)["properties"]["type"]["enum"][0]
        for b in spec["TextResponseFormatConfiguration"]["oneOf"]
    }
    assert set(defs["textFormat"]["properties"]["type"]["enum"]) == formats


# our $defs (or a property's object branch) → the spec schemas whose properties it declares
NESTED = [
    ("responses", ("$defs", "inputMessage"), ["EasyInputMessage", "InputMessage", "OutputMessage"]),
    ("responses", ("$defs", "assistantMessage"), ["EasyInputMessage", "InputMessage", "OutputMessage"]),
    ("responses", ("$defs", "inputText"), ["InputTextContent"]),
    ("responses", ("$defs", "inputImage"), ["InputImageContent"]),
    ("responses", ("$defs", "inputFile"), ["InputFileContent"]),
    ("responses", ("$defs", "outputText"), ["OutputTextContent"]),
    ("responses", ("$defs", "refusal"), ["RefusalContent"]),
    ("responses", ("$defs", "functionCall"), ["FunctionToolCall"]),
    ("responses", ("$defs", "functionCallOutput"), ["FunctionCallOutputItemParam"]),
    ("responses", ("$defs", "itemReference"), ["ItemReferenceParam"]),
    ("responses", ("$defs", "functionTool"), ["FunctionTool"]),
    ("responses", ("$defs", "customTool"), ["CustomToolParam"]),
    ("responses", ("$defs", "allowedToolsChoice"), ["ToolChoiceAllowed"]),
    ("responses", ("$defs", "namedToolChoice"), ["ToolChoiceFunction", "ToolChoiceCustom"]),
    ("responses", ("$defs", "mcpToolChoice"), ["ToolChoiceMCP"]),
    ("responses", ("$defs", "textFormatJsonSchema"), ["TextResponseFormatJsonSchema"]),
    ("responses", ("properties", "reasoning", "anyOf", 0), ["Reasoning"]),
    ("responses", ("properties", "text"), ["ResponseTextParam"]),
    ("responses", ("properties", "prompt", "anyOf", 0), ["Prompt"]),
    ("responses", ("properties", "moderation", "anyOf", 0), ["ModerationParam"]),
    ("videos", ("properties", "input_reference"), ["ImageRefParam-2"]),
]


@pytest.mark.parametrize(("name", "where", "components"), NESTED, ids=[f"{n}-{w[-1]}" for n, w, _ in NESTED])
def test_nested_property_names_match_the_spec(spec, name, where, components):
    node = ALL[name]
    for key in where:
        node = node[key]
    expected = set()
    for component in components:
        target = base.spec_resolve(spec, spec[component])
        for branch in [target, *target.get("anyOf", [])]:
            expected |= set(base.spec_resolve(spec, branch).get("properties", {}))
    assert set(node["properties"]) == expected


# ---- errors land in the intended branch ----------------------------------------------------------------------


def responses(**fields):
    return {"model": "gpt-4.1-mini", "input": "Hi", **fields}


def user(*parts):
    return {"role": "user", "content": list(parts)}


INVALID = [
    (
        "responses",
        responses(input=[user({"type": "input_text", "text": "x"}, {"type": "image"})]),
        ["input", 0, "content", 1, "type"],
        "enum",
    ),
    (
        "responses",
        responses(input=[user({"type": "output_text", "text": "x"})]),
        ["input", 0, "content", 0, "type"],
        "enum",
    ),
    (
        "responses",
        responses(input=[user({"type": "input_text"})]),
        ["input", 0, "content", 0, "text"],
        "required",
    ),
    (
        "responses",
        responses(input=[user({"type": "input_image", "detail": "max"})]),
        ["input", 0, "content", 0, "detail"],
        "enum",
    ),
    (
        "responses",
        responses(
            input=[{"type": "message", "role": "user", "content": [{"type": "refusal", "refusal": "no"}]}]
        ),
        ["input", 0, "content", 0, "type"],
        "enum",
    ),
    (
        "responses",
        responses(input=[{"role": "assistant", "content": [{"type": "refusal"}]}]),
        ["input", 0, "content", 0, "refusal"],
        "required",
    ),
    ("responses", responses(input=[{"role": "robot", "content": "x"}]), ["input", 0, "role"], "enum"),
    ("responses", responses(input=[{"role": "user"}]), ["input", 0, "content"], "required"),
    ("responses", responses(input=[{"role": "user", "content": 5}]), ["input", 0, "content"], "type"),
    ("responses", responses(input=[{"type": "bogus"}]), ["input", 0, "type"], "enum"),
    ("responses", responses(input=[7]), ["input", 0], "type"),
    (
        "responses",
        responses(input=[{"type": "function_call", "call_id": "c", "name": "f", "arguments": {}}]),
        ["input", 0, "arguments"],
        "type",
    ),
    (
        "responses",
        responses(input=[{"type": "function_call_output", "output": "x"}]),
        ["input", 0, "call_id"],
        "required",
    ),
    (
        "responses",
        responses(input=[{"type": "function_call_output", "call_id": "", "output": "x"}]),
        ["input", 0, "call_id"],
        "minLength",
    ),
    (
        "responses",
        responses(
            input=[{"type": "function_call_output", "call_id": "c", "output": [{"type": "output_text"}]}]
        ),
        ["input", 0, "output", 0, "type"],
        "enum",
    ),
    ("responses", responses(input=[{"type": "item_reference"}]), ["input", 0, "id"], "required"),
    ("responses", responses(input={"role": "user"}), ["input"], "type"),
    ("responses", responses(instructions=["x"]), ["instructions"], "type"),
    ("responses", responses(max_output_tokens=0), ["max_output_tokens"], "minimum"),
    ("responses", responses(temperature=2.5), ["temperature"], "maximum"),
    ("responses", responses(top_logprobs=21), ["top_logprobs"], "maximum"),
    ("responses", responses(tools=[{"type": "function"}]), ["tools", 0, "name"], "required"),
    ("responses", responses(tools=[{"type": "function", "name": "a b"}]), ["tools", 0, "name"], "pattern"),
    (
        "responses",
        responses(tools=[{"type": "function", "function": {"name": "f"}}]),
        ["tools", 0, "name"],
        "required",
    ),
    ("responses", responses(tools=[{"type": "retrieval"}]), ["tools", 0, "type"], "enum"),
    ("responses", responses(tool_choice="any"), ["tool_choice"], "enum"),
    ("responses", responses(tool_choice={"type": "function"}), ["tool_choice", "name"], "required"),
    (
        "responses",
        responses(tool_choice={"type": "allowed_tools", "mode": "auto"}),
        ["tool_choice", "tools"],
        "required",
    ),
    (
        "responses",
        responses(text={"format": {"type": "json_schema", "name": "a", "schema": "{}"}}),
        ["text", "format", "schema"],
        "type",
    ),
    (
        "responses",
        responses(text={"format": {"type": "json_schema", "schema": {}}}),
        ["text", "format", "name"],
        "required",
    ),
    ("responses", responses(text={"format": {"type": "xml"}}), ["text", "format", "type"], "enum"),
    ("responses", responses(text={"verbosity": "loud"}), ["text", "verbosity"], "enum"),
    ("responses", responses(reasoning={"effort": "extreme"}), ["reasoning", "effort"], "enum"),
    ("responses", responses(reasoning="high"), ["reasoning"], "type"),
    ("responses", responses(include=["everything"]), ["include", 0], "enum"),
    ("responses", responses(conversation=5), ["conversation"], "type"),
    ("responses", responses(metadata={"k": 1}), ["metadata", "k"], "type"),
    ("moderations", {"model": "m"}, ["input"], "required"),
    ("moderations", {"input": 7}, ["input"], "type"),
    ("moderations", {"input": ["a", 7]}, ["input", 1], "type"),
    ("moderations", {"input": [{"type": "image_url"}]}, ["input", 0, "image_url"], "required"),
    (
        "moderations",
        {"input": [{"type": "image_url", "image_url": {}}]},
        ["input", 0, "image_url", "url"],
        "required",
    ),
    ("moderations", {"input": [{"type": "audio"}]}, ["input", 0, "type"], "enum"),
    ("image-generations", {"model": "m"}, ["prompt"], "required"),
    ("image-generations", {"prompt": ""}, ["prompt"], "minLength"),
    ("image-generations", {"prompt": "x", "n": 11}, ["n"], "maximum"),
    ("image-generations", {"prompt": "x", "quality": "ultra"}, ["quality"], "enum"),
    ("image-generations", {"prompt": "x", "partial_images": 4}, ["partial_images"], "maximum"),
    ("image-generations", {"prompt": "x", "size": 1024}, ["size"], "type"),
    ("videos", {"model": "sora-2"}, ["prompt"], "required"),
    ("videos", {"prompt": "x" * 32001}, ["prompt"], "maxLength"),
    ("videos", {"prompt": "x", "seconds": 4}, ["seconds"], "enum"),
    ("videos", {"prompt": "x", "input_reference": {"file_id": 5}}, ["input_reference", "file_id"], "type"),
]


@pytest.mark.parametrize(
    ("name", "body", "path", "keyword"),
    INVALID,
    ids=[f"{n}-{'/'.join(map(str, p))}-{k}" for n, _, p, k in INVALID],
)
def test_invalid_bodies_give_one_finding_in_the_intended_branch(name, body, path, keyword):
    """One schema error, explained as one finding where the value was meant to go (a missing field's path
    names the field)."""
    assert not RS_VALIDATORS[name].is_valid(body)
    assert len(list(VALIDATORS[name].iter_errors(body))) == 1
    findings = [
        (f.code, f.path) for f in validate_request(request(name, body), "generic") if f.severity == "error"
    ]
    assert findings == [(KEYWORD_CODES[keyword], pointer(["body", *path]))]


def test_hosted_tool_items_and_tools_are_checked_by_type_only():
    """A replayed item or a built-in tool passes as the API gave it; its `type` must still be a known one."""
    body = responses(
        input=[{"type": "reasoning", "id": 5, "anything": [1]}, {"type": "mcp_call", "x": None}],
        tools=[{"type": "mcp", "server_label": 3}],
        tool_choice={"type": "image_generation"},
    )
    assert not list(VALIDATORS["responses"].iter_errors(body))


def request(name, body, custom_id="r1"):
    return {"custom_id": custom_id, "method": "POST", "url": URLS[name], "body": body}


def test_a_bad_part_in_a_responses_message_is_one_finding_at_its_pointer():
    body = responses(
        input=[{"role": "user", "content": [{"type": "input_text", "text": "x"}, {"type": "image"}]}]
    )
    (finding,) = validate_request(request("responses", body), "openai")
    assert (finding.code, finding.path) == ("invalid-value", "/body/input/0/content/1/type")
    assert '"input_text", "input_image", "input_file"' in finding.message


def test_a_message_without_type_is_checked_as_a_message():
    (finding,) = validate_request(
        request("responses", responses(input=[{"role": "user", "content": 5}])), "openai"
    )
    assert (finding.code, finding.path) == ("wrong-type", "/body/input/0/content")
    # with an `id` and no `role` it is an item reference (whose `type` may be null)
    assert (
        validate_request(request("responses", responses(input=[{"id": "msg_1", "type": None}])), "openai")
        == []
    )
    (finding,) = validate_request(request("responses", responses(input=[{"id": 5}])), "openai")
    assert (finding.code, finding.path) == ("wrong-type", "/body/input/0/id")


def test_unknown_top_level_fields_are_warnings():
    for name, body in [
        ("responses", responses(max_tokens=5)),
        ("moderations", {"input": "x", "threshold": 1}),
        ("image-generations", {"prompt": "x", "seed": 1}),
        ("videos", {"prompt": "x", "fps": 24}),
    ]:
        (finding,) = validate_request(request(name, body), "openai")
        assert (finding.code, finding.severity) == ("unknown-field", "warning"), name
        assert finding.path == f"/body/{next(iter(set(body) - set(ALL[name]['properties'])))}"


# ---- the fast path gives the reference path's findings -------------------------------------------------------

text = st.text(max_size=8)
name_ = st.from_regex(r"[a-zA-Z0-9_-]{1,12}", fullmatch=True)
input_parts = st.one_of(
    st.builds(lambda t: {"type": "input_text", "text": t}, text),
    st.fixed_dictionaries(
        {"type": st.just("input_image")},
        optional={
            "image_url": st.sampled_from(["https://example.com/a.png", "data:image/png;base64,iVBOR", None]),
            "file_id": st.sampled_from(["file-1", None]),
            "detail": st.sampled_from(["low", "high", "auto", "original"]),
        },
    ),
    st.fixed_dictionaries(
        {"type": st.just("input_file")},
        optional={"file_id": st.just("file-2"), "filename": st.just("a.pdf"), "file_data": st.just("JVBER")},
    ),
)
output_parts = st.one_of(
    st.builds(lambda t: {"type": "output_text", "text": t, "annotations": []}, text),
    st.builds(lambda t: {"type": "refusal", "refusal": t}, text),
)
content = st.one_of(text, st.lists(input_parts, max_size=3))
typed = st.sampled_from([{}, {"type": "message"}])
messages = st.one_of(
    st.builds(
        lambda r, c, t: {"role": r, "content": c, **t},
        st.sampled_from(["user", "system", "developer"]),
        content,
        typed,
    ),
    st.builds(
        lambda c, t: {"role": "assistant", "content": c, **t},
        st.one_of(text, st.lists(st.one_of(input_parts, output_parts), max_size=3)),
        typed,
    ),
)
calls = st.builds(
    lambda i, n: {"type": "function_call", "call_id": i, "name": n, "arguments": "{}"}, name_, name_
)
outputs = st.builds(
    lambda i, o: {"type": "function_call_output", "call_id": i, "output": o},
    name_,
    st.one_of(text, st.lists(input_parts, max_size=2)),
)
items = st.one_of(
    messages,
    calls,
    outputs,
    st.builds(lambda i: {"type": "item_reference", "id": i}, name_),
    st.just({"type": "reasoning", "id": "rs_1", "summary": []}),
)
# a schema strict mode accepts (validate/strict.py), so "valid" stays true under OpenAI's rules
STRICT_OBJECT = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}
tools = st.one_of(
    st.builds(
        lambda n, s: {"type": "function", "name": n, "parameters": STRICT_OBJECT, "strict": s},
        name_,
        st.sampled_from([True, False, None]),
    ),
    st.builds(lambda n: {"type": "custom", "name": n}, name_),
    st.sampled_from([{"type": "web_search"}, {"type": "file_search", "vector_store_ids": ["vs_1"]}]),
)
text_formats = st.one_of(
    st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
    st.builds(
        lambda n, s: {"type": "json_schema", "name": n, "schema": STRICT_OBJECT, "strict": s},
        name_,
        st.booleans(),
    ),
)
responses_bodies = st.fixed_dictionaries(
    {"model": st.sampled_from(["gpt-4.1-mini", "o3"])},
    optional={
        "input": st.one_of(text, st.lists(items, max_size=4)),
        "instructions": st.one_of(text, st.none()),
        "tools": st.lists(tools, max_size=2),
        "tool_choice": st.one_of(
            st.sampled_from(["none", "auto", "required"]),
            st.builds(lambda n: {"type": "function", "name": n}, name_),
        ),
        "text": st.fixed_dictionaries(
            {}, optional={"format": text_formats, "verbosity": st.sampled_from(["low", "high"])}
        ),
        "reasoning": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {}, optional={"effort": st.sampled_from(["low", "high"]), "summary": st.just("auto")}
            ),
        ),
        "max_output_tokens": st.one_of(st.integers(1, 10**6), st.none()),
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "parallel_tool_calls": st.booleans(),
        "store": st.booleans(),
        "metadata": st.dictionaries(name_, text, max_size=3),
        "previous_response_id": st.just("resp_1"),
        "service_tier": st.sampled_from(["auto", "flex", None]),
        "stream": st.just(False),
    },
)


def file_of(bodies) -> bytes:
    return b"".join(orjson.dumps(request("responses", b, f"r{i}")) + b"\n" for i, b in enumerate(bodies))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(responses_bodies, min_size=1, max_size=6), st.sampled_from(["openai", "generic"]))
def test_generated_responses_bodies_valid_and_same_findings_on_both_paths(bodies, provider):
    for body in bodies:
        body["model"] = bodies[0]["model"]  # OpenAI takes one model per file
        assert not list(VALIDATORS["responses"].iter_errors(body)), body
    data = file_of(bodies)
    assert fast(data, provider) == reference(data, provider)
    assert fast(data, provider)["valid"]


def slots(node, out=None) -> list:
    """Every (container, key) in a JSON value: the places one value can be swapped."""
    out = [] if out is None else out
    pairs = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in pairs:
        out.append((node, key))
        slots(value, out)
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses_bodies, st.sampled_from([*base.TOKENS, 0, -1, 1.5, None, [], {}]), st.data())
def test_a_broken_responses_body_same_findings_on_both_paths(body, value, data):
    """One value swapped anywhere in a valid body: whichever path takes the line, the findings agree."""
    # copies: the strategies hand out shared constants ([] and {} above), which must never be changed
    body, value = copy.deepcopy(body), copy.deepcopy(value)
    container, key = data.draw(st.sampled_from(slots(body)))  # a body always has its model
    container[key] = value
    raw = file_of([body])
    assert fast(raw, "openai") == reference(raw, "openai")


def test_plain_responses_lines_take_the_fast_path():
    decode, urls, _ = line_decoder()
    for body in [
        responses(),
        responses(instructions="Be brief.", max_output_tokens=50, reasoning={"effort": "low"}),
        responses(input=[{"type": "function_call_output", "call_id": "c", "output": "ok"}]),
    ]:
        assert urls[type(decode(orjson.dumps(request("responses", body))))] == "/v1/responses"
    # tools and text formats stay on it, undecoded: the validator decides them by value (validate/strict.py)
    for body, field in [
        (responses(tools=[{"type": "function", "name": "f", "parameters": {}}], tool_choice="auto"), "tools"),
        (responses(text={"format": {"type": "json_schema", "name": "a", "schema": {}}}), "text"),
    ]:
        assert isinstance(getattr(decode(orjson.dumps(request("responses", body))).body, field), msgspec.Raw)
    for name, body in [
        ("moderations", {"model": "omni-moderation-latest", "input": ["a", "b"]}),
        ("image-generations", {"model": "gpt-image-1", "prompt": "a cat", "n": 2}),
        ("videos", {"model": "sora-2", "prompt": "a boat", "seconds": "8"}),
    ]:
        assert urls[type(decode(orjson.dumps(request(name, body))))] == URLS[name]


@pytest.mark.parametrize(
    "body",
    [
        {"input": "no model"},
        {"model": None, "prompt": "x"},
    ],
)
def test_a_body_without_a_string_model_takes_the_reference_path(body):
    decode, _, _ = line_decoder()
    name = "responses" if "input" in body else "image-generations"
    raw = orjson.dumps(request(name, body))
    with pytest.raises(Exception):  # noqa: B017 (msgspec's ValidationError)
        decode(raw)
    data = raw + b"\n" + orjson.dumps(request(name, {**body, "model": "m"}, "r2")) + b"\n"
    assert fast(data, "openai") == reference(data, "openai")
    assert fast(data, "openai")["summary"]["models"] == {"m": 1}


# ---- Responses results are read --------------------------------------------------------------------------------


def test_a_responses_output_line_is_read(tmp_path):
    line = {
        "id": "batch_req_1",
        "custom_id": "r1",
        "response": {
            "status_code": 200,
            "request_id": "req_1",
            "body": {
                "id": "resp_1",
                "object": "response",
                "created_at": 1741476542,
                "status": "completed",
                "model": "gpt-4.1-mini-2025-04-14",
                "output": [
                    {"type": "reasoning", "id": "rs_1", "summary": []},
                    {
                        "type": "message",
                        "id": "msg_1",
                        "status": "completed",
                        "role": "assistant",
                        "content": [
                            {"type": "output_text", "text": "Buenos ", "annotations": []},
                            {"type": "output_text", "text": "Aires", "annotations": []},
                        ],
                    },
                    {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"},
                ],
                "usage": {"input_tokens": 36, "output_tokens": 87, "total_tokens": 123},
            },
        },
        "error": None,
    }
    path = tmp_path / "output.jsonl"
    path.write_bytes(orjson.dumps(line) + b"\n")
    (record,) = batchkit.read_results(path)
    assert (record.custom_id, record.status, record.content) == ("r1", "ok", "Buenos Aires")
    assert (record.prompt_tokens, record.completion_tokens, record.total_tokens) == (36, 87, 123)
    assert (record.model, record.created, record.finish_reason) == (
        "gpt-4.1-mini-2025-04-14",
        1741476542,
        "completed",
    )
    assert orjson.loads(record.tool_calls) == [line["response"]["body"]["output"][2]]
