"""Structured output for built requests: a JSON Schema (a file, or a pydantic model's schema) becomes the
request's strict `json_schema` response format — `response_format` on chat requests, `text.format` on
Responses requests — made strict-valid first (`validate.strict.strict_schema`).

`response_schema()` returns the body field to set and the repairs made, so the caller can say what was
added; a schema the repairs cannot make strict-valid (an unsupported keyword, a root that is not an object,
a limit) raises `ValidationFailed` with the strict-mode findings, since fixing those would mean guessing.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, field

from ..errors import UsageError, ValidationFailed
from ..findings import Finding, Report
from ..validate import check_strict_schema, strict_repairs, strict_schema
from .templates import load_json_object

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RESPONSES = "/v1/responses"


@dataclass
class ResponseSchema:
    """The field a request body gets (`{"response_format": …}` or `{"text": {"format": …}}`), the schema's
    name, and the repairs strict mode needed (JSON Pointers inside the schema, with what was added)."""

    fields: dict
    name: str
    repairs: list[str] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)  # keywords strict mode may not accept


def schema_name(text: str) -> str:
    """`text` made to fit `^[A-Za-z0-9_-]{1,64}$`: other characters become `_`, cut at 64, never empty."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64]
    return name or "response"


def load_schema_file(path: str | os.PathLike) -> dict:
    """A JSON Schema file as a dict; InputError when it cannot be read or is not a JSON object."""
    return load_json_object(path, "--response-schema", "a response schema")


def model_schema(spec: str) -> tuple[dict, str]:
    """(JSON Schema, class name) of a pydantic model named `module:Class`."""
    module_name, sep, class_name = spec.partition(":")
    if not sep or not module_name or not class_name:
        raise UsageError(f"{spec!r}: name the model as module:Class (for example myapp.schemas:Review)")
    try:
        import pydantic
    except ImportError:
        raise UsageError(
            "a pydantic model needs pydantic installed (pip install pydantic); or write the model's JSON "
            "Schema to a file and pass that instead"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UsageError(f"{spec!r}: cannot import {module_name!r} ({e})") from None
    model = getattr(module, class_name, None)
    if not (isinstance(model, type) and issubclass(model, pydantic.BaseModel)):
        raise UsageError(f"{spec!r}: {module_name} has no pydantic model named {class_name!r}")
    return model.model_json_schema(), class_name


def response_schema(schema: dict, name: str, endpoint: str) -> ResponseSchema:
    """The strict json_schema response format for requests to `endpoint`, with the schema made strict-valid.
    ValidationFailed (with the findings) when strict mode would still reject it."""
    if not NAME_PATTERN.match(name):
        raise UsageError(f"schema name {name!r} must match ^[A-Za-z0-9_-]{{1,64}}$")
    fixed = strict_schema(schema)
    report = Report(file="<response schema>", provider="openai")
    check_strict_schema(fixed, None, (), report.add)
    if not report.valid:
        raise ValidationFailed(
            "the response schema cannot be made valid for strict mode without guessing; change it as the "
            "findings say",
            report,
        )
    spec = {"name": name, "strict": True, "schema": fixed}
    if endpoint.rstrip("/").endswith("/responses"):
        fields = {"text": {"format": {"type": "json_schema", **spec}}}
    else:
        fields = {"response_format": {"type": "json_schema", "json_schema": spec}}
    return ResponseSchema(fields, name, strict_repairs(schema, fixed), list(report.findings))
