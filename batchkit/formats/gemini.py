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
from .base import Dialect
from .chat import (
    CHAT,
    SYSTEM_ROLES,
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
    text_of,
    tool_arguments,
)

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
    content = message.get("content")
    text = text_of(content) if isinstance(content, (str, list)) else ""
    return {"functionResponse": {"id": call_id, "name": names.get(call_id), "response": {"content": text}}}


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
    for i, content in enumerate(list_at(request, "contents")):
        messages.extend(_message_in(content, child(at, "contents", i), ctx))
    body["messages"] = messages
    _config_in(request.get("generationConfig"), body, child(at, "generationConfig"), ctx)
    _tools_in(request, body, at, ctx)
    return body


def _message_in(content, at: str, ctx: Context) -> list:
    if not isinstance(content, dict):
        ctx.unsupported(at, "a content must be an object")
        return []
    parts = parts_of(content)
    if content.get("role", "user") == "model":
        texts, calls = [], []
        for i, part in enumerate(parts):
            call = part.get("functionCall") if isinstance(part, dict) else None
            if isinstance(call, dict):
                arguments = orjson.dumps(call.get("args", {})).decode()
                call_id = call.get("id") or f"call_{call.get('name')}"
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": call.get("name"), "arguments": arguments},
                    }
                )
            elif isinstance(part, dict) and "text" in part:
                texts.append(part["text"])
            else:
                ctx.unsupported(
                    child(at, "parts", i), "an OpenAI assistant message holds text and tool calls only"
                )
        message = {"role": "assistant", "content": "".join(texts) if texts else None}
        return [message | {"tool_calls": calls}] if calls else [message]
    out = []
    others = []
    for i, part in enumerate(parts):
        answer = part.get("functionResponse") if isinstance(part, dict) else None
        if isinstance(answer, dict):
            out.append(_tool_in(answer))
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


def _tool_in(answer: dict) -> dict:
    response = answer.get("response")
    if isinstance(response, dict) and response.keys() == {"content"} and isinstance(response["content"], str):
        text = response["content"]
    else:
        text = orjson.dumps(response).decode()
    call_id = answer.get("id") or f"call_{answer.get('name')}"
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def _content_in(parts: list, at: str, ctx: Context, indexes: list | None = None):
    """The OpenAI content for Gemini parts: a string for one text part, else a list of parts."""
    if len(parts) == 1 and isinstance(parts[0], dict) and parts[0].keys() == {"text"}:
        return parts[0]["text"]
    out = []
    for i, part in zip(indexes or range(len(parts)), parts, strict=True):
        path = child(at, i)
        if isinstance(part, dict) and "text" in part:
            leftover(part, {"text"}, path, ctx, "an OpenAI text part")
            out.append({"type": "text", "text": part["text"]})
        elif isinstance(part, dict) and isinstance(part.get("inlineData", part.get("inline_data")), dict):
            inline = {camel(k): v for k, v in part.get("inlineData", part.get("inline_data")).items()}
            mime, data = inline.get("mimeType"), inline.get("data")
            if isinstance(mime, str) and mime.startswith("image/"):
                out.append({"type": "image_url", "image_url": {"url": data_url(mime, data)}})
            else:
                out.append(file_part(mime, data))
        elif isinstance(part, dict) and isinstance(part.get("fileData", part.get("file_data")), dict):
            uri = {camel(k): v for k, v in part.get("fileData", part.get("file_data")).items()}.get("fileUri")
            out.append({"type": "image_url", "image_url": {"url": uri}})
        else:
            ctx.unsupported(path, "an OpenAI message holds text and images only")
    return out


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
