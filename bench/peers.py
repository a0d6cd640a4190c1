"""What a user would pick instead of `batchkit validate`, each as a callable over one file, for bench_peers.

- openbatch: its own `validate_batch_file` (PyPI `openbatch`).
- pydantic, as vLLM's `run_batch` reads a batch: every line through `BatchRequestInput.model_validate_json`.
  The models below are a RECONSTRUCTION written for this benchmark — the field names and types vLLM declares
  for a batch line and a chat body, not vLLM's code — so that the cost and the coverage of "parse each line
  into typed models" can be measured without installing vLLM.
- check-jsonschema, run over each line (one instance file per line) with batchkit's own schemas.

Each `check_*` returns the set of line numbers it reported an error on, so the same function measures speed
(on a big file) and coverage (on the file of planted mistakes).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

ROOT = Path(__file__).resolve().parent.parent


def check_openbatch(path: Path) -> set[int]:
    from openbatch.validation import validate_batch_file

    result = validate_batch_file(path, strict=False)
    return {int(m.group(1)) for e in result.errors if (m := re.match(r"Line (\d+):", e))}


def _vllm_models():
    from pydantic import BaseModel, ConfigDict, Field

    class Function(BaseModel):
        name: str
        description: str | None = None
        parameters: dict[str, Any] | None = None

    class Tool(BaseModel):
        type: Literal["function"] = "function"
        function: Function

    class Message(BaseModel):
        model_config = ConfigDict(extra="allow")
        role: Literal["system", "developer", "user", "assistant", "tool"]
        content: str | list[dict[str, Any]] | None = None
        name: str | None = None
        tool_call_id: str | None = None
        tool_calls: list[dict[str, Any]] | None = None

    class ChatCompletionRequest(BaseModel):
        model_config = ConfigDict(extra="allow")  # vLLM accepts its sampling extras beside OpenAI's fields
        messages: list[Message]
        model: str | None = None
        frequency_penalty: float | None = 0.0
        logit_bias: dict[str, float] | None = None
        logprobs: bool | None = False
        top_logprobs: int | None = 0
        max_tokens: int | None = None
        max_completion_tokens: int | None = None
        n: int | None = 1
        presence_penalty: float | None = 0.0
        response_format: dict[str, Any] | None = None
        seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = None
        stop: str | list[str] | None = None
        stream: bool | None = False
        temperature: float | None = None
        top_p: float | None = None
        tools: list[Tool] | None = None
        tool_choice: str | dict[str, Any] | None = "none"
        user: str | None = None

    class EmbeddingRequest(BaseModel):
        model_config = ConfigDict(extra="allow")
        input: str | list[str] | list[int] | list[list[int]]
        model: str | None = None
        encoding_format: Literal["float", "base64"] = "float"
        dimensions: int | None = None
        user: str | None = None

    class BatchRequestInput(BaseModel):
        custom_id: str
        method: str
        url: str
        body: ChatCompletionRequest | EmbeddingRequest

    return BatchRequestInput


def check_pydantic_vllm(path: Path) -> set[int]:
    from pydantic import ValidationError

    model = _vllm_models()
    bad = set()
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                model.model_validate_json(raw)
            except ValidationError:
                bad.add(number)
    return bad


def check_jsonschema_per_line(path: Path, sample: int | None = None) -> set[int]:
    """check-jsonschema over the first `sample` lines (all when None), each line its own instance file."""
    schema = ROOT / "schemas" / "batch-request.schema.json"
    with tempfile.TemporaryDirectory(prefix="peers-cj-") as tmp, open(path, "rb") as f:
        names = {}
        for number, raw in enumerate(f, 1):
            if sample is not None and number > sample:
                break
            instance = Path(tmp) / f"line-{number}.json"
            instance.write_bytes(raw if raw.strip() else b"null")
            names[instance.name] = number
        done = subprocess.run(
            [str(Path(sys.executable).with_name("check-jsonschema")), "--schemafile", str(schema),
             "--base-uri", schema.as_uri(), "-o", "text", *sorted(str(Path(tmp) / n) for n in names)],
            capture_output=True, text=True,
        )  # fmt: skip
        output = done.stdout + done.stderr
    return {n for name, n in names.items() if re.search(rf"\b{re.escape(name)}(::|$)", output, re.MULTILINE)}


def check_batchkit(path: Path) -> set[int]:
    from batchkit import validate_file

    report = validate_file(path, "openai", jobs=1)
    return {f.line for f in report.findings if f.is_error and f.line is not None}
