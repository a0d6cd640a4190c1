"""Line formats ("dialects") of the Batch APIs batchkit knows: detection from a parsed line, a line schema
each, conversion both ways through an OpenAI chat body, validation, and their result lines.

    openai       {custom_id, method, url, body}         OpenAI, Azure, kluster.ai, Groq, Doubleword, vLLM
    anthropic    {custom_id, params}                    Anthropic Message Batches
    gemini       {key, request}                         Gemini API batch mode
    vertex       {request}                              Vertex AI batch prediction
    bedrock      {recordId, modelInput}                 AWS Bedrock batch inference
    custom-body  {custom_id, body}                      Mistral, Together, Fireworks
"""

from __future__ import annotations

from types import ModuleType

from ..errors import UsageError
from . import anthropic, bedrock, custom_body, gemini, openai, vertex

# In detection order: the first whose `looks_like` accepts a line names its dialect.
DIALECTS: dict[str, ModuleType] = {
    m.NAME: m for m in (bedrock, anthropic, gemini, vertex, openai, custom_body)
}
OPENAI = openai.NAME


def get_dialect(name: str) -> ModuleType:
    try:
        return DIALECTS[name]
    except KeyError:
        raise UsageError(f"unknown dialect {name!r}; choose one of: {', '.join(sorted(DIALECTS))}") from None


def detect(obj) -> str | None:
    """The dialect a parsed line is written in, or None when it looks like none of them."""
    if type(obj) is not dict:
        return None
    for name, module in DIALECTS.items():
        if module.looks_like(obj):
            return name
    return None


def id_of(obj: dict, dialect: str):
    """A line's id under its dialect (Vertex's rides in the request's labels)."""
    module = get_dialect(dialect)
    return module.id_of(obj) if module.ID_FIELD is None else obj.get(module.ID_FIELD)


def id_pattern(dialect: str, provider) -> str | None:
    """The rule a line's id must meet: the provider's, else the dialect's own (Vertex: a label value)."""
    return provider.custom_id_pattern or getattr(get_dialect(dialect), "ID_PATTERN", None)


from .convert import Conversion, ConvertResult, convert_file, convert_request, read_id_map  # noqa: E402
from .results import manifest_notes  # noqa: E402
from .validate import copied_lines_rules  # noqa: E402

__all__ = [
    "DIALECTS",
    "OPENAI",
    "Conversion",
    "ConvertResult",
    "convert_file",
    "convert_request",
    "copied_lines_rules",
    "detect",
    "get_dialect",
    "id_of",
    "id_pattern",
    "manifest_notes",
    "read_id_map",
]
