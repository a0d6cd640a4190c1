"""The Gemini API batch line `{key, request}`, `request` a GenerateContentRequest, and the conversion of
a GenerateContentRequest to and from an OpenAI chat body (Vertex uses it too).

System messages become `systemInstruction`; images become `inlineData` (data URLs) or `fileData`; tool
calls and results become `functionCall` / `functionResponse` parts (a result's text rides as
`response.content`). The model is the job's, so it is not written on the line. A json_schema response
format becomes `responseMimeType` + `responseSchema`; its name has no place there and reads back as
"response". A message of one text part reads back as a plain string."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass

import orjson

from . import gemini_schema, results
from .base import Dialect, Request
from .chat import (
    CHAT,
    SYSTEM_ROLES,
    TOOL_ERROR,
    Chat,
    Context,
    as_list,
    chat_messages,
    child,
    data_url,
    dict_at,
    file_data_of,
    file_part,
    function_names,
    function_tools,
    image_of,
    inner,
    leftover,
    list_at,
    max_tokens_of,
    tool_arguments,
    tool_text,
)
from .fields import known_fields, unknown_fields

GENERATE = "generateContent"  # what each line asks of the job's model
TARGET = "Gemini"
JSON = "application/json"
SCHEMA_NAME = "response"

CHAT_FIELDS = frozenset(
    "model messages max_tokens max_completion_tokens stop temperature top_p top_k n seed presence_penalty "
    "frequency_penalty response_format tools tool_choice stream logprobs top_logprobs".split()
)
# chat body field → generationConfig field
CONFIG = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "logprobs": "responseLogprobs",
    "top_logprobs": "logprobs",
}
CONFIG_IN = {v: k for k, v in CONFIG.items()}
REQUEST_FIELDS = frozenset(
    {"contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "model"}
)
MODES_OUT = {"auto": "AUTO", "required": "ANY", "none": "NONE"}
MODES_IN = {v: k for k, v in MODES_OUT.items()}
# The image types Gemini reads (ai.google.dev/gemini-api/docs/image-understanding, "Supported image
# formats"; Vertex AI's "Image understanding" lists the same), and the file extensions that name them.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
IMAGE_EXTENSIONS = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
}


@dataclass(frozen=True)
class Target:
    """What differs between the Gemini API and Vertex AI for the same GenerateContentRequest: a truthy
    `additionalProperties` in a schema (the SDK's converter refuses it on the Gemini API), and an inline
    file's name (`displayName`: Vertex's Blob has it, the Gemini API's converter refuses it)."""

    name: str
    schema: gemini_schema.SchemaTarget
    file_names: bool


GEMINI_API = Target(TARGET, gemini_schema.SchemaTarget(TARGET, open_objects=False), file_names=False)
VERTEX_AI = Target("Vertex", gemini_schema.SchemaTarget("Vertex", open_objects=True), file_names=True)


class Gemini(Dialect):
    name = "gemini"
    schema = "gemini-request"
    id_path = ("key",)
    body_field = "request"
    id_pattern = None
    home = "gemini"
    result_members = frozenset(("response", "error"))

    def looks_like(self, obj: dict) -> bool:
        return "key" in obj and "request" in obj

    def endpoint_of(self, obj: dict, body: dict) -> str | None:
        return GENERATE

    def to_chat(self, obj: dict, ctx: Context) -> Chat | None:
        request = inner(obj, self.body_field, "a GenerateContentRequest", ctx)
        if request is None:
            return None
        return Chat(obj.get("key"), chat_from_request(request, "/request", ctx), CHAT, "/request")

    def from_chat(self, chat: Chat, ctx: Context) -> dict | None:
        converted = request_from_chat(chat, ctx, GEMINI_API)
        return None if converted is None else {"key": chat.id, "request": converted}

    def body_findings(self, request: Request, job_model: str | None) -> list:
        return request_findings(request.body, "/request", request.line)

    def holds_result(self, obj: dict) -> bool:
        return "key" in obj and ("response" in obj or "error" in obj)

    def result(self, obj: dict) -> dict:
        return results.from_gemini(obj.get("key"), obj.get("response"), obj.get("error"))


def conversation_key(request) -> str | None:
    """A key for what a GenerateContentRequest asks: its system instruction and contents, part by part (text,
    files, function calls and results), so a prediction that echoes the request finds it. Vertex echoes the
    request as written but with every field any line of the file used, null where the line had none (the
    batch-generation sample's output in meteatamel/genai-beyond-basics): so nulls are left out, both
    spellings (camelCase, snake_case) read as one, and one part or content written as an object is a list
    of one. None when there is no conversation."""
    request = _plain(request) if isinstance(request, dict) else {}
    turns = [
        ("system", request.get("systemInstruction")),
        *(("turn", c) for c in as_list(request.get("contents") or [])),
    ]
    said = [
        [kind, content.get("role", "user"), parts_of(content)]
        for kind, content in turns
        if isinstance(content, dict)
    ]
    if not said:
        return None
    return "request:" + hashlib.sha256(orjson.dumps(said, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]


def _plain(value):
    """`value` with its keys in camelCase and its null fields left out (a null field is an absent one)."""
    if isinstance(value, dict):
        return {camel(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parts_of(content: dict) -> list:
    """A content's parts: a list, or one part written as an object (as Google's REST samples do)."""
    parts = content.get("parts")
    return [parts] if isinstance(parts, dict) else parts if isinstance(parts, list) else []


def camel(key: str) -> str:
    """generation_config → generationConfig: the API reads both spellings of its fields."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key)


def _known(*where: str) -> frozenset[str]:
    """A GenerateContentRequest object's fields in the line schema, in camelCase (both spellings read)."""
    return frozenset(camel(k) for k in known_fields("gemini-request", "$defs", *where))


REQUEST_KNOWN = _known("GenerateContentRequest")
CONFIG_KNOWN = _known("GenerationConfig")
PART_KNOWN = _known("Part")


def request_findings(request: dict, at: str, line: int | None) -> list:
    """Fields the API does not know in a GenerateContentRequest, its generationConfig and its parts: the
    API refuses them ("Unknown name"), and the line schema leaves these objects open to say which."""
    out = unknown_fields(request, REQUEST_KNOWN, at, line, "a GenerateContentRequest", camel)
    config_key = next((k for k in request if camel(k) == "generationConfig"), "generationConfig")
    config_at = child(at, config_key)
    out += unknown_fields(request.get(config_key), CONFIG_KNOWN, config_at, line, "a generationConfig", camel)
    turns = [(child(at, k), c) for k, c in request.items() if camel(k) == "systemInstruction"]
    turns += [(child(at, "contents", i), c) for i, c in enumerate(list_at(request, "contents"))]
    for content_at, content in turns:
        parts = content.get("parts") if isinstance(content, dict) else None
        located = (
            [(child(content_at, "parts"), parts)]
            if isinstance(parts, dict)
            else [(child(content_at, "parts", j), part) for j, part in enumerate(_parts_or_none(content))]
        )
        for part_at, part in located:
            out += unknown_fields(part, PART_KNOWN, part_at, line, "a Part", camel)
    return out


def _parts_or_none(content) -> list:
    """A content's parts; none for a content that is no object (the schema's finding)."""
    return parts_of(content) if isinstance(content, dict) else []


# ---- OpenAI chat → GenerateContentRequest -------------------------------------------------------------------


def request_from_chat(request: Chat, ctx: Context, target: Target = GEMINI_API) -> dict | None:
    body, at = request.body, request.at
    if request.kind != CHAT:
        ctx.error("unsupported-field", at, f"{target.name} takes chat requests only, not {request.kind}")
        return None
    leftover(body, CHAT_FIELDS, at, ctx, target.name)
    messages = body.get("messages") or []
    system, contents = _contents_out(messages, child(at, "messages"), ctx, target)
    converted: dict = {"contents": contents}
    if system:
        converted["systemInstruction"] = {"parts": system}
    _tools_out(body, converted, at, ctx, target)
    config = _config_out(body, at, ctx, target)
    if config:
        converted["generationConfig"] = config
    if body.get("stream") is True:
        ctx.unsupported(child(at, "stream"), "a batch request cannot stream", "unsupported-value")
    return converted


def _config_out(body: dict, at: str, ctx: Context, target: Target) -> dict:
    config: dict = {}
    tokens = max_tokens_of(body) or ctx.max_tokens
    if tokens is not None:
        config["maxOutputTokens"] = tokens
    if body.get("stop") is not None:
        config["stopSequences"] = as_list(body["stop"])
    for key, name in CONFIG.items():
        if key in body:
            config[name] = body[key]
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        spec = response_format["json_schema"]
        leftover(
            spec,
            {"name", "schema", "strict", "description"},
            child(at, "response_format", "json_schema"),
            ctx,
            target.name,
        )
        config["responseMimeType"] = JSON
        if "schema" in spec:
            path = child(at, "response_format", "json_schema", "schema")
            config["responseSchema"] = gemini_schema.to_gemini(
                spec["schema"], path, ctx, target.schema.response()
            )
    elif kind == "json_object":
        config["responseMimeType"] = JSON
    elif response_format is not None and kind != "text":
        ctx.unsupported(child(at, "response_format"), f"{target.name} has no response_format {kind!r}")
    return config


def _tools_out(body: dict, converted: dict, at: str, ctx: Context, target: Target) -> None:
    if body.get("tools") is not None:
        declarations = [
            _declaration(function, path, ctx, target)
            for path, function in function_tools(body, at, ctx, target.name)
        ]
        converted["tools"] = [{"functionDeclarations": declarations}]
    choice = body.get("tool_choice")
    config = None
    if isinstance(choice, str) and choice in MODES_OUT:
        config = {"mode": MODES_OUT[choice]}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        config = {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name")]}
    elif choice is not None:
        ctx.unsupported(child(at, "tool_choice"), f"{target.name} has no tool_choice {choice!r}")
    if config is not None:
        converted["toolConfig"] = {"functionCallingConfig": config}


def _declaration(function: dict, at: str, ctx: Context, target: Target) -> dict:
    """A FunctionDeclaration for the tool at `at`: only its own fields (what else the function has was
    reported), the parameters in Gemini's schema subset."""
    declaration = {k: function[k] for k in ("name", "description") if k in function}
    if "parameters" in function:
        path = child(at, "function", "parameters")
        declaration["parameters"] = gemini_schema.to_gemini(function["parameters"], path, ctx, target.schema)
    return declaration


def _contents_out(messages: list, at: str, ctx: Context, target: Target):
    names = function_names(messages)
    system: list = []
    contents: list = []
    for role, message, path in chat_messages(messages, at, ctx, target.name):
        content, content_at = message.get("content"), child(path, "content")
        if role in SYSTEM_ROLES:
            system.extend(_parts_out(content, content_at, ctx, target))
        elif role == "tool":
            part = _function_response(message, names, path, ctx, target.name)
            last = contents[-1] if contents else None
            if part is None:
                continue
            if last and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        elif role == "user":
            contents.append({"role": "user", "parts": _parts_out(content, content_at, ctx, target)})
        else:
            parts = _parts_out(content, content_at, ctx, target) if content else []
            for j, call in enumerate(message.get("tool_calls") or []):
                function = call.get("function") if isinstance(call, dict) else None
                arguments = tool_arguments(function, child(path, "tool_calls", j), ctx, target.name)
                if arguments is not None:
                    call_part = {"id": call.get("id"), "name": function.get("name"), "args": arguments}
                    parts.append({"functionCall": call_part})
            contents.append({"role": "model", "parts": parts})
    return system, contents


def _function_response(message: dict, names: dict, at: str, ctx: Context, target: str) -> dict | None:
    """The functionResponse part for a tool message (None when no earlier call names its function)."""
    call_id = message.get("tool_call_id")
    if call_id not in names:
        message_text = (
            f"{target} names the function a result answers; no earlier tool call has id {call_id!r}"
        )
        ctx.unsupported(at, message_text)
        return None
    text = tool_text(message.get("content"), child(at, "content"), ctx, target)
    # Gemini reads a response's `error` key as the function's failure (FunctionResponse.response)
    response = {"error": text} if message.get(TOOL_ERROR) is True else {"content": text}
    return {"functionResponse": {"id": call_id, "name": names.get(call_id), "response": response}}


def _parts_out(content, at: str, ctx: Context, target: Target) -> list:
    if content is None or isinstance(content, str):
        return [{"text": content or ""}]
    parts = []
    for i, part in enumerate(as_list(content)):
        path = child(at, i)
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            leftover(part, {"type", "text"}, path, ctx, target.name)
            parts.append({"text": part.get("text")})
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            leftover(part, {"type", "image_url"}, path, ctx, target.name)
            image = _image_out(part["image_url"], child(path, "image_url"), ctx, target.name)
            parts.extend([image] if image is not None else [])
        elif kind == "file":
            parts.extend(_file_out(part, path, ctx, target))
        else:
            ctx.unsupported(path, f"{target.name} has no {kind!r} content part")
    return parts


def _file_out(part: dict, at: str, ctx: Context, target: Target) -> list:
    inline = file_data_of(part, at, ctx, target.name)
    if inline is None:
        return []
    blob = {"mimeType": inline[0], "data": inline[1]}
    name = part["file"].get("filename")
    if name is not None and target.file_names:
        blob["displayName"] = name
    elif name is not None:
        ctx.unsupported(child(at, "file", "filename"), f"{target.name} has no file name (Vertex has)")
    return [{"inlineData": blob}]


def _image_out(image: dict, at: str, ctx: Context, target: str) -> dict | None:
    """The part for an image (None after a finding when Gemini cannot read its type)."""
    url, inline = image_of(image, at, ctx, target)
    mime = inline[0] if inline else _url_image_type(url)
    if mime not in IMAGE_TYPES:
        said = (
            f"not {mime}"
            if mime
            else f"and the URL {url[:80]!r} does not say which (no image file extension)"
        )
        ctx.unsupported(at, f"{target} takes images as {', '.join(IMAGE_TYPES)}, {said}", "unsupported-value")
        return None
    if inline:
        return {"inlineData": {"mimeType": mime, "data": inline[1]}}
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def _url_image_type(url: str) -> str | None:
    """The image type a URL's file extension names (another type it names, for the message; None)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    extension = path[path.rfind(".") :].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return IMAGE_EXTENSIONS.get(extension) or (mimetypes.guess_type(path)[0] if extension else None)


# ---- GenerateContentRequest → OpenAI chat -------------------------------------------------------------------


def chat_from_request(request: dict, at: str, ctx: Context) -> dict:
    request = {camel(k): v for k, v in request.items()}
    leftover(request, REQUEST_FIELDS, at, ctx, "an OpenAI chat request")
    body: dict = {"model": ctx.model} if ctx.model else {}
    messages = []
    system = request.get("systemInstruction")
    if isinstance(system, dict):
        messages.append(
            {
                "role": "system",
                "content": _content_in(parts_of(system), child(at, "systemInstruction", "parts"), ctx),
            }
        )
    pending: dict = {}  # function name → ids of the last model turn's calls its responses have not taken
    for i, content in enumerate(list_at(request, "contents")):
        messages.extend(_message_in(content, child(at, "contents", i), ctx, i, pending))
    body["messages"] = messages
    _config_in(request.get("generationConfig"), body, child(at, "generationConfig"), ctx)
    _tools_in(request, body, at, ctx)
    return body


def _message_in(content, at: str, ctx: Context, turn: int, pending: dict) -> list:
    """The chat messages for one content; `pending` holds the call ids of the last model turn by function
    name, which its function responses take in order."""
    if not isinstance(content, dict):
        ctx.unsupported(at, "a content must be an object")
        return []
    parts = parts_of(content)
    if content.get("role", "user") == "model":
        return _model_message_in(parts, at, ctx, turn, pending)
    out = []
    others = []
    for i, part in enumerate(parts):
        answer = part.get("functionResponse") if isinstance(part, dict) else None
        if isinstance(answer, dict):
            out.append(_tool_in(answer, pending))
        else:
            others.append((i, part))
    if others or not out:
        out.append(
            {
                "role": "user",
                "content": _content_in(
                    [p for _, p in others], child(at, "parts"), ctx, [i for i, _ in others]
                ),
            }
        )
    return out


def _model_message_in(parts: list, at: str, ctx: Context, turn: int, pending: dict) -> list:
    texts, calls = [], []
    pending.clear()
    for i, part in enumerate(parts):
        path = child(at, "parts", i)
        part = {camel(k): v for k, v in part.items()} if isinstance(part, dict) else {}
        if _thought(part, path, ctx):
            continue
        call = part.get("functionCall")
        if isinstance(call, dict):
            leftover(part, {"functionCall", *SIGNATURE}, path, ctx, "an OpenAI tool call")
            name = call.get("name")
            calls_of_name = pending.setdefault(name if isinstance(name, str) else None, [])
            call_id = call.get("id") or _call_id(name, turn, len(calls_of_name))
            calls_of_name.append(call_id)
            arguments = orjson.dumps(call.get("args", {})).decode()
            calls.append(
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            )
        elif "text" in part:
            leftover(part, {"text", *SIGNATURE}, path, ctx, "an OpenAI assistant message")
            texts.append(part["text"])
        else:
            ctx.unsupported(path, "an OpenAI assistant message holds text and tool calls only")
    message = {"role": "assistant", "content": "".join(texts) if texts else None}
    return [message | {"tool_calls": calls}] if calls else [message]


def _call_id(name, turn: int, nth: int) -> str:
    """An id for a function call written without one. Gemini pairs a turn's calls and its responses by
    name and order, so the id says which content, which function and which call of it (two calls of one
    function must not share an id); only the characters every dialect's ids take."""
    return "call_" + re.sub(r"[^A-Za-z0-9_-]", "_", f"{turn}_{name}_{nth}")


def _tool_in(answer: dict, pending: dict) -> dict:
    response = answer.get("response")
    if isinstance(response, dict) and response.keys() == {"content"} and isinstance(response["content"], str):
        text = response["content"]
    else:
        text = orjson.dumps(response).decode()
    name = answer.get("name")
    calls = pending.get(name if isinstance(name, str) else None) or []
    call_id = answer.get("id")
    if call_id in calls:
        calls.remove(call_id)
    elif call_id is None and calls:
        call_id = calls.pop(0)  # the first call of this function not answered yet
    elif call_id is None:
        call_id = "call_" + re.sub(r"[^A-Za-z0-9_-]", "_", str(answer.get("name")))  # answers no call
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _content_in(parts: list, at: str, ctx: Context, indexes: list | None = None):
    """The OpenAI content for Gemini parts: a string for one text part, else a list of parts."""
    if len(parts) == 1 and isinstance(parts[0], dict) and parts[0].keys() == {"text"}:
        return parts[0]["text"]
    out = []
    for i, part in zip(indexes or range(len(parts)), parts, strict=True):
        path = child(at, i)
        part = {camel(k): v for k, v in part.items()} if isinstance(part, dict) else {}
        if _thought(part, path, ctx):
            continue
        if "text" in part:
            leftover(part, {"text", *SIGNATURE}, path, ctx, "an OpenAI text part")
            out.append({"type": "text", "text": part["text"]})
        elif isinstance(part.get("inlineData"), dict):
            leftover(part, {"inlineData", *SIGNATURE}, path, ctx, "an OpenAI content part")
            out.extend(_inline_in(part["inlineData"], child(path, "inlineData"), ctx))
        elif isinstance(part.get("fileData"), dict):
            leftover(part, {"fileData", *SIGNATURE}, path, ctx, "an OpenAI content part")
            out.extend(_file_uri_in(part["fileData"], child(path, "fileData"), ctx))
        else:
            ctx.unsupported(path, "an OpenAI message holds text, images and inline files only")
    return out


SIGNATURE = ("thoughtSignature",)  # the model's signature on a part it wrote, for its next turn
BLOB_FIELDS = frozenset({"mimeType", "data", "displayName"})
FILE_FIELDS = frozenset({"mimeType", "fileUri", "displayName"})


def _thought(part: dict, at: str, ctx: Context) -> bool:
    """Whether `part` is the model's thinking, which an OpenAI message has no place for (left out, and
    listed); a thought signature on another part is left out and listed too."""
    if part.get("thought") is True:
        ctx.leave_out(at, "a thought part (the model's own thinking): an OpenAI message has no place for it")
        return True
    if "thought" in part:
        ctx.unsupported(child(at, "thought"), "an OpenAI message part has no `thought`")
    for key in SIGNATURE:
        if key in part:
            ctx.leave_out(child(at, key), "a thought signature: an OpenAI message has no place for it")
    return False


def _inline_in(blob: dict, at: str, ctx: Context) -> list:
    """Inline bytes: an image part for an image type, else a file part (a data URL), its name the file's."""
    blob = {camel(k): v for k, v in blob.items()}
    leftover(blob, BLOB_FIELDS, at, ctx, "an OpenAI content part")
    mime, data, name = blob.get("mimeType"), blob.get("data"), blob.get("displayName")
    if not (isinstance(mime, str) and mime.startswith("image/")):
        return [file_part(mime, data, name)]
    if name is not None:
        ctx.unsupported(child(at, "displayName"), "an OpenAI image part has no name")
    return [{"type": "image_url", "image_url": {"url": data_url(mime, data)}}]


def _file_uri_in(file: dict, at: str, ctx: Context) -> list:
    """A file by URI: an image part for an image (by its type, else its URL's extension); an OpenAI chat
    request takes other files as inline data only (a `file` part's data URL), so those are reported."""
    file = {camel(k): v for k, v in file.items()}
    leftover(file, FILE_FIELDS, at, ctx, "an OpenAI content part")
    uri, mime = file.get("fileUri"), file.get("mimeType")
    if mime is None and isinstance(uri, str):
        mime = _url_image_type(uri)
    if not (isinstance(mime, str) and mime.startswith("image/")):
        ctx.unsupported(
            at,
            f"an OpenAI chat request takes a file by URI only as an image, not {mime or 'a file of no type'}",
        )
        return []
    if "displayName" in file:
        ctx.unsupported(child(at, "displayName"), "an OpenAI image part has no name")
    return [{"type": "image_url", "image_url": {"url": uri}}]


def _config_in(config, body: dict, at: str, ctx: Context) -> None:
    if not isinstance(config, dict):
        return
    config = {camel(k): v for k, v in config.items()}
    handled = {"maxOutputTokens", "stopSequences", "responseMimeType", "responseSchema", *CONFIG_IN}
    leftover(config, handled, at, ctx, "an OpenAI chat request")
    if "maxOutputTokens" in config:
        body["max_completion_tokens"] = config["maxOutputTokens"]
    if "stopSequences" in config:
        body["stop"] = config["stopSequences"]
    for name, key in CONFIG_IN.items():
        if name in config:
            body[key] = config[name]
    mime = config.get("responseMimeType")
    if mime == JSON and "responseSchema" in config:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {
                "name": SCHEMA_NAME,
                "schema": gemini_schema.from_gemini(config["responseSchema"]),
            },
        }
    elif mime == JSON:
        body["response_format"] = {"type": "json_object"}
    elif mime not in (None, "text/plain"):
        ctx.unsupported(child(at, "responseMimeType"), f"an OpenAI chat request cannot ask for {mime!r}")


def _function_in(declaration) -> dict:
    """A FunctionDeclaration as an OpenAI function: its parameters as JSON Schema (a `parametersJsonSchema`
    is one already)."""
    function = {camel(k): v for k, v in declaration.items()} if isinstance(declaration, dict) else {}
    schema = function.pop("parametersJsonSchema", None)
    if "parameters" in function:
        function["parameters"] = gemini_schema.from_gemini(function["parameters"])
    elif schema is not None:
        function["parameters"] = schema
    return function


def _tools_in(request: dict, body: dict, at: str, ctx: Context) -> None:
    tools = []
    for i, tool in enumerate(list_at(request, "tools")):
        tool = {camel(k): v for k, v in tool.items()} if isinstance(tool, dict) else {}
        leftover(tool, {"functionDeclarations"}, child(at, "tools", i), ctx, "an OpenAI chat request")
        for declaration in list_at(tool, "functionDeclarations"):
            tools.append({"type": "function", "function": _function_in(declaration)})
    if tools:
        body["tools"] = tools
    config = {camel(k): v for k, v in dict_at(request, "toolConfig").items()}
    calling = {camel(k): v for k, v in dict_at(config, "functionCallingConfig").items()}
    if not calling:
        return
    names, mode = calling.get("allowedFunctionNames"), calling.get("mode")
    if mode == "ANY" and isinstance(names, list) and len(names) == 1:
        body["tool_choice"] = {"type": "function", "function": {"name": names[0]}}
    elif isinstance(mode, str) and mode in MODES_IN and not names:
        body["tool_choice"] = MODES_IN[mode]
    else:
        ctx.unsupported(child(at, "toolConfig"), "an OpenAI chat request has no such tool_choice")
