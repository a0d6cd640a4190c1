"""What one request body puts before the model: the texts to count, the tokens known without counting,
and the parts no documented rule counts. One reader per endpoint; an endpoint without one is flagged.

Chat formatting follows OpenAI's documented counting (the cookbook "How to count tokens with tiktoken"):
3 tokens per message, 1 more per `name`, 3 to prime the reply; function tools follow its rule for them
(tools.py), images the tile rule where their size is known (images.py). Parts with no documented rule
(other tools, tool calls, Responses items) are counted as their JSON text and mark the request estimated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..formats import Request
from ..lines import dumps_json
from .images import image_tokens
from .tools import function_tools

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
# Output-token caps the API itself applies when a request names none ("stated defaults").
API_DEFAULT_MAX_OUTPUT = {"/v1/completions": 16, "/v1/embeddings": 0}
NOT_COUNTED_PARTS = {
    "image_url": "image",
    "input_image": "image",
    "input_audio": "audio",
    "file": "file",
    "input_file": "file",
}


@dataclass
class Prompt:
    model: str = ""
    texts: list[str] = field(default_factory=list)
    fixed: int = 0  # tokens known without a tokenizer: formatting overhead, token arrays
    estimated: bool = False
    not_counted: dict[str, int] = field(default_factory=dict)
    max_output: int | None = None  # the request's own output cap (× n choices); None when it has none

    def flag(self, kind: str) -> None:
        self.not_counted[kind] = self.not_counted.get(kind, 0) + 1

    def add_json(self, value) -> None:
        """A part with no documented counting rule: its JSON text, and the count becomes an estimate."""
        self.texts.append(dumps_json(value).decode())
        self.estimated = True


def prompt_of(request: Request) -> Prompt:
    """What a request of any format puts before the model, read from the OpenAI body that stands for it
    (its format's `openai_view`); a request with none is flagged, as an unknown endpoint is."""
    view = request.format.openai_view(request)
    if view is None:
        return read_prompt(request.endpoint or "", request.body)
    prompt = read_prompt(*view)
    if request.model is not None:
        prompt.model = request.model
    # a converted body is counted by OpenAI's formatting rules, which are not that format's own
    prompt.estimated |= view[1] is not request.body
    return prompt


def read_prompt(url: str, body: dict) -> Prompt:
    reader = READERS.get(url)
    model = body.get("model")
    prompt = Prompt(model if isinstance(model, str) else "")
    if reader is None:
        prompt.flag("endpoint")
        prompt.max_output = 0  # neither side of an endpoint this module cannot read is counted
        return prompt
    reader(body, prompt)
    prompt.max_output = _max_output(url, body)
    return prompt


def _count(value) -> int | None:
    """A count as JSON may write it: an integer, or a float that holds one (100.0, 1e300: a JSON Schema
    integer, as validation takes it)."""
    if type(value) is float and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if type(value) is int and value >= 0 else None


def _max_output(url: str, body: dict) -> int | None:
    for key in ("max_completion_tokens", "max_output_tokens", "max_tokens"):
        value = _count(body.get(key))
        if value is not None:
            break
    else:
        value = API_DEFAULT_MAX_OUTPUT.get(url)
    if value is None:
        return None
    choices = body.get("n")
    return value * choices if isinstance(choices, int) and choices > 1 else value


def _content(content, prompt: Prompt) -> None:
    if isinstance(content, str):
        prompt.texts.append(content)
    elif isinstance(content, list):
        for part in content:
            _part(part, prompt)
    elif content is not None:
        prompt.add_json(content)


def _part(part, prompt: Prompt) -> None:
    if not isinstance(part, dict):
        prompt.add_json(part)
        return
    kind = part.get("type")
    text = part.get("text", part.get("refusal"))
    if isinstance(text, str):
        prompt.texts.append(text)
    elif kind in ("image_url", "input_image") and _image(part, prompt):
        return
    elif type(kind) is str and kind in NOT_COUNTED_PARTS:
        prompt.flag(NOT_COUNTED_PARTS[kind])
    else:
        prompt.add_json(part)


def _image(part: dict, prompt: Prompt) -> bool:
    """Count an image by the tile rule when its size is known; False when it cannot be counted."""
    image = part.get("image_url")
    url, detail = (
        (image.get("url"), image.get("detail")) if isinstance(image, dict) else (image, part.get("detail"))
    )
    tokens, estimated = image_tokens(prompt.model, url, detail)
    if tokens is None:
        return False
    prompt.fixed += tokens
    prompt.estimated |= estimated
    return True


def _message(message, prompt: Prompt) -> None:
    prompt.fixed += TOKENS_PER_MESSAGE
    if not isinstance(message, dict):
        prompt.add_json(message)
        return
    for key, value in message.items():
        if key == "name":
            prompt.fixed += TOKENS_PER_NAME
        if key == "content":
            _content(value, prompt)
        elif isinstance(value, str):
            prompt.texts.append(value)
        elif value is not None:
            prompt.add_json(value)


def _tools(body: dict, prompt: Prompt) -> None:
    """Tool definitions and a structured-output schema (chat's response_format, Responses' text.format)."""
    counted = function_tools(body.get("tools"), prompt.model)
    if counted is not None:
        prompt.texts.extend(counted[0])
        prompt.fixed += counted[1]
    elif body.get("tools"):
        prompt.add_json(body["tools"])
    if body.get("functions"):
        prompt.add_json(body["functions"])
    for holder, key in ((body, "response_format"), (body.get("text"), "format")):
        value = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(value, dict) and value.get("type") == "json_schema":
            prompt.add_json(value)


def chat(body: dict, prompt: Prompt) -> None:
    """Messages, then tools (tools.py) and a structured-output schema."""
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        _message(message, prompt)
    prompt.fixed += REPLY_PRIMING
    _tools(body, prompt)


def responses(body: dict, prompt: Prompt) -> None:
    # The Responses API documents no formatting overhead; chat's is the nearest rule, so it is an estimate.
    prompt.estimated = True
    if isinstance(body.get("instructions"), str):
        _message({"role": "system", "content": body["instructions"]}, prompt)
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and "role" in item:
            _message(item, prompt)
        else:
            prompt.add_json(item)
    prompt.fixed += REPLY_PRIMING
    _tools(body, prompt)


def plain_inputs(value, prompt: Prompt) -> None:
    """Embeddings `input` / completions `prompt`: a string, strings, token ids or lists of token ids."""
    if isinstance(value, str):
        prompt.texts.append(value)
        return
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            prompt.texts.append(item)
        elif isinstance(item, int):
            prompt.fixed += 1
        elif isinstance(item, list):
            prompt.fixed += len(item)


READERS = {
    "/v1/chat/completions": chat,
    "/v1/responses": responses,
    "/v1/embeddings": lambda body, prompt: plain_inputs(body.get("input"), prompt),
    "/v1/completions": lambda body, prompt: plain_inputs(body.get("prompt"), prompt),
}
