"""The format layer: every line format batchkit reads and writes, one `Dialect` class each, and the one
`Request` record every job sees. A request line is read here and nowhere else.

    openai       {custom_id, method, url, body}         OpenAI, Azure, kluster.ai, Groq, Doubleword, vLLM
    anthropic    {custom_id, params}                    Anthropic Message Batches
    gemini       {key, request}                         Gemini API batch mode
    vertex       {request}                              Vertex AI batch prediction
    bedrock      {recordId, modelInput}                 AWS Bedrock batch inference
    custom-body  {custom_id, body}                      Mistral, Together, Fireworks

Conversion between them goes through an OpenAI chat body (`chat.Chat`); result lines of every format read
as the OpenAI output line (`result_line`).
"""

from __future__ import annotations

from .base import LINE_ID, REPEAT_SEPARATORS, Dialect, Request
from .chat import Chat, Context
from .custom_body import SYNONYMS
from .detect import detect_stream
from .reading import read_requests, requests_of
from .registry import DIALECTS, OPENAI, detect, get_dialect, is_result_line, result_line
from .results import unrun_line

__all__ = [
    "DIALECTS",
    "LINE_ID",
    "OPENAI",
    "REPEAT_SEPARATORS",
    "Chat",
    "Context",
    "Dialect",
    "Request",
    "SYNONYMS",
    "detect",
    "detect_stream",
    "get_dialect",
    "is_result_line",
    "read_requests",
    "requests_of",
    "result_line",
    "unrun_line",
]
